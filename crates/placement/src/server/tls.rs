//! TLS for the placement gRPC listener: the shared accept loop ([`crate::tls`]) with
//! placement's wording of refusals; every completed (and, with client authentication,
//! verified) connection reaches the server.

use std::io;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

use crate::tls::AcceptLog;

/// Accepts TCP connections until `stop` and yields the ones whose TLS handshake succeeded.
pub(crate) fn incoming(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    stop: CancellationToken,
) -> ReceiverStream<io::Result<TlsStream<TcpStream>>> {
    let log = AcceptLog {
        accept_failed: |e| tracing::warn!(error = %e, "accept failed"),
        refused: "TLS connection to placement refused",
        timed_out: "TLS handshake with placement timed out",
    };
    crate::tls::incoming(listener, config, stop, log, |tls, _remote| Some(tls))
}
