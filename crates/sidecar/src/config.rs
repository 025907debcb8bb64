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

    /// Serves Prometheus metrics at http://<address>/metrics.
    #[arg(long)]
    pub metrics_address: Option<SocketAddr>,

    /// How long to wait for the app's `GET /dapr/config` at start.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub app_config_timeout: Duration,

    /// The largest request body the HTTP API takes, in bytes (Dapr's default: 4 MiB).
    #[arg(long, default_value_t = 4 * 1024 * 1024)]
    pub max_request_bytes: usize,

    /// The default timeout of calls made through the API.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub call_timeout: Duration,
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
