//! `weftd`'s settings: command-line flags, with Dapr's environment variable names where they
//! exist (`APP_ID`, `APP_PORT`, `DAPR_HTTP_PORT`, `NAMESPACE`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// How `weftd` runs: who its app is, where it listens, how it finds other apps and actors.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "weftd",
    version,
    about = "A Dapr-compatible sidecar running a Weft host"
)]
#[non_exhaustive]
pub struct Config {
    /// This app's id (Dapr: --app-id).
    #[arg(long, env = "APP_ID")]
    pub app_id: String,

    /// The port the app listens on, on 127.0.0.1 (Dapr: --app-port). Without it, `weftd` only
    /// makes calls: nothing is forwarded to an app and no actor types are hosted.
    #[arg(long, env = "APP_PORT")]
    pub app_port: Option<u16>,

    /// The port of the Dapr HTTP API (Dapr: --dapr-http-port).
    #[arg(long, env = "DAPR_HTTP_PORT", default_value_t = 3500)]
    pub dapr_http_port: u16,

    /// The address the Dapr HTTP API binds (Dapr: --dapr-listen-addresses).
    #[arg(long, default_value = "127.0.0.1")]
    pub dapr_listen_address: std::net::IpAddr,

    /// The placement server, `host:port` or `http://host:port` (Dapr:
    /// --placement-host-address). With it, `weftd` joins the cluster: it hosts the app's actor
    /// types, reaches every actor, and resolves app ids through the placement registry.
    #[arg(long, env = "DAPR_PLACEMENT_HOST_ADDRESS")]
    pub placement_host_address: Option<String>,

    /// Where other hosts reach this one (host-to-host gRPC). Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub internal_address: SocketAddr,

    /// This host's id in the cluster. Defaults to `<app-id>-<random>`.
    #[arg(long)]
    pub host_id: Option<String>,

    /// The namespace (Dapr: NAMESPACE).
    #[arg(long, env = "NAMESPACE", default_value = "default")]
    pub namespace: String,

    /// A static name-resolution file (YAML: `apps: [{app_id, namespace, addresses}]`); the
    /// default is the placement registry.
    #[arg(long)]
    pub resolver_file: Option<PathBuf>,

    /// A resiliency policy file (Dapr's `kind: Resiliency`, YAML or JSON).
    #[arg(long)]
    pub resiliency_file: Option<PathBuf>,

    /// The actor state store: `memory`, `sled:<dir>` or a `redis://` URL. Actors that move
    /// between hosts need a shared store (Redis).
    #[arg(long, default_value = "memory")]
    pub state_store: String,

    /// Serves Prometheus metrics at `http://<address>/metrics`.
    #[arg(long)]
    pub metrics_address: Option<SocketAddr>,

    /// How long to wait for the app's `GET /dapr/config` at start.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub app_config_timeout: Duration,

    /// The largest request body the HTTP API takes, in bytes (Dapr's default: 4 MiB).
    #[arg(long, default_value_t = 4 * 1024 * 1024)]
    pub max_request_bytes: usize,

    /// The Sentry (the CA) to get this host's workload certificate from, `host:port` (Dapr:
    /// --sentry-address). With it, every host-to-host and host-to-placement connection is
    /// mutual TLS; without it, `weftd` runs in plain text and says so loudly.
    #[arg(long)]
    pub sentry_address: Option<String>,

    /// The trust bundle (the Sentry's `ca.crt`), required with --sentry-address.
    #[arg(long)]
    pub trust_bundle: Option<PathBuf>,

    /// A file with the join token; without it, `WEFT_JOIN_TOKEN` is read.
    #[arg(long)]
    pub join_token_file: Option<PathBuf>,

    /// The trust domain of the workload identities.
    #[arg(long, default_value = "cluster.local")]
    pub trust_domain: String,

    /// An access-control policy file (Dapr's `accessControl`, YAML) for calls to this app.
    #[arg(long)]
    pub access_control_file: Option<PathBuf>,

    /// Probe the app's health and stop sending it service calls while it is unhealthy (Dapr:
    /// --enable-app-health-check).
    #[arg(long)]
    pub enable_app_health_check: bool,

    /// The path of the app's health endpoint (Dapr: --app-health-check-path).
    #[arg(long, default_value = "/healthz")]
    pub app_health_check_path: String,

    /// How often the app's health is probed (Dapr: --app-health-probe-interval).
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub app_health_probe_interval: Duration,

    /// Failed probes in a row before the app counts as unhealthy (Dapr:
    /// --app-health-threshold).
    #[arg(long, default_value_t = 3)]
    pub app_health_threshold: u32,

    /// The default timeout of calls made through the API.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub call_timeout: Duration,

    /// When set, every API call must carry this value in a `dapr-api-token` header; others get
    /// 401. `/v1.0/healthz` and `/v1.0/healthz/outbound` stay open (Dapr: DAPR_API_TOKEN).
    #[arg(long, env = "DAPR_API_TOKEN", hide_env_values = true)]
    pub api_token: Option<Secret>,

    /// When set, weftd sends it to the app as a `dapr-api-token` header on every request, so
    /// the app can check that a call comes from its sidecar (Dapr: APP_API_TOKEN).
    #[arg(long, env = "APP_API_TOKEN", hide_env_values = true)]
    pub app_api_token: Option<Secret>,

    /// Connection limits of the HTTP API and the metrics endpoint.
    #[command(flatten)]
    pub http_limits: weft_http::LimitFlags,
}

/// A token: compared in constant time, never printed (`Debug` shows `Secret(..)`).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token, to send.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `candidate` is this token, in time that depends only on their lengths.
    pub(crate) fn matches(&self, candidate: &[u8]) -> bool {
        let expected = self.0.as_bytes();
        expected.len() == candidate.len()
            && expected
                .iter()
                .zip(candidate)
                .fold(0u8, |diff, (a, b)| diff | (a ^ b))
                == 0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl Config {
    /// A configuration for `app_id` with every other setting at its default.
    pub fn new(app_id: impl Into<String>) -> Self {
        Self {
            app_id: app_id.into(),
            app_port: None,
            dapr_http_port: 3500,
            dapr_listen_address: std::net::IpAddr::from([127, 0, 0, 1]),
            placement_host_address: None,
            internal_address: SocketAddr::from(([127, 0, 0, 1], 0)),
            host_id: None,
            namespace: "default".to_owned(),
            resolver_file: None,
            resiliency_file: None,
            state_store: "memory".to_owned(),
            metrics_address: None,
            app_config_timeout: Duration::from_secs(30),
            max_request_bytes: 4 * 1024 * 1024,
            call_timeout: Duration::from_secs(60),
            sentry_address: None,
            trust_bundle: None,
            join_token_file: None,
            trust_domain: "cluster.local".to_owned(),
            access_control_file: None,
            enable_app_health_check: false,
            app_health_check_path: "/healthz".to_owned(),
            app_health_probe_interval: Duration::from_secs(5),
            app_health_threshold: 3,
            api_token: None,
            app_api_token: None,
            http_limits: weft_http::LimitFlags {
                http_header_read_timeout: weft_http::DEFAULT_HEADER_READ_TIMEOUT,
                http_idle_timeout: weft_http::DEFAULT_IDLE_TIMEOUT,
                http_max_connections: weft_http::DEFAULT_MAX_CONNECTIONS,
            },
        }
    }

    /// Sets [`app_id`](Self::app_id). Default: (set by [`Config::new`]).
    pub fn app_id(mut self, app_id: impl Into<String>) -> Self {
        self.app_id = app_id.into();
        self
    }

    /// Sets [`app_port`](Self::app_port). Default: none (`weftd` only makes calls).
    pub fn app_port(mut self, app_port: u16) -> Self {
        self.app_port = Some(app_port);
        self
    }

    /// Sets [`dapr_http_port`](Self::dapr_http_port). Default: 3500.
    pub fn dapr_http_port(mut self, dapr_http_port: u16) -> Self {
        self.dapr_http_port = dapr_http_port;
        self
    }

    /// Sets [`dapr_listen_address`](Self::dapr_listen_address). Default: `127.0.0.1`.
    pub fn dapr_listen_address(mut self, dapr_listen_address: std::net::IpAddr) -> Self {
        self.dapr_listen_address = dapr_listen_address;
        self
    }

    /// Sets [`placement_host_address`](Self::placement_host_address). Default: none (no cluster).
    pub fn placement_host_address(mut self, placement_host_address: impl Into<String>) -> Self {
        self.placement_host_address = Some(placement_host_address.into());
        self
    }

    /// Sets [`internal_address`](Self::internal_address). Default: `127.0.0.1:0`.
    pub fn internal_address(mut self, internal_address: SocketAddr) -> Self {
        self.internal_address = internal_address;
        self
    }

    /// Sets [`host_id`](Self::host_id). Default: `<app-id>-<random>`.
    pub fn host_id(mut self, host_id: impl Into<String>) -> Self {
        self.host_id = Some(host_id.into());
        self
    }

    /// Sets [`namespace`](Self::namespace). Default: `"default"`.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Sets [`resolver_file`](Self::resolver_file). Default: none (the placement registry).
    pub fn resolver_file(mut self, resolver_file: impl Into<PathBuf>) -> Self {
        self.resolver_file = Some(resolver_file.into());
        self
    }

    /// Sets [`resiliency_file`](Self::resiliency_file). Default: none.
    pub fn resiliency_file(mut self, resiliency_file: impl Into<PathBuf>) -> Self {
        self.resiliency_file = Some(resiliency_file.into());
        self
    }

    /// Sets [`state_store`](Self::state_store). Default: `"memory"`.
    pub fn state_store(mut self, state_store: impl Into<String>) -> Self {
        self.state_store = state_store.into();
        self
    }

    /// Sets [`metrics_address`](Self::metrics_address). Default: none (no metrics endpoint).
    pub fn metrics_address(mut self, metrics_address: SocketAddr) -> Self {
        self.metrics_address = Some(metrics_address);
        self
    }

    /// Sets [`app_config_timeout`](Self::app_config_timeout). Default: 30 s.
    pub fn app_config_timeout(mut self, app_config_timeout: Duration) -> Self {
        self.app_config_timeout = app_config_timeout;
        self
    }

    /// Sets [`max_request_bytes`](Self::max_request_bytes). Default: 4 MiB.
    pub fn max_request_bytes(mut self, max_request_bytes: usize) -> Self {
        self.max_request_bytes = max_request_bytes;
        self
    }

    /// Sets [`sentry_address`](Self::sentry_address). Default: none (plain text).
    pub fn sentry_address(mut self, sentry_address: impl Into<String>) -> Self {
        self.sentry_address = Some(sentry_address.into());
        self
    }

    /// Sets [`trust_bundle`](Self::trust_bundle). Default: none.
    pub fn trust_bundle(mut self, trust_bundle: impl Into<PathBuf>) -> Self {
        self.trust_bundle = Some(trust_bundle.into());
        self
    }

    /// Sets [`join_token_file`](Self::join_token_file). Default: none (`WEFT_JOIN_TOKEN` is read).
    pub fn join_token_file(mut self, join_token_file: impl Into<PathBuf>) -> Self {
        self.join_token_file = Some(join_token_file.into());
        self
    }

    /// Sets [`trust_domain`](Self::trust_domain). Default: `"cluster.local"`.
    pub fn trust_domain(mut self, trust_domain: impl Into<String>) -> Self {
        self.trust_domain = trust_domain.into();
        self
    }

    /// Sets [`access_control_file`](Self::access_control_file). Default: none (every caller allowed).
    pub fn access_control_file(mut self, access_control_file: impl Into<PathBuf>) -> Self {
        self.access_control_file = Some(access_control_file.into());
        self
    }

    /// Sets [`enable_app_health_check`](Self::enable_app_health_check). Default: off.
    pub fn enable_app_health_check(mut self, enable_app_health_check: bool) -> Self {
        self.enable_app_health_check = enable_app_health_check;
        self
    }

    /// Sets [`app_health_check_path`](Self::app_health_check_path). Default: `"/healthz"`.
    pub fn app_health_check_path(mut self, app_health_check_path: impl Into<String>) -> Self {
        self.app_health_check_path = app_health_check_path.into();
        self
    }

    /// Sets [`app_health_probe_interval`](Self::app_health_probe_interval). Default: 5 s.
    pub fn app_health_probe_interval(mut self, app_health_probe_interval: Duration) -> Self {
        self.app_health_probe_interval = app_health_probe_interval;
        self
    }

    /// Sets [`app_health_threshold`](Self::app_health_threshold). Default: 3.
    pub fn app_health_threshold(mut self, app_health_threshold: u32) -> Self {
        self.app_health_threshold = app_health_threshold;
        self
    }

    /// Sets [`call_timeout`](Self::call_timeout). Default: 60 s.
    pub fn call_timeout(mut self, call_timeout: Duration) -> Self {
        self.call_timeout = call_timeout;
        self
    }

    /// Sets [`api_token`](Self::api_token). Default: none (the API is open).
    pub fn api_token(mut self, api_token: Secret) -> Self {
        self.api_token = Some(api_token);
        self
    }

    /// Sets [`app_api_token`](Self::app_api_token). Default: none.
    pub fn app_api_token(mut self, app_api_token: Secret) -> Self {
        self.app_api_token = Some(app_api_token);
        self
    }

    /// Sets [`http_limits`](Self::http_limits). Default: `weft_http`'s defaults.
    pub fn http_limits(mut self, http_limits: weft_http::LimitFlags) -> Self {
        self.http_limits = http_limits;
        self
    }

    /// The placement address as a URL.
    pub(crate) fn placement_url(&self) -> Option<String> {
        self.placement_host_address.as_ref().map(|a| {
            if a.starts_with("http://") || a.starts_with("https://") {
                a.clone()
            } else {
                format!("http://{a}")
            }
        })
    }
}
