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
