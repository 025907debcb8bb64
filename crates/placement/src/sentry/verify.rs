//! Verifying workload certificates: reading the SPIFFE id of a certificate, and a rustls client
//! verifier that accepts a chain to the trust bundle only with a SPIFFE id of the trust domain.
//! Hosts (weft-runtime) and placement use the same checks.

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};

use super::SpiffeId;

/// The SPIFFE id in the URI SAN of a certificate, if it has exactly one well-formed one.
pub fn spiffe_id_of(cert: &CertificateDer<'_>) -> Option<SpiffeId> {
    let (_, x509) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let san = x509.subject_alternative_name().ok()??;
    let mut uris = san.value.general_names.iter().filter_map(|n| match n {
        x509_parser::extensions::GeneralName::URI(uri) => Some(*uri),
        _ => None,
    });
    let uri = uris.next()?;
    if uris.next().is_some() {
        return None;
    }
    uri.parse().ok()
}

/// Why a certificate with a valid chain is refused all the same.
#[derive(Debug)]
struct SpiffeMismatch(String);

impl fmt::Display for SpiffeMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SpiffeMismatch {}

/// A refusal as a certificate error, so the peer gets a `bad_certificate` alert (and a caller
/// knows its handshake failed) rather than a silently closed connection.
fn refused(why: String) -> rustls::Error {
    rustls::Error::InvalidCertificate(rustls::CertificateError::Other(rustls::OtherError(
        Arc::new(SpiffeMismatch(why)),
    )))
}

/// Checks that a verified leaf names a workload of `trust_domain` (and, when given, exactly
/// `expected`); the id on success.
///
/// # Errors
/// A certificate error (the peer gets a `bad_certificate` alert) naming the mismatch.
pub fn check_spiffe(
    leaf: &CertificateDer<'_>,
    trust_domain: &str,
    expected: Option<&SpiffeId>,
) -> Result<SpiffeId, rustls::Error> {
    let id = spiffe_id_of(leaf)
        .ok_or_else(|| refused("the peer certificate carries no SPIFFE id".to_owned()))?;
    if id.trust_domain() != trust_domain {
        return Err(refused(format!(
            "the peer {id} is not of trust domain `{trust_domain}`"
        )));
    }
    if let Some(expected) = expected {
        if &id != expected {
            return Err(refused(format!("the peer is {id}, expected {expected}")));
        }
    }
    Ok(id)
}

/// Verifies a client: webpki's client verification (chain, validity, client-auth usage) and
/// then the trust domain of its SPIFFE id. A client without a certificate is refused.
#[derive(Debug)]
struct SpiffeClientVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    trust_domain: String,
}

impl ClientCertVerifier for SpiffeClientVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.inner
            .verify_client_cert(end_entity, intermediates, now)?;
        check_spiffe(end_entity, &self.trust_domain, None)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A client verifier for servers of `trust_domain`: webpki's verification against `roots`
/// (chain, validity, client-auth usage; a client without a certificate is refused), then the
/// trust domain of the client's SPIFFE id.
///
/// # Errors
/// When `roots` is empty.
pub fn client_verifier(
    roots: Arc<RootCertStore>,
    trust_domain: &str,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, rustls::Error> {
    let inner = WebPkiClientVerifier::builder_with_provider(roots, provider)
        .build()
        .map_err(|e| rustls::Error::General(format!("client verifier: {e}")))?;
    Ok(Arc::new(SpiffeClientVerifier {
        inner,
        trust_domain: trust_domain.to_owned(),
    }))
}

/// A TLS 1.3 server config that presents `cert_pem` (a chain, leaf first) with `key_pem`, and
/// requires clients with a certificate of `trust_bundle_pem` and a SPIFFE id of
/// `trust_domain`: how the `weft-placement` binary serves hosts with a certificate from
/// `weft-sentry issue`. The certificate is fixed; restart with a new one to rotate it.
///
/// # Errors
/// [`ErrorKind::Security`](crate::ErrorKind::Security) when a PEM text does not parse or
/// rustls refuses the key.
pub fn mtls_server_config(
    cert_pem: &str,
    key_pem: &str,
    trust_bundle_pem: &str,
    trust_domain: &str,
) -> Result<Arc<rustls::ServerConfig>, crate::Error> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::PrivateKeyDer;
    let bad = |what: &str, e: &dyn fmt::Display| {
        crate::Error::msg(crate::ErrorKind::Security, format!("{what}: {e}"))
    };
    let chain = super::pem_certificates(cert_pem)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| bad("the certificate file", &"holds no PEM certificate"))?;
    let key =
        PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| bad("the key file", &e))?;
    let mut roots = RootCertStore::empty();
    for cert in super::pem_certificates(trust_bundle_pem)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| bad("the trust bundle", &"holds no PEM certificate"))?
    {
        roots.add(cert).map_err(|e| bad("the trust bundle", &e))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = client_verifier(Arc::new(roots), trust_domain, Arc::clone(&provider))
        .map_err(|e| bad("client verifier", &e))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| bad("TLS versions", &e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| bad("the certificate and key", &e))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}
