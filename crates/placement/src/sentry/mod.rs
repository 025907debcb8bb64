//! The Sentry: a small certificate authority issuing short-lived workload certificates.
//!
//! Modelled on Dapr's Sentry. An operator creates the CA once ([`CertificateAuthority::init`],
//! or `weft-sentry init --dir DIR`): a root key (`ca.key`) and a self-signed root certificate
//! (`ca.crt`, the *trust bundle* every host is given). The Sentry then serves one gRPC call
//! over TLS, `SignCertificate` ([`proto`]): a host sends a PKCS#10 certificate signing request,
//! the operator's [`JoinToken`], its namespace and app id, and gets back a certificate whose
//! only name is the URI SAN `spiffe://<trust domain>/ns/<namespace>/<app id>` ([`SpiffeId`]),
//! valid for the Sentry's TTL (default 24 h). Hosts renew at about 70% of the lifetime.
//!
//! The Sentry serves with a certificate it signs for itself,
//! `spiffe://<trust domain>/ns/weft-system/weft-sentry`, so hosts check it with the trust
//! bundle before sending the token.
//!
//! # Why a shared join token
//!
//! It is the simplest credential an operator can hand out (a file or an environment
//! variable), and it is enough where the hosts are the operator's own processes. Its limit is
//! that a token holder can ask for *any* app id of the trust domain: platforms that can attest
//! workloads (Kubernetes service-account tokens, say) should replace it.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use weft_placement::sentry::{CertificateAuthority, JoinToken, Sentry};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), weft_placement::Error> {
//! let ca = CertificateAuthority::generate()?;
//! let token = JoinToken::new("a-long-enough-shared-secret").unwrap();
//! let sentry = Sentry::builder(ca, token)
//!     .trust_domain("example.org")
//!     .ttl(Duration::from_secs(3600))
//!     .listen("127.0.0.1:0".parse().unwrap())
//!     .start()
//!     .await?;
//! println!("sentry on {}", sentry.local_addr());
//! sentry.shutdown().await;
//! # Ok(())
//! # }
//! ```

// Without the `sentry` feature only the SPIFFE id (and the names below) remain: what hosts
// need to name each other without TLS.
#[cfg(feature = "sentry")]
mod ca;
#[cfg(feature = "sentry")]
mod server;
mod spiffe;
#[cfg(feature = "sentry")]
mod token;
#[cfg(feature = "sentry")]
pub mod verify;

#[cfg(feature = "sentry")]
use std::net::SocketAddr;
#[cfg(feature = "sentry")]
use std::sync::Arc;
#[cfg(feature = "sentry")]
use std::time::Duration;

#[cfg(feature = "sentry")]
use tokio_util::sync::CancellationToken;

#[cfg(feature = "sentry")]
pub use ca::{pem_certificates, CertificateAuthority, Issued, ROOT_CERT_FILE, ROOT_KEY_FILE};
pub use spiffe::{SpiffeId, SpiffeIdError};
#[cfg(feature = "sentry")]
pub use token::JoinToken;

#[cfg(feature = "sentry")]
use crate::error::{Error, ErrorKind};

/// The Sentry protocol (`weft.sentry.v1`), generated from `proto/weft/sentry/v1/sentry.proto`.
#[cfg(feature = "sentry")]
#[allow(
    missing_docs,
    unreachable_pub,
    clippy::all,
    clippy::pedantic,
    missing_debug_implementations
)]
pub mod proto {
    tonic::include_proto!("weft.sentry.v1");
}

/// The default TTL of workload certificates: 24 hours.
#[cfg(feature = "sentry")]
pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 3600);
/// The default trust domain.
pub const DEFAULT_TRUST_DOMAIN: &str = "cluster.local";
/// The default gRPC address of the Sentry.
#[cfg(feature = "sentry")]
pub const DEFAULT_SENTRY_ADDR: &str = "127.0.0.1:50003";
/// The namespace of the Sentry's own identity.
pub const SYSTEM_NAMESPACE: &str = "weft-system";
/// The app id of the Sentry's own identity.
pub const SENTRY_APP_ID: &str = "weft-sentry";
/// How long the Sentry's own serving certificate is valid.
#[cfg(feature = "sentry")]
const SERVING_TTL: Duration = Duration::from_secs(365 * 24 * 3600);

/// Starts a [`Sentry`].
#[cfg(feature = "sentry")]
#[derive(Debug)]
pub struct SentryBuilder {
    ca: Arc<CertificateAuthority>,
    token: JoinToken,
    trust_domain: String,
    ttl: Duration,
    listen: SocketAddr,
}

/// The Sentry service; see the [module docs](self).
#[cfg(feature = "sentry")]
#[derive(Debug)]
pub struct Sentry {
    local_addr: SocketAddr,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

#[cfg(feature = "sentry")]
impl Sentry {
    /// A builder signing with `ca` for hosts that show `token`.
    pub fn builder(ca: impl Into<Arc<CertificateAuthority>>, token: JoinToken) -> SentryBuilder {
        SentryBuilder {
            ca: ca.into(),
            token,
            trust_domain: DEFAULT_TRUST_DOMAIN.to_owned(),
            ttl: DEFAULT_TTL,
            listen: DEFAULT_SENTRY_ADDR
                .parse()
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 50003))),
        }
    }

    /// The address the Sentry listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops serving and waits for the server task.
    pub async fn shutdown(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

#[cfg(feature = "sentry")]
impl SentryBuilder {
    /// The trust domain of the SPIFFE ids it issues. Default: `cluster.local`.
    pub fn trust_domain(mut self, trust_domain: impl Into<String>) -> Self {
        self.trust_domain = trust_domain.into();
        self
    }

    /// How long workload certificates are valid. Default: 24 h.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The gRPC address. Default: `127.0.0.1:50003`.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Binds and serves.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] for an invalid trust domain or a TTL under one second,
    /// [`ErrorKind::Bind`] when the address cannot be bound, [`ErrorKind::Security`] when the
    /// serving certificate cannot be made.
    pub async fn start(self) -> Result<Sentry, Error> {
        if self.ttl < Duration::from_secs(1) {
            return Err(Error::msg(
                ErrorKind::Config,
                format!("`ttl` is {:?}; must be at least 1s", self.ttl),
            ));
        }
        let own_id = SpiffeId::new(&self.trust_domain, SYSTEM_NAMESPACE, SENTRY_APP_ID)
            .map_err(|e| Error::new(ErrorKind::Config, "invalid `trust_domain`", e))?;
        let (cert_pem, key_pem) = self.ca.issue_key_and_cert(&own_id, SERVING_TTL)?;
        let listener = tokio::net::TcpListener::bind(self.listen)
            .await
            .map_err(|e| Error::new(ErrorKind::Bind, format!("cannot bind {}", self.listen), e))?;
        let local_addr = listener
            .local_addr()
            .map_err(|e| Error::new(ErrorKind::Bind, "no local address", e))?;
        let tls = tonic::transport::ServerTlsConfig::new()
            .identity(tonic::transport::Identity::from_pem(cert_pem, key_pem));
        let mut server = tonic::transport::Server::builder()
            .tls_config(tls)
            .map_err(|e| Error::new(ErrorKind::Security, "bad serving TLS config", e))?;
        let service = proto::sentry_server::SentryServer::new(server::SigningService {
            ca: self.ca,
            token: self.token,
            trust_domain: self.trust_domain.clone(),
            ttl: self.ttl,
        });
        let stop = CancellationToken::new();
        let incoming =
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
        let router = server.add_service(service);
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            if let Err(e) = router
                .serve_with_incoming_shutdown(incoming, stopped.cancelled_owned())
                .await
            {
                tracing::error!(error = %e, "the sentry stopped");
            }
        });
        tracing::info!(address = %local_addr, trust_domain = %self.trust_domain,
            ttl = ?self.ttl, "sentry serving");
        Ok(Sentry {
            local_addr,
            stop,
            task,
        })
    }
}
