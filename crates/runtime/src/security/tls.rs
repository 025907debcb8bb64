//! The TLS plumbing of host-to-host calls: rustls configs whose certificate is swapped in place
//! at renewal, SPIFFE-aware verifiers, the accept loop of the invoke server, and the connector
//! of the `Peers` channels.
//!
//! Why not tonic's own TLS: it takes a certificate once, at build time, and verifies peers by
//! DNS name. Workload certificates are renewed every few hours and name a SPIFFE id, not a
//! host, so the configs here resolve the *current* certificate on every handshake and verify
//! the chain plus the trust domain of the URI SAN.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use arc_swap::ArcSwap;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::ResolvesClientCert;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::SpiffeId;
use weft_placement::sentry::verify::{check_spiffe, client_verifier, spiffe_id_of};
use weft_placement::tls::AcceptLog;

/// The crypto provider of every config: ring.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The current certificate and key, swapped in place at renewal: handshakes after the swap
/// present the new certificate, connections already up keep theirs.
#[derive(Debug)]
pub(crate) struct CurrentCert(pub(crate) Arc<ArcSwap<CertifiedKey>>);

impl ResolvesServerCert for CurrentCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.load_full())
    }
}

impl ResolvesClientCert for CurrentCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.0.load_full())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Verifies a server: chain to the trust bundle, validity, and its SPIFFE id. The DNS name is
/// not checked: workloads are named by SPIFFE id, not by address.
#[derive(Debug)]
pub(crate) struct SpiffeServerVerifier {
    roots: Arc<RootCertStore>,
    trust_domain: String,
    expected: Option<SpiffeId>,
    provider: Arc<CryptoProvider>,
}

impl SpiffeServerVerifier {
    pub(crate) fn new(
        roots: Arc<RootCertStore>,
        trust_domain: String,
        expected: Option<SpiffeId>,
    ) -> Self {
        SpiffeServerVerifier {
            roots,
            trust_domain,
            expected,
            provider: provider(),
        }
    }
}

impl ServerCertVerifier for SpiffeServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = rustls::server::ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )?;
        check_spiffe(end_entity, &self.trust_domain, self.expected.as_ref())?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The server config of the invoke server: TLS 1.3, client certificate required, no session
/// resumption (every connection proves its identity afresh).
pub(crate) fn server_config(
    roots: Arc<RootCertStore>,
    trust_domain: &str,
    current: Arc<ArcSwap<CertifiedKey>>,
) -> Result<ServerConfig, rustls::Error> {
    let verifier = client_verifier(roots, trust_domain, provider())?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(CurrentCert(current)));
    config.alpn_protocols = vec![b"h2".to_vec()];
    config.send_tls13_tickets = 0;
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    Ok(config)
}

/// The client config of host-to-host channels: TLS 1.3, presenting the current certificate,
/// verifying the server's chain and trust domain, no session resumption.
pub(crate) fn client_config(
    roots: Arc<RootCertStore>,
    trust_domain: &str,
    current: Option<Arc<ArcSwap<CertifiedKey>>>,
    expected: Option<SpiffeId>,
) -> Result<ClientConfig, rustls::Error> {
    let verifier = Arc::new(SpiffeServerVerifier::new(
        roots,
        trust_domain.to_owned(),
        expected,
    ));
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match current {
        Some(current) => builder.with_client_cert_resolver(Arc::new(CurrentCert(current))),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    config.resumption = rustls::client::Resumption::disabled();
    Ok(config)
}

/// Implements `AsyncWrite` for a pin-projected connection by passing every call to its `inner`
/// TLS stream. Both connection types only add state on the read side (the peer's identity, the
/// server's first bytes), so their write sides are the same.
macro_rules! write_through_inner {
    ($conn:ty) => {
        impl AsyncWrite for $conn {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                self.project().inner.poll_write(cx, buf)
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.project().inner.poll_flush(cx)
            }

            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.project().inner.poll_shutdown(cx)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[io::IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                self.project().inner.poll_write_vectored(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                self.inner.is_write_vectored()
            }
        }
    };
}

/// What the invoke server knows of the peer of one connection; tonic puts it in every
/// request's extensions.
#[derive(Debug, Clone)]
pub(crate) struct PeerInfo {
    /// The SPIFFE id of the verified client certificate.
    pub(crate) identity: Arc<SpiffeId>,
}

pin_project_lite::pin_project! {
    /// An accepted, verified TLS connection of the invoke server.
    pub(crate) struct ServerConn {
        #[pin]
        inner: tokio_rustls::server::TlsStream<TcpStream>,
        info: PeerInfo,
    }
}

impl fmt::Debug for ServerConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConn")
            .field("peer", &self.info)
            .finish()
    }
}

impl tonic::transport::server::Connected for ServerConn {
    type ConnectInfo = PeerInfo;

    fn connect_info(&self) -> PeerInfo {
        self.info.clone()
    }
}

impl AsyncRead for ServerConn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.project().inner.poll_read(cx, buf)
    }
}

write_through_inner!(ServerConn);

/// Accepts TCP connections and runs their TLS handshakes, each in its own task (a slow or
/// hostile peer does not hold up the others), until `stop`. Refused handshakes are logged on
/// `weft::audit` and never reach the server. The loop is placement's ([`weft_placement::tls`]),
/// so hosts and placement refuse peers alike; what is the invoke server's own is the wording
/// and that a connection is served only with the SPIFFE id of its client certificate.
pub(crate) fn incoming(
    listener: tokio::net::TcpListener,
    config: Arc<ServerConfig>,
    stop: CancellationToken,
) -> tokio_stream::wrappers::ReceiverStream<io::Result<ServerConn>> {
    let log = AcceptLog {
        accept_failed: |e| tracing::warn!(error = %e, "accept failed"),
        refused: "TLS connection refused",
        timed_out: "TLS handshake timed out",
    };
    weft_placement::tls::incoming(listener, config, stop, log, |tls, remote| {
        let identity = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|certs| certs.first())
            .and_then(spiffe_id_of);
        // The verifier refused every client without a SPIFFE id: `None` cannot happen,
        // but a connection without an identity is dropped rather than served.
        let Some(identity) = identity else {
            tracing::warn!(target: "weft::audit", remote = %remote,
                "TLS peer without a SPIFFE id dropped");
            return None;
        };
        Some(ServerConn {
            inner: tls,
            info: PeerInfo {
                identity: Arc::new(identity),
            },
        })
    })
}

/// A failure while connecting — TCP, the TLS handshake, or waiting for the server's first
/// bytes, which it sends only once it accepted our certificate — before any request byte was
/// written: the call is safe to retry (a handshake racing a certificate renewal, say).
#[derive(Debug)]
pub(crate) struct HandshakeFailed(pub(crate) io::Error);

impl fmt::Display for HandshakeFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TLS handshake failed: {}", self.0)
    }
}

impl std::error::Error for HandshakeFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

fn handshake_failed(e: io::Error) -> io::Error {
    io::Error::new(e.kind(), HandshakeFailed(e))
}

/// Dials TCP + TLS for a tonic channel (`Endpoint::connect_with_connector_lazy`).
#[derive(Clone)]
pub(crate) struct TlsConnector {
    config: Arc<ClientConfig>,
    /// The SPIFFE id the server's certificate must carry, beyond the trust domain.
    expected: Option<SpiffeId>,
}

impl fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnector").finish_non_exhaustive()
    }
}

impl TlsConnector {
    pub(crate) fn new(config: Arc<ClientConfig>) -> Self {
        TlsConnector {
            config,
            expected: None,
        }
    }

    /// Connections whose server certificate names exactly `expected` (when set): one app's
    /// certificate cannot answer for another app.
    pub(crate) fn expecting(mut self, expected: Option<SpiffeId>) -> Self {
        self.expected = expected;
        self
    }
}

impl tower::Service<http::Uri> for TlsConnector {
    type Response = hyper_util::rt::TokioIo<ClientConn>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let config = Arc::clone(&self.config);
        let expected = self.expected.clone();
        Box::pin(async move {
            let host = uri
                .host()
                .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_owned())
                .ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidInput, format!("no host in {uri}"))
                })?;
            let port = uri.port_u16().unwrap_or(443);
            let tcp = TcpStream::connect((host.as_str(), port)).await?;
            tcp.set_nodelay(true)?;
            // The verifier checks SPIFFE ids, not names: any syntactically valid name will do.
            let name = ServerName::try_from(host).unwrap_or_else(|_| {
                ServerName::try_from("weft.invalid").map_or_else(
                    |_| ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()),
                    |n| n.to_owned(),
                )
            });
            let mut tls = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await
                .map_err(handshake_failed)?;
            if let Some(expected) = &expected {
                let presented = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|certs| certs.first())
                    .and_then(spiffe_id_of);
                if presented.as_ref() != Some(expected) {
                    let shown =
                        presented.map_or_else(|| "no SPIFFE id".to_owned(), |id| id.to_string());
                    tracing::warn!(target: "weft::audit", server = %shown, %expected,
                        "server refused: its certificate names another workload");
                    return Err(handshake_failed(io::Error::new(
                        io::ErrorKind::PermissionDenied,
                        format!("the server is {shown}, not {expected}"),
                    )));
                }
            }
            // In TLS 1.3 the server checks the client's certificate after the client considers
            // the handshake done: wait for the server's first bytes (its HTTP/2 SETTINGS, sent
            // unprompted) before handing the connection over, so a refusal surfaces here, before
            // a single request byte was written, and never as an ambiguous mid-call failure.
            let mut first = vec![0u8; 1024];
            let n = tokio::io::AsyncReadExt::read(&mut tls, &mut first)
                .await
                .map_err(handshake_failed)?;
            if n == 0 {
                return Err(handshake_failed(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection right after the TLS handshake",
                )));
            }
            first.truncate(n);
            Ok(hyper_util::rt::TokioIo::new(ClientConn {
                inner: tls,
                prefix: bytes::Bytes::from(first),
            }))
        })
    }
}

pin_project_lite::pin_project! {
    /// A client TLS connection the server has accepted (it sent its first bytes, kept in
    /// `prefix` for the HTTP/2 client to read first).
    pub(crate) struct ClientConn {
        #[pin]
        inner: tokio_rustls::client::TlsStream<TcpStream>,
        prefix: bytes::Bytes,
    }
}

impl fmt::Debug for ClientConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConn").finish_non_exhaustive()
    }
}

impl AsyncRead for ClientConn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        if !this.prefix.is_empty() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix.split_to(n));
            return Poll::Ready(Ok(()));
        }
        this.inner.poll_read(cx, buf)
    }
}

write_through_inner!(ClientConn);
