//! `weft-placement`: the placement service as a process.
//!
//! ```text
//! weft-placement --listen 0.0.0.0:50005 --http 0.0.0.0:8080 --faulty-host-timeout 5s
//! ```
//!
//! Logs go to stderr; `RUST_LOG` filters them (default `info`). SIGTERM or Ctrl-C shuts down
//! gracefully: host streams are closed and connections drained.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use weft_placement::{process, PlacementConfig, PlacementServer};

/// Weft placement service: consistent-hash actor placement and table dissemination.
#[derive(Debug, Parser)]
#[command(name = "weft-placement", version)]
struct Args {
    /// gRPC address hosts connect to.
    #[arg(long, default_value = "127.0.0.1:50005")]
    listen: SocketAddr,
    /// HTTP address for /healthz and /placement/state.
    #[arg(long, default_value = "127.0.0.1:8080")]
    http: SocketAddr,
    /// Virtual nodes per host on each actor type's ring.
    #[arg(long, default_value_t = 100)]
    replication_factor: u32,
    /// Remove a host that sends nothing for this long (e.g. `5s`, `500ms`).
    #[arg(
        long,
        visible_alias = "heartbeat-timeout",
        default_value = "5s",
        value_parser = humantime::parse_duration
    )]
    faulty_host_timeout: Duration,
    /// Evict a host that does not acknowledge a round's phase within this long.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    ack_timeout: Duration,
    /// Disseminate membership changes arriving within this window in one round.
    #[arg(long, default_value = "50ms", value_parser = humantime::parse_duration)]
    coalesce_window: Duration,
    /// Longest a host holds calls during a round before unlocking by itself.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    lock_timeout: Duration,
    /// After start, disseminate no table for this long: leases granted by a previous placement
    /// process run out and hosts re-register first. Default: the faulty-host timeout. `0s` only
    /// for a cluster's very first start.
    #[arg(long, value_parser = humantime::parse_duration)]
    startup_grace: Option<Duration>,
    /// Serve hosts over mutual TLS with this certificate (PEM, e.g. from `weft-sentry issue`);
    /// needs --tls-key and --trust-bundle. Without it: plain text.
    #[arg(long, requires_all = ["tls_key", "trust_bundle"])]
    tls_cert: Option<std::path::PathBuf>,
    /// The key of --tls-cert (PEM).
    #[arg(long)]
    tls_key: Option<std::path::PathBuf>,
    /// The trust bundle hosts' certificates must chain to (the Sentry's ca.crt).
    #[arg(long)]
    trust_bundle: Option<std::path::PathBuf>,
    /// The trust domain hosts' SPIFFE ids must belong to.
    #[arg(long, default_value = weft_placement::sentry::DEFAULT_TRUST_DOMAIN)]
    trust_domain: String,
    /// The most actor types one host may register.
    #[arg(long, default_value_t = 1024)]
    max_actor_types_per_host: usize,
    /// The longest app id, namespace or actor type name a host may register, in bytes.
    #[arg(long, default_value_t = 1024)]
    max_name_bytes: usize,
    /// The longest address a host may register, in bytes.
    #[arg(long, default_value_t = 512)]
    max_address_bytes: usize,
    #[command(flatten)]
    http_limits: weft_http::LimitFlags,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(error) = process::init_logging() {
        eprintln!("weft-placement: cannot set up logging: {error}");
        return ExitCode::FAILURE;
    }

    let mut config = PlacementConfig::default()
        .replication_factor(args.replication_factor)
        .faulty_host_timeout(args.faulty_host_timeout)
        .ack_timeout(args.ack_timeout)
        .coalesce_window(args.coalesce_window)
        .lock_timeout(args.lock_timeout)
        .max_actor_types_per_host(args.max_actor_types_per_host)
        .max_name_bytes(args.max_name_bytes)
        .max_address_bytes(args.max_address_bytes);
    config.startup_grace = args.startup_grace;
    let mut server = PlacementServer::builder()
        .config(config)
        .grpc_addr(args.listen)
        .http_addr(args.http)
        .http_limits(weft_http::Limits::from(&args.http_limits));
    if let (Some(cert), Some(key), Some(bundle)) =
        (&args.tls_cert, &args.tls_key, &args.trust_bundle)
    {
        let read = |p: &std::path::Path| {
            std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
        };
        let tls = read(cert).and_then(|c| {
            let k = read(key)?;
            let b = read(bundle)?;
            weft_placement::sentry::verify::mtls_server_config(&c, &k, &b, &args.trust_domain)
                .map_err(|e| e.to_string())
        });
        match tls {
            Ok(tls) => server = server.tls(tls),
            Err(error) => {
                tracing::error!(%error, "placement failed");
                return ExitCode::FAILURE;
            }
        }
    }
    let served = server.serve_with_shutdown(shutdown_signal()).await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "placement failed");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM, and says so (the drain that follows may take a while).
async fn shutdown_signal() {
    process::shutdown_signal().await;
    tracing::info!("shutdown signal received");
}
