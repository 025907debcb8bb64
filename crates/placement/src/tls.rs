//! The TLS accept loop of Weft's mTLS listeners: the placement gRPC listener and the invoke
//! server of every host (weft-runtime).
//!
//! Why here: both listeners must refuse peers the same way (one task per handshake, so a slow or
//! hostile peer does not hold up the others; a time limit on the handshake; refusals logged on
//! `weft::audit`; only completed handshakes reach the server), and weft-runtime depends on this
//! crate, not the other way round. Not part of the public API: hidden from the docs, it may
//! change with weft-runtime.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

/// How long a peer may take to complete its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the loop waits after a failed `accept` before the next one.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// What a listener logs about connections it does not serve.
#[derive(Debug, Clone, Copy)]
pub struct AcceptLog {
    /// Logs a failed `accept` (EMFILE and friends), before the loop backs off. A function of the
    /// caller rather than a message, so the event keeps the caller's module as its target.
    pub accept_failed: fn(&io::Error),
    /// The `weft::audit` message of a refused handshake, logged with the peer and the error.
    pub refused: &'static str,
    /// The `weft::audit` message of a handshake that did not complete in time, logged with the
    /// peer.
    pub timed_out: &'static str,
}

/// Accepts TCP connections until `stop` and yields what `admit` makes of each completed
/// handshake. Each handshake runs in its own task, limited to 10 s; refused and timed-out ones
/// are logged on `weft::audit` as `log` says and never reach the server. `admit` sees the
/// handshaken stream and the peer's address and may still drop the connection (`None`), logging
/// why.
pub fn incoming<C, F>(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    stop: CancellationToken,
    log: AcceptLog,
    admit: F,
) -> ReceiverStream<io::Result<C>>
where
    C: Send + 'static,
    F: Fn(TlsStream<TcpStream>, SocketAddr) -> Option<C> + Send + Sync + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let admit = Arc::new(admit);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                () = stop.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            let (tcp, remote) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    (log.accept_failed)(&e);
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let (acceptor, tx, admit) = (acceptor.clone(), tx.clone(), Arc::clone(&admit));
            tokio::spawn(async move {
                let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
                {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(e)) => {
                        tracing::warn!(target: "weft::audit", remote = %remote, error = %e,
                            "{}", log.refused);
                        return;
                    }
                    Err(_) => {
                        tracing::warn!(target: "weft::audit", remote = %remote,
                            "{}", log.timed_out);
                        return;
                    }
                };
                if let Some(conn) = admit(tls, remote) {
                    let _ = tx.send(Ok(conn)).await;
                }
            });
        }
    });
    ReceiverStream::new(rx)
}
