//! Multi-host test harness: a real placement server and real hosts over loopback gRPC, in one
//! process. Each host runs on its own tokio runtime, so `kill` can drop it abruptly (sockets
//! close, no goodbye, nothing deactivates or commits), as a crashed process would.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use weft::{ClusterConfig, Host, HostBuilder, HostHandle, StateStore};
use weft_placement::{PlacementConfig, RunningPlacement};

pub mod reminders;

/// A real placement server on loopback, in this process.
pub struct TestPlacement {
    running: RunningPlacement,
    pub url: String,
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
}

impl TestPlacement {
    /// On a free port.
    pub async fn start() -> TestPlacement {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// On a given address (to restart on the same one).
    pub async fn start_on(addr: SocketAddr) -> TestPlacement {
        let config = PlacementConfig {
            faulty_host_timeout: Duration::from_secs(2),
            ack_timeout: Duration::from_secs(3),
            lock_timeout: Duration::from_secs(5),
            ..PlacementConfig::default()
        };
        let http = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut last = None;
        // Restarting on the same port may race the old listener's close for a moment.
        for _ in 0..50 {
            match weft_placement::start(config.clone(), addr, Some(http)).await {
                Ok(running) => {
                    return TestPlacement {
                        url: running.grpc_uri(),
                        grpc_addr: running.grpc_addr(),
                        http_addr: running.http_addr().expect("http view"),
                        running,
                    }
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("placement did not start on {addr}: {last:?}");
    }

    pub async fn stop(self) {
        self.running.shutdown().await.expect("placement shuts down");
    }

    /// `GET /placement/state`, parsed.
    pub async fn state_json(&self) -> serde_json::Value {
        let mut stream = tokio::net::TcpStream::connect(self.http_addr)
            .await
            .expect("http connect");
        let request = format!(
            "GET /placement/state HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.http_addr
        );
        stream
            .write_all(request.as_bytes())
            .await
            .expect("http write");
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.expect("http read");
        let text = String::from_utf8_lossy(&response);
        let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        serde_json::from_str(body.trim())
            .unwrap_or_else(|e| panic!("state is not JSON ({e}): {text}"))
    }
}

/// A host of the test cluster.
pub struct TestHost {
    pub id: String,
    pub handle: HostHandle,
    host: Option<Host>,
    rt: Option<tokio::runtime::Runtime>,
}

impl TestHost {
    /// Starts host `id` on its own runtime, joined to `placement`, with the given actors.
    pub async fn start(
        id: &str,
        placement: &str,
        store: Arc<dyn StateStore>,
        actors: impl FnOnce(HostBuilder) -> HostBuilder + Send + 'static,
    ) -> TestHost {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(format!("host-{id}"))
            .enable_all()
            .build()
            .expect("host runtime");
        let config =
            ClusterConfig::new(id, placement).heartbeat_interval(Duration::from_millis(200));
        let host = rt
            .spawn(async move {
                actors(
                    Host::builder()
                        .app_id("shop")
                        .shared_store(store)
                        .cluster(config),
                )
                .start()
            })
            .await
            .expect("host start task")
            .expect("host starts");
        let handle = host.handle();
        TestHost {
            id: id.to_owned(),
            handle,
            host: Some(host),
            rt: Some(rt),
        }
    }

    /// Waits until placement placed this host's actor types on it.
    pub async fn ready(&self) {
        self.handle
            .wait_ready(Duration::from_secs(15))
            .await
            .unwrap_or_else(|e| panic!("host {} not ready: {e}", self.id));
    }

    /// Graceful stop: actors deactivate and commit, then the host leaves placement.
    pub async fn stop(mut self) {
        if let (Some(host), Some(rt)) = (self.host.take(), self.rt.as_ref()) {
            rt.spawn(host.shutdown())
                .await
                .expect("shutdown task")
                .expect("graceful shutdown");
        }
    }

    /// Abrupt death: the runtime is dropped with everything on it.
    pub fn kill(mut self) {
        if let Some(host) = self.host.take() {
            std::mem::forget(host); // no Drop logic: a crash runs none
        }
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// Starts counter hosts `ids` on one shared store and waits until placement placed them all.
pub async fn start_counter_hosts(
    placement: &TestPlacement,
    store: &Arc<dyn StateStore>,
    ids: &[&str],
) -> Vec<TestHost> {
    let mut hosts = Vec::new();
    for id in ids {
        hosts.push(
            TestHost::start(id, &placement.url, Arc::clone(store), |b| {
                b.actor::<Counter>()
            })
            .await,
        );
    }
    for h in &hosts {
        h.ready().await;
    }
    hosts
}

/// Who holds which activation, to catch an actor active on two hosts at once.
#[derive(Debug, Default)]
pub struct Registry {
    active: Mutex<HashMap<String, String>>,
    pub violations: Mutex<Vec<String>>,
}

impl Registry {
    pub fn activated(&self, actor: &str, host: &str) {
        let mut active = self.active.lock().unwrap();
        if let Some(other) = active.insert(actor.to_owned(), host.to_owned()) {
            if other != host {
                self.violations.lock().unwrap().push(format!(
                    "{actor} activated on {host} while active on {other}"
                ));
            }
        }
    }

    pub fn deactivated(&self, actor: &str, host: &str) {
        let mut active = self.active.lock().unwrap();
        if active.get(actor).is_some_and(|h| h == host) {
            active.remove(actor);
        }
    }

    /// A host died: its activations died with it.
    pub fn host_died(&self, host: &str) {
        self.active.lock().unwrap().retain(|_, h| h != host);
    }

    pub fn violations(&self) -> Vec<String> {
        self.violations.lock().unwrap().clone()
    }

    pub fn hosts_of(&self) -> HashMap<String, String> {
        self.active.lock().unwrap().clone()
    }
}

/// The activation registry of this test process.
pub static REGISTRY: std::sync::LazyLock<Registry> = std::sync::LazyLock::new(Registry::default);

/// A durable counter that reports its activations to [`REGISTRY`].
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Counter {
    n: u64,
}

#[weft::actor]
impl Counter {
    async fn on_activate(&self, ctx: &weft::Context) {
        REGISTRY.activated(&ctx.key().to_string(), ctx.host().host_id().unwrap_or("?"));
    }

    async fn on_deactivate(&self, ctx: &weft::Context) {
        REGISTRY.deactivated(&ctx.key().to_string(), ctx.host().host_id().unwrap_or("?"));
    }

    /// Adds one; returns the new count.
    pub async fn incr(&mut self) -> u64 {
        self.n += 1;
        self.n
    }

    /// The count.
    pub async fn get(&self) -> u64 {
        self.n
    }

    /// The id of the host running this activation.
    pub async fn host(&self, ctx: &weft::Context) -> String {
        ctx.host().host_id().unwrap_or("?").to_owned()
    }

    /// Calls `incr` on another counter (an actor-to-actor call, possibly across hosts).
    pub async fn bump_other(&self, ctx: &weft::Context, other: String) -> Result<u64, String> {
        ctx.actor::<Counter>(other)
            .incr()
            .await
            .map_err(|e| e.to_string())
    }
}
