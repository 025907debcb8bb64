//! `weft-sentry`: the certificate authority (Sentry role) of a Weft cluster, as a process.
//!
//! ```text
//! weft-sentry init --dir /etc/weft/ca                # once: ca.key + ca.crt (the trust bundle)
//! weft-sentry issue --dir /etc/weft/ca --app-id weft-placement --out /etc/weft/placement
//!     # a fixed certificate (tls.crt, tls.key) for placement, which cannot ask the Sentry itself
//! WEFT_JOIN_TOKEN=... weft-sentry serve --dir /etc/weft/ca --listen 0.0.0.0:50003 \
//!     --trust-domain cluster.local --ttl 24h
//! ```
//!
//! The join token comes from `--token-file FILE` or the `WEFT_JOIN_TOKEN` environment variable
//! (at least 16 characters); hosts send the same token. Logs go to stderr; `RUST_LOG` filters
//! them (default `info`; issuances and refusals are logged on target `weft::audit`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use weft_placement::process;
use weft_placement::sentry::{
    CertificateAuthority, JoinToken, Sentry, SpiffeId, DEFAULT_TRUST_DOMAIN, ROOT_CERT_FILE,
};

/// Weft Sentry: issues short-lived SPIFFE workload certificates to hosts.
#[derive(Debug, Parser)]
#[command(name = "weft-sentry", version)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Creates a root key (ca.key, mode 0600) and certificate (ca.crt, the trust bundle) in DIR.
    Init {
        /// The CA directory; created if missing. An existing CA is never overwritten.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Issues a certificate + key (OUT/tls.crt, OUT/tls.key) for a process that cannot ask the
    /// Sentry itself, such as `weft-placement --tls-cert`.
    Issue {
        /// The CA directory made by `init`.
        #[arg(long)]
        dir: PathBuf,
        /// Where to write tls.crt and tls.key (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Trust domain of the SPIFFE id.
        #[arg(long, default_value = DEFAULT_TRUST_DOMAIN)]
        trust_domain: String,
        /// Namespace of the SPIFFE id.
        #[arg(long, default_value = "weft-system")]
        namespace: String,
        /// App id of the SPIFFE id.
        #[arg(long)]
        app_id: String,
        /// Lifetime of the certificate.
        #[arg(long, default_value = "720h", value_parser = humantime::parse_duration)]
        ttl: Duration,
    },
    /// Serves the signing service with the CA in DIR.
    Serve {
        /// The CA directory made by `init`.
        #[arg(long)]
        dir: PathBuf,
        /// gRPC (TLS) address hosts connect to.
        #[arg(long, default_value = "127.0.0.1:50003")]
        listen: SocketAddr,
        /// Trust domain of the SPIFFE ids issued.
        #[arg(long, default_value = DEFAULT_TRUST_DOMAIN)]
        trust_domain: String,
        /// Lifetime of workload certificates (e.g. `24h`, `10m`).
        #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
        ttl: Duration,
        /// A file holding the join token; without it, `WEFT_JOIN_TOKEN` is read.
        #[arg(long)]
        token_file: Option<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(error) = process::init_logging() {
        eprintln!("weft-sentry: cannot set up logging: {error}");
        return ExitCode::FAILURE;
    }
    match run(args.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "weft-sentry failed");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Init { dir } => {
            CertificateAuthority::init(&dir).map_err(|e| e.to_string())?;
            println!(
                "CA created; give {} to every host as its trust bundle",
                dir.join(ROOT_CERT_FILE).display()
            );
            Ok(())
        }
        Command::Issue {
            dir,
            out,
            trust_domain,
            namespace,
            app_id,
            ttl,
        } => {
            let id = SpiffeId::new(trust_domain, namespace, app_id).map_err(|e| e.to_string())?;
            let ca = CertificateAuthority::load(&dir).map_err(|e| e.to_string())?;
            let (cert, key) = ca.issue_key_and_cert(&id, ttl).map_err(|e| e.to_string())?;
            std::fs::create_dir_all(&out)
                .map_err(|e| format!("cannot create {}: {e}", out.display()))?;
            std::fs::write(out.join("tls.crt"), cert)
                .map_err(|e| format!("cannot write tls.crt: {e}"))?;
            write_key(&out.join("tls.key"), &key)?;
            println!(
                "{id}: {} and tls.key, valid {ttl:?}",
                out.join("tls.crt").display()
            );
            Ok(())
        }
        Command::Serve {
            dir,
            listen,
            trust_domain,
            ttl,
            token_file,
        } => {
            let token = match token_file {
                Some(path) => std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
                None => std::env::var("WEFT_JOIN_TOKEN").map_err(|_| {
                    "no join token: pass --token-file FILE or set WEFT_JOIN_TOKEN".to_owned()
                })?,
            };
            let token = JoinToken::new(token)?;
            let ca = CertificateAuthority::load(&dir).map_err(|e| e.to_string())?;
            let sentry = Sentry::builder(ca, token)
                .trust_domain(trust_domain)
                .ttl(ttl)
                .listen(listen)
                .start()
                .await
                .map_err(|e| e.to_string())?;
            process::shutdown_signal().await;
            sentry.shutdown().await;
            Ok(())
        }
    }
}

/// Writes a private key readable by its owner only.
fn write_key(path: &std::path::Path, key: &str) -> Result<(), String> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .and_then(|mut f| f.write_all(key.as_bytes()))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}
