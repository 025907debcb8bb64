//! The HTTP/1 server loop of Weft's HTTP endpoints (weftd's Dapr API, placement's state and
//! health, metrics), with the limits a server facing untrusted clients needs. `axum::serve` has
//! none: a client that opens sockets and sends nothing, or half a header, keeps them forever,
//! until the process runs out of file descriptors and nothing answers.
//!
//! [`serve`] enforces, per connection, from a watchdog that reads the clock:
//! - **header-read timeout**: a request head must arrive whole within this time of its first
//!   byte (slowloris: a header sent a byte at a time);
//! - **idle timeout**: a connection with no request in flight and no byte received for this
//!   long is closed (sockets opened and left silent, idle keep-alive connections);
//! - **connection cap**: at most this many connections at once. At the cap, a new connection
//!   first closes the connection that has been idle longest (no request in flight; a
//!   half-sent header counts as idle), as nginx does with reusable connections, so that a
//!   health check still gets through while thousands of idle sockets are held open; when every
//!   connection is busy, the new one is closed at once.
//!
//! Accept errors (`EMFILE` when descriptors run out) never end the loop: it waits briefly and
//! accepts again.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tower::Service;

/// The limits of one HTTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How long a request head may take to arrive, from its first byte. Default: 10 s.
    pub header_read_timeout: Duration,
    /// How long a connection may stay without a request in flight and without receiving a
    /// byte. Default: 60 s.
    pub idle_timeout: Duration,
    /// The most connections open at once. Default: 512 (well under the usual 1024 open-file
    /// limit, with room for the process's other sockets and files).
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// The limits as command-line flags (`--http-header-read-timeout`, `--http-idle-timeout`,
/// `--http-max-connections`), for a binary's `#[command(flatten)]`.
#[cfg(feature = "cli")]
#[derive(Debug, Clone, clap::Args)]
pub struct LimitFlags {
    /// How long an HTTP request head may take to arrive, from its first byte (slowloris).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub http_header_read_timeout: Duration,
    /// Close an HTTP connection with no request in flight and no byte received for this long.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub http_idle_timeout: Duration,
    /// The most HTTP connections open at once; at the cap a new one closes the idlest.
    #[arg(long, default_value_t = DEFAULT_MAX_CONNECTIONS)]
    pub http_max_connections: usize,
}

#[cfg(feature = "cli")]
impl From<&LimitFlags> for Limits {
    fn from(flags: &LimitFlags) -> Self {
        Limits {
            header_read_timeout: flags.http_header_read_timeout,
            idle_timeout: flags.http_idle_timeout,
            max_connections: flags.http_max_connections,
        }
    }
}

/// [`Limits::header_read_timeout`]'s default.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// [`Limits::idle_timeout`]'s default.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// [`Limits::max_connections`]'s default.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;

/// How long the accept loop waits for an evicted idle connection to free its slot.
const EVICTION_WAIT: Duration = Duration::from_millis(500);
/// How long the accept loop pauses after an accept error (out of descriptors, say).
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);
/// How long connections get to finish their requests after shutdown begins.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serves `router` on `listener` under `limits` until `shutdown` completes; then stops
/// accepting, lets requests in flight finish (up to 10 s) and returns.
///
/// # Errors
/// Never at present: accept errors are logged and retried. The `Result` leaves room for
/// errors that end the server.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let tracker = Arc::new(Tracker::new(limits));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::debug!(error = %e, "accept failed; pausing");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        let Some(permit) = tracker.slot().await else {
            tracing::debug!(
                max = limits.max_connections,
                "connection cap reached and every connection busy: closing the new one"
            );
            drop(stream);
            continue;
        };
        let conn = tracker.register(permit);
        tokio::spawn(serve_connection(
            stream,
            router.clone(),
            Arc::clone(&tracker),
            conn,
            stop_rx.clone(),
        ));
    }
    let _ = stop_tx.send(true);
    // Every connection holds a slot: all slots back means all connections are done.
    let all = u32::try_from(limits.max_connections.max(1)).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, tracker.slots.acquire_many(all)).await;
    Ok(())
}

/// One connection's activity, as its watchdog and the accept loop's eviction see it.
#[derive(Debug)]
struct Conn {
    id: u64,
    /// Milliseconds since the tracker's epoch of the last byte received or sent.
    last_io: AtomicU64,
    /// Milliseconds since the epoch of the first byte of a request head not yet whole (0: none).
    head_started: AtomicU64,
    in_flight: AtomicUsize,
    close: Notify,
    _permit: OwnedSemaphorePermit,
}

#[derive(Debug)]
struct Tracker {
    epoch: Instant,
    limits: Limits,
    slots: Arc<Semaphore>,
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
    next_id: AtomicU64,
}

impl Tracker {
    fn new(limits: Limits) -> Self {
        Self {
            epoch: Instant::now(),
            limits,
            slots: Arc::new(Semaphore::new(limits.max_connections.max(1))),
            conns: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
        }
    }

    /// Milliseconds since the epoch, at least 1 (0 means "none" in [`Conn::head_started`]).
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    fn conns(&self) -> MutexGuard<'_, HashMap<u64, Arc<Conn>>> {
        self.conns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A slot for a new connection: a free one, or one freed by closing the connection idle
    /// longest. `None` when every connection is busy.
    async fn slot(&self) -> Option<OwnedSemaphorePermit> {
        if let Ok(permit) = Arc::clone(&self.slots).try_acquire_owned() {
            return Some(permit);
        }
        let idlest = self
            .conns()
            .values()
            .filter(|c| c.in_flight.load(Ordering::Acquire) == 0)
            .min_by_key(|c| c.last_io.load(Ordering::Acquire))
            .cloned();
        idlest?.close.notify_one();
        tokio::time::timeout(EVICTION_WAIT, Arc::clone(&self.slots).acquire_owned())
            .await
            .ok()?
            .ok()
    }

    fn register(&self, permit: OwnedSemaphorePermit) -> Arc<Conn> {
        let conn = Arc::new(Conn {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            last_io: AtomicU64::new(self.now_ms()),
            head_started: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            close: Notify::new(),
            _permit: permit,
        });
        self.conns().insert(conn.id, Arc::clone(&conn));
        conn
    }

    /// Why the watchdog should close `conn` now, if it should.
    fn expired(&self, conn: &Conn) -> Option<&'static str> {
        if conn.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let now = self.now_ms();
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let head = conn.head_started.load(Ordering::Acquire);
        if head != 0 && now.saturating_sub(head) >= ms(self.limits.header_read_timeout) {
            return Some("request head not complete within the header-read timeout");
        }
        let last = conn.last_io.load(Ordering::Acquire);
        if head == 0 && now.saturating_sub(last) >= ms(self.limits.idle_timeout) {
            return Some("idle past the idle timeout");
        }
        None
    }
}

async fn serve_connection(
    stream: TcpStream,
    router: Router,
    tracker: Arc<Tracker>,
    conn: Arc<Conn>,
    mut stop: watch::Receiver<bool>,
) {
    let io = TokioIo::new(Tracked {
        inner: stream,
        tracker: Arc::clone(&tracker),
        conn: Arc::clone(&conn),
    });
    let service = Counted {
        inner: router,
        tracker: Arc::clone(&tracker),
        conn: Arc::clone(&conn),
    };
    let connection = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, TowerToHyperService::new(service));
    let mut connection = std::pin::pin!(connection);
    let check_every = tracker
        .limits
        .header_read_timeout
        .min(tracker.limits.idle_timeout)
        .checked_div(4)
        .unwrap_or(Duration::from_millis(250))
        .clamp(Duration::from_millis(10), Duration::from_secs(1));
    let mut watchdog = tokio::time::interval(check_every);
    watchdog.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stopping = false;
    loop {
        tokio::select! {
            served = connection.as_mut() => {
                if let Err(e) = served {
                    tracing::debug!(error = %e, "HTTP connection ended with an error");
                }
                break;
            }
            () = conn.close.notified() => {
                tracing::debug!("closing the idlest connection for a new one (connection cap)");
                break;
            }
            _ = watchdog.tick() => {
                if let Some(why) = tracker.expired(&conn) {
                    tracing::debug!(why, "closing an HTTP connection");
                    break;
                }
            }
            changed = stop.changed(), if !stopping => {
                stopping = true;
                if changed.is_ok() {
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
    tracker.conns().remove(&conn.id);
}

/// The connection's socket, noting each byte's arrival for the watchdog.
struct Tracked {
    inner: TcpStream,
    tracker: Arc<Tracker>,
    conn: Arc<Conn>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            let now = self.tracker.now_ms();
            self.conn.last_io.store(now, Ordering::Release);
            // Bytes while no request is in flight: a request head has begun.
            if self.conn.in_flight.load(Ordering::Acquire) == 0 {
                let _ = self.conn.head_started.compare_exchange(
                    0,
                    now,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
            }
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            let now = self.tracker.now_ms();
            self.conn.last_io.store(now, Ordering::Release);
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The router, counting the connection's requests in flight: a request whose head has
/// arrived ends the header-read clock, and a connection with one in flight is never idle.
#[derive(Clone)]
struct Counted {
    inner: Router,
    tracker: Arc<Tracker>,
    conn: Arc<Conn>,
}

impl<B> Service<hyper::Request<B>> for Counted
where
    Router: Service<hyper::Request<B>>,
    <Router as Service<hyper::Request<B>>>::Future: Send + 'static,
{
    type Response = <Router as Service<hyper::Request<B>>>::Response;
    type Error = <Router as Service<hyper::Request<B>>>::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Service::<hyper::Request<B>>::poll_ready(&mut self.inner, cx)
    }

    fn call(&mut self, request: hyper::Request<B>) -> Self::Future {
        let conn = Arc::clone(&self.conn);
        let tracker = Arc::clone(&self.tracker);
        conn.in_flight.fetch_add(1, Ordering::AcqRel);
        conn.head_started.store(0, Ordering::Release);
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await;
            conn.last_io.store(tracker.now_ms(), Ordering::Release);
            conn.in_flight.fetch_sub(1, Ordering::AcqRel);
            response
        })
    }
}
