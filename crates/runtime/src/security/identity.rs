//! Workload identity: the host's SPIFFE certificate, fetched from the Sentry at start and
//! renewed at ~70% of its lifetime; and reading the SPIFFE id of a peer's certificate.

use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use weft_placement::sentry::proto::sentry_client::SentryClient;
use weft_placement::sentry::proto::SignRequest;
use weft_placement::sentry::verify::spiffe_id_of;
use weft_placement::sentry::{pem_certificates, SENTRY_APP_ID, SYSTEM_NAMESPACE};

use super::tls;
use super::SpiffeId;
use crate::error::{Error, ErrorKind};

/// The default trust domain (Dapr's and Kubernetes' `cluster.local`).
pub const DEFAULT_TRUST_DOMAIN: &str = "cluster.local";
/// The share of a certificate's lifetime after which it is renewed.
const RENEW_AT: f64 = 0.7;
/// The longest wait between two failed renewal attempts.
const MAX_RETRY: Duration = Duration::from_secs(30);
/// How long one request to the Sentry may take.
const SENTRY_TIMEOUT: Duration = Duration::from_secs(10);

/// How a host gets its workload certificate: where the Sentry is, which root to trust, and the
/// operator's join token.
///
/// # Examples
/// ```no_run
/// # async fn run() -> Result<(), weft_runtime::Error> {
/// use weft_runtime::security::{SecurityConfig, WorkloadIdentity};
///
/// let config = SecurityConfig::from_files("127.0.0.1:50003", "/etc/weft/ca/ca.crt",
///     "/etc/weft/join-token")?
///     .trust_domain("cluster.local");
/// let identity = WorkloadIdentity::fetch(&config, "shop", "cart").await?;
/// println!("I am {}", identity.spiffe_id());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SecurityConfig {
    sentry_address: String,
    trust_bundle_pem: String,
    token: String,
    trust_domain: String,
}

impl fmt::Debug for SecurityConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecurityConfig")
            .field("sentry_address", &self.sentry_address)
            .field("trust_domain", &self.trust_domain)
            .field("token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl SecurityConfig {
    /// The Sentry at `sentry_address` (`host:port`), the trust bundle (PEM, the Sentry's
    /// `ca.crt`) and the join token. Trust domain: `cluster.local`.
    pub fn new(
        sentry_address: impl Into<String>,
        trust_bundle_pem: impl Into<String>,
        token: impl Into<String>,
    ) -> Self {
        SecurityConfig {
            sentry_address: sentry_address.into(),
            trust_bundle_pem: trust_bundle_pem.into(),
            token: token.into().trim().to_owned(),
            trust_domain: DEFAULT_TRUST_DOMAIN.to_owned(),
        }
    }

    /// Like [`new`](Self::new), reading the bundle and the token from files.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] naming the file that cannot be read.
    pub fn from_files(
        sentry_address: impl Into<String>,
        trust_bundle: impl AsRef<Path>,
        token_file: impl AsRef<Path>,
    ) -> Result<Self, Error> {
        let read = |path: &Path| {
            std::fs::read_to_string(path).map_err(|e| {
                Error::new(
                    ErrorKind::InvalidArgument,
                    format!("cannot read {}: {e}", path.display()),
                )
            })
        };
        Ok(Self::new(
            sentry_address,
            read(trust_bundle.as_ref())?,
            read(token_file.as_ref())?,
        ))
    }

    /// The trust domain peers must belong to. Default: `cluster.local`; must be the Sentry's.
    pub fn trust_domain(mut self, trust_domain: impl Into<String>) -> Self {
        self.trust_domain = trust_domain.into();
        self
    }
}

fn not_after_of(cert: &CertificateDer<'_>) -> Option<SystemTime> {
    let (_, x509) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let secs = u64::try_from(x509.validity().not_after.timestamp()).ok()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

pub(crate) fn roots_of(bundle_pem: &str) -> Result<Arc<RootCertStore>, Error> {
    let bad = |why: String| Error::new(ErrorKind::InvalidArgument, why);
    let certs = pem_certificates(bundle_pem)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| bad("the trust bundle holds no PEM certificate".to_owned()))?;
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| bad(format!("bad certificate in the trust bundle: {e}")))?;
    }
    Ok(Arc::new(roots))
}

/// A host's workload identity: its current certificate and key (swapped in place at
/// renewal), the trust bundle, and the TLS configs built on them.
///
/// Give it to [`HostBuilder::security`](crate::HostBuilder::security); every host-to-host
/// connection of that host is then mutual TLS.
#[derive(Clone)]
pub struct WorkloadIdentity {
    inner: Arc<Inner>,
}

struct Inner {
    id: SpiffeId,
    current: Arc<ArcSwap<CertifiedKey>>,
    not_after: Mutex<SystemTime>,
    renewals: AtomicU64,
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
    renewer: Mutex<Option<tokio::task::AbortHandle>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Ok(mut renewer) = self.renewer.lock() {
            if let Some(task) = renewer.take() {
                task.abort();
            }
        }
    }
}

impl fmt::Debug for WorkloadIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkloadIdentity")
            .field("id", &self.inner.id.to_string())
            .field("not_after", &self.not_after())
            .finish_non_exhaustive()
    }
}

/// One signed certificate with its key.
struct Signed {
    key: CertifiedKey,
    id: SpiffeId,
    not_after: SystemTime,
    received: SystemTime,
}

/// Asks the Sentry to sign a fresh key for `namespace`/`app_id`.
async fn sign(
    config: &SecurityConfig,
    sentry_tls: Arc<ClientConfig>,
    namespace: &str,
    app_id: &str,
) -> Result<Signed, Error> {
    let unavailable = |what: String| Error::new(ErrorKind::Unavailable, what);
    let expected = SpiffeId::new(&config.trust_domain, namespace, app_id)
        .map_err(|e| Error::new(ErrorKind::InvalidArgument, e.to_string()))?;
    let key = rcgen::KeyPair::generate()
        .map_err(|e| Error::new(ErrorKind::Internal, format!("cannot generate a key: {e}")))?;
    let csr = rcgen::CertificateParams::default()
        .serialize_request(&key)
        .map_err(|e| Error::new(ErrorKind::Internal, format!("cannot build a CSR: {e}")))?;
    let endpoint =
        tonic::transport::Endpoint::from_shared(format!("http://{}", config.sentry_address))
            .map_err(|e| {
                Error::new(
                    ErrorKind::InvalidArgument,
                    format!("bad sentry address {:?}: {e}", config.sentry_address),
                )
            })?
            .connect_timeout(SENTRY_TIMEOUT)
            .timeout(SENTRY_TIMEOUT);
    let channel = endpoint
        .connect_with_connector(tls::TlsConnector::new(sentry_tls))
        .await
        .map_err(|e| {
            unavailable(format!(
                "cannot reach the sentry at {}: {}",
                config.sentry_address,
                crate::security::error_chain(&e)
            ))
        })?;
    let reply = SentryClient::new(channel)
        .sign_certificate(SignRequest {
            csr_der: csr.der().to_vec(),
            token: config.token.clone(),
            namespace: namespace.to_owned(),
            app_id: app_id.to_owned(),
        })
        .await
        .map_err(|status| {
            let kind = match status.code() {
                tonic::Code::Unauthenticated | tonic::Code::PermissionDenied => {
                    ErrorKind::PermissionDenied
                }
                tonic::Code::InvalidArgument => ErrorKind::InvalidArgument,
                _ => ErrorKind::Unavailable,
            };
            Error::new(
                kind,
                format!(
                    "the sentry at {} refused to sign: {}",
                    config.sentry_address,
                    status.message()
                ),
            )
        })?
        .into_inner();
    let chain: Vec<CertificateDer<'static>> = reply
        .cert_chain_der
        .into_iter()
        .map(CertificateDer::from)
        .collect();
    let leaf = chain
        .first()
        .ok_or_else(|| unavailable("the sentry sent no certificate".to_owned()))?;
    let id = spiffe_id_of(leaf)
        .filter(|id| *id == expected)
        .ok_or_else(|| unavailable(format!("the sentry's certificate does not name {expected}")))?;
    let not_after = not_after_of(leaf)
        .ok_or_else(|| unavailable("the sentry's certificate does not parse".to_owned()))?;
    let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let signing = rustls::crypto::ring::sign::any_supported_type(&private)
        .map_err(|e| Error::new(ErrorKind::Internal, format!("unusable key: {e}")))?;
    Ok(Signed {
        key: CertifiedKey::new(chain, signing),
        id,
        not_after,
        received: SystemTime::now(),
    })
}

/// When to renew a certificate received at `received` and valid until `not_after`.
fn renew_delay(received: SystemTime, not_after: SystemTime) -> Duration {
    not_after
        .duration_since(received)
        .unwrap_or_default()
        .mul_f64(RENEW_AT)
}

impl WorkloadIdentity {
    /// Gets a certificate for `app_id` in `namespace` from the Sentry, then keeps renewing it
    /// in the background at ~70% of its lifetime (retrying with backoff on failure) for as
    /// long as the identity, or a host using it, is alive. Must be called inside a tokio
    /// runtime.
    ///
    /// # Errors
    /// [`ErrorKind::Unavailable`] when the Sentry cannot be reached or answers oddly,
    /// [`ErrorKind::PermissionDenied`] when it refuses the join token,
    /// [`ErrorKind::InvalidArgument`] for a bad bundle, address, namespace or app id.
    pub async fn fetch(
        config: &SecurityConfig,
        namespace: &str,
        app_id: &str,
    ) -> Result<Self, Error> {
        let roots = roots_of(&config.trust_bundle_pem)?;
        let sentry_id = SpiffeId::new(&config.trust_domain, SYSTEM_NAMESPACE, SENTRY_APP_ID)
            .map_err(|e| Error::new(ErrorKind::InvalidArgument, e.to_string()))?;
        let sentry_tls = Arc::new(
            tls::client_config(
                Arc::clone(&roots),
                &config.trust_domain,
                None,
                Some(sentry_id),
            )
            .map_err(tls_error)?,
        );
        let first = sign(config, Arc::clone(&sentry_tls), namespace, app_id).await?;
        let identity = Self::build(
            roots,
            &config.trust_domain,
            first.id.clone(),
            first.key,
            first.not_after,
        )?;
        let delay = renew_delay(first.received, first.not_after);
        let task = tokio::spawn(renew(
            Arc::downgrade(&identity.inner),
            config.clone(),
            sentry_tls,
            namespace.to_owned(),
            app_id.to_owned(),
            delay,
        ));
        if let Ok(mut renewer) = identity.inner.renewer.lock() {
            *renewer = Some(task.abort_handle());
        }
        tracing::info!(spiffe_id = %identity.inner.id, renew_in = ?delay, "workload certificate received");
        Ok(identity)
    }

    /// A fixed identity from PEM texts (no Sentry, no renewal): for certificates from another
    /// PKI, and for tests.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] when a text does not parse or the certificate has no
    /// SPIFFE id.
    pub fn from_pem(
        cert_chain_pem: &str,
        key_pem: &str,
        trust_bundle_pem: &str,
        trust_domain: &str,
    ) -> Result<Self, Error> {
        use rustls::pki_types::pem::PemObject;
        let bad = |why: String| Error::new(ErrorKind::InvalidArgument, why);
        let roots = roots_of(trust_bundle_pem)?;
        let chain = pem_certificates(cert_chain_pem)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| bad("the certificate chain holds no PEM certificate".to_owned()))?;
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|e| bad(format!("bad private key: {e}")))?;
        let signing = rustls::crypto::ring::sign::any_supported_type(&key)
            .map_err(|e| bad(format!("unusable private key: {e}")))?;
        let leaf = &chain[0];
        let id = spiffe_id_of(leaf)
            .ok_or_else(|| bad("the certificate carries no SPIFFE id".to_owned()))?;
        let not_after =
            not_after_of(leaf).ok_or_else(|| bad("the certificate does not parse".to_owned()))?;
        Self::build(
            roots,
            trust_domain,
            id,
            CertifiedKey::new(chain, signing),
            not_after,
        )
    }

    fn build(
        roots: Arc<RootCertStore>,
        trust_domain: &str,
        id: SpiffeId,
        key: CertifiedKey,
        not_after: SystemTime,
    ) -> Result<Self, Error> {
        let current = Arc::new(ArcSwap::from_pointee(key));
        let server = tls::server_config(Arc::clone(&roots), trust_domain, Arc::clone(&current))
            .map_err(tls_error)?;
        let client = tls::client_config(roots, trust_domain, Some(Arc::clone(&current)), None)
            .map_err(tls_error)?;
        Ok(WorkloadIdentity {
            inner: Arc::new(Inner {
                id,
                current,
                not_after: Mutex::new(not_after),
                renewals: AtomicU64::new(0),
                server: Arc::new(server),
                client: Arc::new(client),
                renewer: Mutex::new(None),
            }),
        })
    }

    /// The SPIFFE id of the certificate.
    pub fn spiffe_id(&self) -> &SpiffeId {
        &self.inner.id
    }

    /// When the current certificate expires.
    pub fn not_after(&self) -> SystemTime {
        self.inner
            .not_after
            .lock()
            .map_or(SystemTime::UNIX_EPOCH, |t| *t)
    }

    /// How many times the certificate was renewed.
    pub fn renewals(&self) -> u64 {
        self.inner.renewals.load(Ordering::Relaxed)
    }

    /// The current certificate chain, leaf first.
    pub fn certificate_chain(&self) -> Vec<CertificateDer<'static>> {
        self.inner.current.load().cert.clone()
    }

    /// The TLS server config of this identity (TLS 1.3, client certificate of the trust domain
    /// required, the current certificate presented): for other servers to serve with the same
    /// identity, such as placement (`PlacementServer::tls` in weft-placement).
    pub fn tls_server_config(&self) -> Arc<ServerConfig> {
        self.server_config()
    }

    pub(crate) fn server_config(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.inner.server)
    }

    pub(crate) fn client_config(&self) -> Arc<ClientConfig> {
        Arc::clone(&self.inner.client)
    }
}

fn tls_error(e: rustls::Error) -> Error {
    Error::new(ErrorKind::Internal, format!("TLS configuration: {e}"))
}

/// The renewal loop: sleeps until ~70% of the lifetime, signs a fresh key, swaps it in.
async fn renew(
    identity: Weak<Inner>,
    config: SecurityConfig,
    sentry_tls: Arc<ClientConfig>,
    namespace: String,
    app_id: String,
    mut delay: Duration,
) {
    loop {
        tokio::time::sleep(delay).await;
        let mut retry = Duration::from_millis(200);
        loop {
            if identity.strong_count() == 0 {
                return;
            }
            match sign(&config, Arc::clone(&sentry_tls), &namespace, &app_id).await {
                Ok(signed) => {
                    let Some(inner) = identity.upgrade() else {
                        return;
                    };
                    inner.current.store(Arc::new(signed.key));
                    if let Ok(mut not_after) = inner.not_after.lock() {
                        *not_after = signed.not_after;
                    }
                    inner.renewals.fetch_add(1, Ordering::Relaxed);
                    delay = renew_delay(signed.received, signed.not_after);
                    tracing::info!(spiffe_id = %inner.id, renew_in = ?delay, "workload certificate renewed");
                    break;
                }
                Err(e) => {
                    // Retry well before expiry: at most half of the time left, at least 100 ms.
                    let left = identity
                        .upgrade()
                        .and_then(|i| i.not_after.lock().ok().map(|t| *t))
                        .and_then(|t| t.duration_since(SystemTime::now()).ok())
                        .unwrap_or_default();
                    let wait = retry.min(left / 2).max(Duration::from_millis(100));
                    tracing::warn!(error = %e, retry_in = ?wait, time_left = ?left,
                        "workload certificate renewal failed");
                    tokio::time::sleep(wait).await;
                    retry = (retry * 2).min(MAX_RETRY);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_is_at_seventy_percent_of_the_lifetime() {
        let now = SystemTime::now();
        let delay = renew_delay(now, now + Duration::from_secs(100));
        assert!((69_000..=71_000).contains(&delay.as_millis()), "{delay:?}");
        assert_eq!(
            renew_delay(now, now - Duration::from_secs(1)),
            Duration::ZERO
        );
    }

    #[test]
    fn a_config_never_prints_its_token() {
        let config = SecurityConfig::new("127.0.0.1:1", "", "super-secret-token-123");
        assert!(!format!("{config:?}").contains("super-secret"));
    }
}
