//! The certificate authority: the root key and certificate (the trust bundle), and signing.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls_pki_types::{CertificateDer, CertificateSigningRequestDer};

use super::SpiffeId;
use crate::error::{Error, ErrorKind};

/// The root certificate's file in a CA directory: the trust bundle hosts are given.
pub const ROOT_CERT_FILE: &str = "ca.crt";
/// The root key's file in a CA directory (mode 0600 on Unix): the Sentry's only secret.
pub const ROOT_KEY_FILE: &str = "ca.key";

/// How long a root created by [`CertificateAuthority::generate`] is valid: 10 years.
const ROOT_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// Workload certificates start this long in the past, so a host whose clock is slightly behind
/// the Sentry's accepts them at once.
const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// A root key and its self-signed certificate, signing workload certificates.
pub struct CertificateAuthority {
    issuer: Issuer<'static, KeyPair>,
    root_der: CertificateDer<'static>,
    root_pem: String,
    key_pem: String,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .finish_non_exhaustive()
    }
}

/// A signed workload certificate.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The certificate, DER.
    pub cert_der: CertificateDer<'static>,
    /// The certificate, PEM.
    pub cert_pem: String,
    /// When it expires.
    pub not_after: SystemTime,
}

fn security(message: impl Into<String>, source: impl std::fmt::Display) -> Error {
    Error::msg(ErrorKind::Security, format!("{}: {source}", message.into()))
}

impl CertificateAuthority {
    /// A new root key (ECDSA P-256) and self-signed root certificate, valid 10 years, in memory.
    ///
    /// # Errors
    /// [`ErrorKind::Security`] when key generation or signing fails.
    pub fn generate() -> Result<Self, Error> {
        let key = KeyPair::generate().map_err(|e| security("cannot generate the root key", e))?;
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, "weft sentry root");
        params.distinguished_name = name;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let now = SystemTime::now();
        params.not_before = (now - CLOCK_SKEW).into();
        params.not_after = (now + ROOT_VALIDITY).into();
        let cert = params
            .self_signed(&key)
            .map_err(|e| security("cannot sign the root certificate", e))?;
        let key_pem = key.serialize_pem();
        Ok(CertificateAuthority {
            root_pem: cert.pem(),
            root_der: cert.der().clone(),
            key_pem,
            issuer: Issuer::new(params, key),
        })
    }

    /// Creates a new CA in `dir` (created if missing): [`ROOT_KEY_FILE`] and [`ROOT_CERT_FILE`].
    ///
    /// # Errors
    /// [`ErrorKind::Security`] when `dir` already holds a CA (it is never overwritten: hosts
    /// trust it), or the files cannot be written.
    pub fn init(dir: &Path) -> Result<Self, Error> {
        let key_path = dir.join(ROOT_KEY_FILE);
        let cert_path = dir.join(ROOT_CERT_FILE);
        if key_path.exists() || cert_path.exists() {
            return Err(Error::msg(
                ErrorKind::Security,
                format!(
                    "{} already holds a CA; remove {ROOT_KEY_FILE} and {ROOT_CERT_FILE} first to \
                     replace it (every host must then get the new trust bundle)",
                    dir.display()
                ),
            ));
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| security(format!("cannot create {}", dir.display()), e))?;
        let ca = Self::generate()?;
        write_secret(&key_path, ca.key_pem.as_bytes())?;
        std::fs::write(&cert_path, ca.root_pem.as_bytes())
            .map_err(|e| security(format!("cannot write {}", cert_path.display()), e))?;
        Ok(ca)
    }

    /// Loads the CA that [`init`](Self::init) created in `dir`.
    ///
    /// # Errors
    /// [`ErrorKind::Security`] when a file is missing or does not parse.
    pub fn load(dir: &Path) -> Result<Self, Error> {
        let read = |name: &str| -> Result<(PathBuf, String), Error> {
            let path = dir.join(name);
            std::fs::read_to_string(&path)
                .map(|s| (path.clone(), s))
                .map_err(|e| security(format!("cannot read {}", path.display()), e))
        };
        let (key_path, key_pem) = read(ROOT_KEY_FILE)?;
        let (cert_path, root_pem) = read(ROOT_CERT_FILE)?;
        let key = KeyPair::from_pem(&key_pem)
            .map_err(|e| security(format!("bad root key in {}", key_path.display()), e))?;
        let root_der = pem_certificates(&root_pem)
            .and_then(
                |mut certs| {
                    if certs.len() == 1 {
                        certs.pop()
                    } else {
                        None
                    }
                },
            )
            .ok_or_else(|| {
                Error::msg(
                    ErrorKind::Security,
                    format!(
                        "{} must hold exactly one PEM certificate",
                        cert_path.display()
                    ),
                )
            })?;
        let issuer = Issuer::from_ca_cert_der(&root_der, key).map_err(|e| {
            security(
                format!("bad root certificate in {}", cert_path.display()),
                e,
            )
        })?;
        Ok(CertificateAuthority {
            issuer,
            root_der,
            root_pem,
            key_pem,
        })
    }

    /// The root certificate, PEM: the trust bundle hosts verify peers with.
    pub fn trust_bundle_pem(&self) -> &str {
        &self.root_pem
    }

    /// The root certificate, DER.
    pub fn trust_bundle_der(&self) -> &CertificateDer<'static> {
        &self.root_der
    }

    /// Signs the key of `csr_der` (a PKCS#10 request, whose signature is checked) into a
    /// workload certificate for `id`, valid from now (less a minute of clock skew) for `ttl`.
    /// Only the CSR's public key is used: names come from `id`.
    ///
    /// # Errors
    /// [`ErrorKind::Security`] when the CSR does not parse or its signature is wrong.
    pub fn sign(&self, csr_der: &[u8], id: &SpiffeId, ttl: Duration) -> Result<Issued, Error> {
        let now = SystemTime::now();
        self.sign_valid(csr_der, id, now - CLOCK_SKEW, now + ttl)
    }

    /// Like [`sign`](Self::sign), valid from `not_before` to `not_after` exactly (tests use
    /// it for expired and not-yet-valid certificates).
    ///
    /// # Errors
    /// [`ErrorKind::Security`] when the CSR does not parse or its signature is wrong.
    pub fn sign_valid(
        &self,
        csr_der: &[u8],
        id: &SpiffeId,
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> Result<Issued, Error> {
        let csr =
            CertificateSigningRequestParams::from_der(&CertificateSigningRequestDer::from(csr_der))
                .map_err(|e| security("bad certificate signing request", e))?;
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, id.app_id());
        params.distinguished_name = name;
        let uri = id
            .to_string()
            .try_into()
            .map_err(|e| security("SPIFFE id is not a valid URI SAN", e))?;
        params.subject_alt_names = vec![SanType::URI(uri)];
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(serial(id, not_after).into());
        params.not_before = not_before.into();
        params.not_after = not_after.into();
        let cert = params
            .signed_by(&csr.public_key, &self.issuer)
            .map_err(|e| security("cannot sign the workload certificate", e))?;
        Ok(Issued {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            not_after,
        })
    }

    /// A fresh key and a certificate for `id` signed by this CA, both PEM: the Sentry's own
    /// serving identity, and test fixtures.
    ///
    /// # Errors
    /// [`ErrorKind::Security`] when key generation or signing fails.
    pub fn issue_key_and_cert(
        &self,
        id: &SpiffeId,
        ttl: Duration,
    ) -> Result<(String, String), Error> {
        let now = SystemTime::now();
        self.issue_key_and_cert_between(id, now - CLOCK_SKEW, now + ttl)
    }

    /// Like [`issue_key_and_cert`](Self::issue_key_and_cert), valid from `not_before` to
    /// `not_after` exactly (expired certificates for tests).
    ///
    /// # Errors
    /// [`ErrorKind::Security`] when key generation or signing fails.
    pub fn issue_key_and_cert_between(
        &self,
        id: &SpiffeId,
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> Result<(String, String), Error> {
        let key = KeyPair::generate().map_err(|e| security("cannot generate a key", e))?;
        let csr = CertificateParams::default()
            .serialize_request(&key)
            .map_err(|e| security("cannot build a CSR", e))?;
        let issued = self.sign_valid(csr.der(), id, not_before, not_after)?;
        Ok((issued.cert_pem, key.serialize_pem()))
    }
}

/// A positive 16-byte serial number, unique per (id, expiry, moment of signing).
fn serial(id: &SpiffeId, not_after: SystemTime) -> Vec<u8> {
    use std::hash::BuildHasher;
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let hash =
        std::collections::hash_map::RandomState::new().hash_one((id.to_string(), not_after, nanos));
    let mut bytes = Vec::with_capacity(16);
    bytes.extend_from_slice(&hash.to_be_bytes());
    bytes.extend_from_slice(&nanos.to_be_bytes()[8..]);
    // The top bit clear: serial numbers are positive integers.
    bytes[0] &= 0x7f;
    bytes
}

/// The certificates of a PEM text, or `None` when it holds something unparsable.
pub fn pem_certificates(text: &str) -> Option<Vec<CertificateDer<'static>>> {
    use rustls_pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(text.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .ok()
}

/// Writes a secret file readable by its owner only.
fn write_secret(path: &Path, contents: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .and_then(|mut f| f.write_all(contents))
        .map_err(|e| security(format!("cannot write {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_saved_by_init_loads_back_and_is_never_overwritten() {
        let dir = std::env::temp_dir().join(format!("weft-ca-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let ca = CertificateAuthority::init(&dir).unwrap();
        let loaded = CertificateAuthority::load(&dir).unwrap();
        assert_eq!(ca.trust_bundle_der(), loaded.trust_bundle_der());
        assert!(CertificateAuthority::init(&dir).is_err());
        let id = SpiffeId::new("td", "ns", "app").unwrap();
        let (cert, _key) = loaded
            .issue_key_and_cert(&id, Duration::from_secs(60))
            .unwrap();
        assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(loaded
            .sign(b"not a csr", &id, Duration::from_secs(60))
            .is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
