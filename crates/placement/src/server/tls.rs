//! TLS for the placement gRPC listener: the shared accept loop ([`crate::tls`]) with
//! placement's wording of refusals; every completed (and, with client authentication,
//! verified) connection reaches the server.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

use crate::sentry::verify::spiffe_id_of;
use crate::sentry::SpiffeId;
use crate::tls::AcceptLog;

/// The SPIFFE id of a stream's verified client certificate, in every request's extensions
/// (absent on plain-text connections).
#[derive(Debug, Clone)]
pub(crate) struct PeerIdentity(pub(crate) Option<Arc<SpiffeId>>);

/// An accepted TLS connection to placement, with its peer's identity.
#[derive(Debug)]
pub(crate) struct HostConn {
    inner: TlsStream<TcpStream>,
    identity: PeerIdentity,
}

impl tonic::transport::server::Connected for HostConn {
    type ConnectInfo = PeerIdentity;

    fn connect_info(&self) -> PeerIdentity {
        self.identity.clone()
    }
}

impl AsyncRead for HostConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for HostConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Accepts TCP connections until `stop` and yields the ones whose TLS handshake succeeded,
/// each with the SPIFFE id of its client certificate.
pub(crate) fn incoming(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    stop: CancellationToken,
) -> ReceiverStream<io::Result<HostConn>> {
    let log = AcceptLog {
        accept_failed: |e| tracing::warn!(error = %e, "accept failed"),
        refused: "TLS connection to placement refused",
        timed_out: "TLS handshake with placement timed out",
    };
    crate::tls::incoming(listener, config, stop, log, |tls, _remote| {
        let identity = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|certs| certs.first())
            .and_then(spiffe_id_of)
            .map(Arc::new);
        Some(HostConn {
            inner: tls,
            identity: PeerIdentity(identity),
        })
    })
}
