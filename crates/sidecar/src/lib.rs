//! `weftd`: a Dapr-compatible sidecar. It runs a Weft host beside an app written in any
//! language and speaks Dapr's HTTP API, so Dapr apps and SDKs run on Weft unchanged.
//!
//! - The app calls `weftd` on `--dapr-http-port` (default 3500) exactly as it would call Dapr:
//!   `/v1.0/invoke/{app-id}/method/...`, `/v1.0/actors/...`, health, metadata ([`api`]).
//! - `weftd` calls the app back on `--app-port` with Dapr's app-callback protocol: its
//!   configuration, actor turns, timer firings, deactivations, and invoked methods passed
//!   through as plain HTTP.
//! - Between sidecars (and Rust hosts), calls travel the Weft fabric: placement, round-robin,
//!   resiliency. A Python actor can call a Rust `#[actor]` and back.
//!
//! [`start`] runs one `weftd` in this process; the `weftd` binary wraps it.

mod actors;
pub mod api;
mod app;
mod config;
#[doc(hidden)]
pub mod fuzzing;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::watch;
use weft_runtime::{
    ActorRegistration, ClusterConfig, Error, ErrorKind, Host, HostHandle, MemoryStore, RedisStore,
    Reentrancy, SledStore,
};

pub use config::{Config, Secret};

use actors::{AppActor, TimerRequests};
use api::{Ready, Shared};
use app::{go_duration, AppChannel};
use weft_runtime::security::{AccessControl, SecurityConfig, WorkloadIdentity};

/// A running `weftd`.
#[derive(Debug)]
pub struct Running {
    http_addr: SocketAddr,
    host: Host,
    stop_http: tokio::sync::oneshot::Sender<()>,
}

impl Running {
    /// Where the Dapr HTTP API listens.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The Weft host inside.
    pub fn host(&self) -> HostHandle {
        self.host.handle()
    }

    /// Stops gracefully: actors finish their turns and deactivate, the host leaves the cluster,
    /// the API stops.
    ///
    /// # Errors
    /// As [`Host::shutdown`].
    pub async fn shutdown(self) -> Result<(), Error> {
        let result = self.host.shutdown().await;
        let _ = self.stop_http.send(());
        result
    }
}

async fn open_store(spec: &str) -> Result<Arc<dyn weft_runtime::StateStore>, Error> {
    if spec == "memory" {
        return Ok(Arc::new(MemoryStore::new()));
    }
    if let Some(dir) = spec.strip_prefix("sled:") {
        return Ok(Arc::new(SledStore::open(dir)?));
    }
    if spec.starts_with("redis://") || spec.starts_with("rediss://") {
        return Ok(Arc::new(RedisStore::connect(spec).await?));
    }
    Err(Error::new(
        ErrorKind::InvalidArgument,
        format!("--state-store {spec:?}: expected memory, sled:<dir> or a redis:// URL"),
    ))
}

/// Starts `weftd`: the HTTP API first (so an app that waits for its sidecar can start), then,
/// once the app has answered `GET /dapr/config`, the Weft host with the app's actor types.
///
/// # Errors
/// [`ErrorKind::Unavailable`] when a port cannot be bound or the app never answers;
/// [`ErrorKind::InvalidArgument`] for bad settings or files.
pub async fn start(config: Config) -> Result<Running, Error> {
    let listener =
        tokio::net::TcpListener::bind((config.dapr_listen_address, config.dapr_http_port))
            .await
            .map_err(|e| {
                Error::new(
                    ErrorKind::Unavailable,
                    format!(
                        "cannot listen on port {} for the Dapr API: {e}",
                        config.dapr_http_port
                    ),
                )
            })?;
    let http_addr = listener
        .local_addr()
        .map_err(|e| Error::new(ErrorKind::Unavailable, format!("API listener: {e}")))?;
    let (ready_tx, ready_rx) = watch::channel(None);
    let (stop_http, stopped) = tokio::sync::oneshot::channel::<()>();
    let router = api::router(
        Shared { ready: ready_rx },
        config.max_request_bytes,
        config.api_token.clone(),
    );
    let limits = weft_http::Limits::from(&config.http_limits);
    tokio::spawn(async move {
        let served = weft_http::serve(listener, router, limits, async {
            let _ = stopped.await;
        })
        .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "the Dapr API server stopped");
        }
    });
    tracing::info!(%http_addr, app_id = %config.app_id, "Dapr HTTP API listening");

    let app = config
        .app_port
        .map(|port| AppChannel::new(port, config.app_api_token.as_ref()))
        .transpose()?;
    if let (Some(app), true) = (&app, config.enable_app_health_check) {
        app.probe_health(
            &config.app_health_check_path,
            config.app_health_probe_interval,
            config.app_health_threshold,
        );
    }
    let app_config = match &app {
        Some(app) => app.config(config.app_config_timeout).await?,
        None => app::AppConfig::default(),
    };
    let timers = Arc::new(TimerRequests::default());
    let store = open_store(&config.state_store).await?;
    let mut builder = Host::builder()
        .app_id(config.app_id.clone())
        .namespace(config.namespace.clone())
        .call_timeout(config.call_timeout)
        .http_limits(limits)
        .max_request_bytes(config.max_request_bytes)
        .shared_store(store);
    match config.placement_url() {
        Some(url) => {
            let host_id = config
                .host_id
                .clone()
                .unwrap_or_else(|| format!("{}-{:08x}", config.app_id, rand_suffix()));
            builder = builder.cluster(
                ClusterConfig::new(host_id, url)
                    .listen(config.internal_address)
                    .namespace(config.namespace.clone()),
            );
        }
        None => builder = builder.listen(config.internal_address),
    }
    if let Some(file) = &config.resolver_file {
        let text = std::fs::read_to_string(file).map_err(|e| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!("--resolver-file {}: {e}", file.display()),
            )
        })?;
        builder = builder.resolver(weft_runtime::resolve::StaticResolver::from_yaml(&text)?);
    }
    if let Some(file) = &config.resiliency_file {
        builder = builder.resiliency(weft_runtime::resiliency::Resiliency::load(file)?);
    }
    if let Some(sentry) = &config.sentry_address {
        let bundle = config.trust_bundle.as_ref().ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidArgument,
                "--sentry-address needs --trust-bundle (the Sentry's ca.crt)",
            )
        })?;
        let security = match &config.join_token_file {
            Some(token) => SecurityConfig::from_files(sentry.clone(), bundle, token)?,
            None => {
                let token = std::env::var("WEFT_JOIN_TOKEN").map_err(|_| {
                    Error::new(
                        ErrorKind::InvalidArgument,
                        "--sentry-address needs a join token: --join-token-file or WEFT_JOIN_TOKEN",
                    )
                })?;
                let pem = std::fs::read_to_string(bundle).map_err(|e| {
                    Error::new(
                        ErrorKind::InvalidArgument,
                        format!("--trust-bundle {}: {e}", bundle.display()),
                    )
                })?;
                SecurityConfig::new(sentry.clone(), pem, token)
            }
        }
        .trust_domain(config.trust_domain.clone());
        let identity =
            WorkloadIdentity::fetch(&security, &config.namespace, &config.app_id).await?;
        builder = builder.security(identity);
    }
    if let Some(file) = &config.access_control_file {
        builder = builder.access_control(AccessControl::from_file(file)?);
    }
    if let Some(addr) = config.metrics_address {
        builder = builder.metrics(addr);
    }
    if let Some(app) = &app {
        let app = app.clone();
        builder = builder.fallback_method(move |request| {
            let app = app.clone();
            async move { app.forward(request).await }
        });
    }
    let mut actor_types = Vec::new();
    if let Some(app) = &app {
        for entity in &app_config.entities {
            let (app, timers) = (app.clone(), Arc::clone(&timers));
            let mut registration = ActorRegistration::new(entity.as_str(), move |_id| AppActor {
                app: app.clone(),
                timers: Arc::clone(&timers),
            });
            if let Some(d) = app_config
                .actor_idle_timeout
                .as_deref()
                .and_then(go_duration)
            {
                registration = registration.idle_timeout(d);
            }
            if let Some(d) = app_config
                .actor_scan_interval
                .as_deref()
                .and_then(go_duration)
            {
                registration = registration.scan_interval(d);
            }
            if let Some(r) = &app_config.reentrancy {
                if r.enabled {
                    let mut reentrancy = Reentrancy::enabled();
                    if let Some(depth) = r.max_stack_depth {
                        reentrancy.max_stack_depth = depth;
                    }
                    registration = registration.reentrancy(reentrancy);
                }
            }
            builder = builder.register(registration);
            actor_types.push(entity.clone());
        }
    }
    let host = builder.start()?;
    host.handle()
        .wait_ready(std::time::Duration::from_secs(30))
        .await?;
    tracing::info!(app_id = %config.app_id, actor_types = ?actor_types,
        address = ?host.handle().address(), "weftd ready");
    let _ = ready_tx.send(Some(Arc::new(Ready {
        host: host.handle(),
        config,
        timers,
        actor_types,
    })));
    Ok(Running {
        http_addr,
        host,
        stop_http,
    })
}

/// A random 32-bit suffix for host ids.
fn rand_suffix() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    u32::try_from(h.finish() & 0xffff_ffff).unwrap_or(0)
}
