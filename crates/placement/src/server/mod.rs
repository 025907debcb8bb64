//! Starting, observing and stopping the placement service (gRPC + HTTP).

mod connect;
mod tls;

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{self, Duration};
use tokio_util::sync::CancellationToken;
use tonic::transport::server::TcpIncoming;
use tracing::{info, warn};

use crate::config::PlacementConfig;
use crate::error::{Error, ErrorKind};
use crate::proto::placement_server::PlacementServer as GrpcPlacementServer;
use crate::state::PlacementState;
use crate::{dissemination, http};

use connect::ConnectService;

/// Default gRPC listening address: `127.0.0.1:50005`.
pub const DEFAULT_GRPC_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 50005);

/// How long [`RunningPlacement::shutdown`] waits for connections to drain before cutting them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Builds and starts a placement service.
///
/// # Examples
///
/// ```no_run
/// use weft_placement::{PlacementConfig, PlacementServer};
///
/// # async fn run() -> Result<(), weft_placement::Error> {
/// let running = PlacementServer::builder()
///     .config(PlacementConfig::default())
///     .grpc_addr("127.0.0.1:0".parse().unwrap())
///     .http_addr("127.0.0.1:0".parse().unwrap())
///     .start()
///     .await?;
/// println!("placement on {}", running.grpc_addr());
/// running.shutdown().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct PlacementServer {
    config: PlacementConfig,
    grpc_addr: SocketAddr,
    http_addr: Option<SocketAddr>,
    http_limits: weft_http::Limits,
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
}

impl Default for PlacementServer {
    fn default() -> Self {
        PlacementServer {
            config: PlacementConfig::default(),
            grpc_addr: DEFAULT_GRPC_ADDR,
            http_addr: None,
            http_limits: weft_http::Limits::default(),
            tls: None,
        }
    }
}

impl PlacementServer {
    /// A server with the default configuration, gRPC on [`DEFAULT_GRPC_ADDR`] and no HTTP.
    pub fn builder() -> Self {
        PlacementServer::default()
    }

    /// The service settings. Defaults to [`PlacementConfig::default`].
    pub fn config(mut self, config: PlacementConfig) -> Self {
        self.config = config;
        self
    }

    /// Where hosts connect (port 0 picks a free port). Defaults to `127.0.0.1:50005`.
    pub fn grpc_addr(mut self, addr: SocketAddr) -> Self {
        self.grpc_addr = addr;
        self
    }

    /// Where `GET /placement/state` and `GET /healthz` are served (port 0 picks a free port).
    /// Defaults to none: no HTTP listener.
    pub fn http_addr(mut self, addr: SocketAddr) -> Self {
        self.http_addr = Some(addr);
        self
    }

    /// The connection limits of the HTTP listener: header-read and idle timeouts and a
    /// connection cap. Defaults to [`weft_http::Limits::default`].
    pub fn http_limits(mut self, limits: weft_http::Limits) -> Self {
        self.http_limits = limits;
        self
    }

    /// Serves hosts over TLS with `config` only — mutual TLS when it requires client
    /// certificates, as a host's `WorkloadIdentity::tls_server_config()` does (weft-runtime).
    /// Defaults to none: plain text, logged as a warning at start.
    pub fn tls(mut self, config: std::sync::Arc<rustls::ServerConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// Validates the configuration, binds the listeners and starts serving in the background.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] for an invalid configuration, [`ErrorKind::Bind`] when an address
    /// cannot be bound.
    pub async fn start(self) -> Result<RunningPlacement, Error> {
        let config = self.config;
        config
            .validate()
            .map_err(|e| Error::new(ErrorKind::Config, "invalid placement configuration", e))?;
        let grpc_listener = bind(self.grpc_addr).await?;
        let grpc_addr = local_addr(&grpc_listener)?;
        let http_listener = match self.http_addr {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        let http_addr = http_listener.as_ref().map(local_addr).transpose()?;

        let shutdown = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let (events, state) = dissemination::spawn(config.clone(), shutdown.clone(), &mut tasks);

        let service = ConnectService::new(
            events,
            std::sync::Arc::new(config.clone()),
            shutdown.clone(),
        );
        let router = tonic::transport::Server::builder()
            .http2_keepalive_interval(Some(config.faulty_host_timeout))
            .http2_keepalive_timeout(Some(config.faulty_host_timeout))
            .add_service(GrpcPlacementServer::new(service));
        let stop = shutdown.clone().cancelled_owned();
        let grpc: std::pin::Pin<Box<dyn Future<Output = _> + Send>> = match self.tls {
            Some(tls) => Box::pin(router.serve_with_incoming_shutdown(
                tls::incoming(grpc_listener, tls, shutdown.clone()),
                stop,
            )),
            None => {
                warn!("SECURITY IS OFF: hosts connect to placement in plain text");
                let incoming = TcpIncoming::from(grpc_listener).with_nodelay(Some(true));
                Box::pin(router.serve_with_incoming_shutdown(incoming, stop))
            }
        };
        tasks.spawn(async move {
            grpc.await
                .map_err(|e| Error::new(ErrorKind::Serve, "placement gRPC server failed", e))
        });
        if let Some(listener) = http_listener {
            let app = http::router(state.clone());
            let signal = shutdown.clone().cancelled_owned();
            let limits = self.http_limits;
            tasks.spawn(async move {
                weft_http::serve(listener, app, limits, signal)
                    .await
                    .map_err(|e| Error::new(ErrorKind::Serve, "placement HTTP server failed", e))
            });
        }
        info!(%grpc_addr, http_addr = ?http_addr, "placement serving");
        Ok(RunningPlacement {
            grpc_addr,
            http_addr,
            state,
            shutdown,
            tasks,
        })
    }

    /// Starts, serves until `signal` resolves (or a server fails), then shuts down gracefully.
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start), or [`ErrorKind::Serve`] when a server fails.
    pub async fn serve_with_shutdown(self, signal: impl Future<Output = ()>) -> Result<(), Error> {
        self.start().await?.run_until(signal).await
    }
}

/// Starts a placement service with `config`, gRPC on `grpc_addr` and, if given, HTTP on
/// `http_addr`. Use port 0 to let the system pick free ports, then read them from the result.
///
/// # Errors
///
/// As [`PlacementServer::start`].
pub async fn start(
    config: PlacementConfig,
    grpc_addr: SocketAddr,
    http_addr: Option<SocketAddr>,
) -> Result<RunningPlacement, Error> {
    let mut server = PlacementServer::builder()
        .config(config)
        .grpc_addr(grpc_addr);
    server.http_addr = http_addr;
    server.start().await
}

/// A placement service serving in the background. Dropping it stops it at once; prefer
/// [`shutdown`](Self::shutdown).
#[derive(Debug)]
pub struct RunningPlacement {
    grpc_addr: SocketAddr,
    http_addr: Option<SocketAddr>,
    state: watch::Receiver<PlacementState>,
    shutdown: CancellationToken,
    tasks: JoinSet<Result<(), Error>>,
}

impl RunningPlacement {
    /// The bound gRPC address.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// The gRPC endpoint as a URI for `tonic::transport::Endpoint`: `http://{grpc_addr}`.
    pub fn grpc_uri(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    /// The bound HTTP address, if HTTP is served.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// What placement knows now: connected hosts and committed tables.
    pub fn snapshot(&self) -> PlacementState {
        self.state.borrow().clone()
    }

    /// Waits until the published state satisfies `ready`, and returns that state.
    ///
    /// The state is published after every membership change and every committed round. Never
    /// returns if the condition never holds: wrap it in a timeout.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn wait_for_state(
        &self,
        mut ready: impl FnMut(&PlacementState) -> bool,
    ) -> PlacementState {
        let mut state = self.state.clone();
        let found = state.wait_for(|s| ready(s)).await.map(|s| s.clone());
        match found {
            Ok(s) => s,
            // The loop ended (shutdown): nothing will change any more.
            Err(_) => std::future::pending().await,
        }
    }

    /// Serves until `signal` resolves or a server fails, then shuts down gracefully.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Serve`] when a server failed.
    pub async fn run_until(mut self, signal: impl Future<Output = ()>) -> Result<(), Error> {
        tokio::select! {
            () = signal => self.shutdown().await,
            ended = self.tasks.join_next() => {
                let early = flatten(ended);
                let rest = self.shutdown().await;
                early.and(rest)
            }
        }
    }

    /// Closes every host stream, stops accepting, and waits (up to 5 s) for connections to
    /// drain; the listening ports are free when it returns.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Serve`] when a server had failed.
    pub async fn shutdown(mut self) -> Result<(), Error> {
        self.shutdown.cancel();
        let mut tasks = std::mem::take(&mut self.tasks);
        let mut result = Ok(());
        let drained = time::timeout(SHUTDOWN_GRACE, async {
            while let Some(ended) = tasks.join_next().await {
                if result.is_ok() {
                    result = flatten(Some(ended));
                }
            }
        })
        .await;
        if drained.is_err() {
            warn!("connections did not drain in time; cutting them");
            tasks.shutdown().await;
        }
        info!("placement stopped");
        result
    }
}

impl Drop for RunningPlacement {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn flatten(ended: Option<Result<Result<(), Error>, tokio::task::JoinError>>) -> Result<(), Error> {
    match ended {
        None | Some(Ok(Ok(()))) => Ok(()),
        Some(Ok(Err(e))) => Err(e),
        Some(Err(join)) if join.is_cancelled() => Ok(()),
        Some(Err(join)) => Err(Error::new(
            ErrorKind::Serve,
            "placement task panicked",
            join,
        )),
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, Error> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| Error::new(ErrorKind::Bind, format!("could not bind {addr}"), e))
}

fn local_addr(listener: &TcpListener) -> Result<SocketAddr, Error> {
    listener
        .local_addr()
        .map_err(|e| Error::new(ErrorKind::Bind, "could not read the bound address", e))
}
