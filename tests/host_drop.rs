//! Dropping a `Host` without `shutdown` stops every task it started: the invoke server, the
//! metrics server and the placement stream (placement then treats the host as failed).

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use support::TestPlacement;
use weft::{Actor, ActorRegistration, Call, ClusterConfig, Context, Error, Host, MemoryStore};

struct Echo;

impl Actor for Echo {
    async fn handle(&self, _ctx: &Context, call: Call) -> Result<Bytes, Error> {
        Ok(call.into_payload())
    }
}

/// Whether something still accepts connections at `addr`.
async fn accepts(addr: &str) -> bool {
    tokio::net::TcpStream::connect(addr).await.is_ok()
}

/// Polls `check` every 50 ms until it holds or `within` passes; whether it held.
async fn eventually<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = Instant::now() + within;
    while Instant::now() < until {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    check().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_host_stops_its_servers_and_its_placement_stream() {
    let placement = TestPlacement::start().await;
    let host = Host::builder()
        .app_id("dropper")
        .store(MemoryStore::new())
        .register(ActorRegistration::new("echo", |_id| Echo))
        .cluster(ClusterConfig::new("drop-1", placement.url.clone()))
        .metrics(SocketAddr::from(([127, 0, 0, 1], 0)))
        .start()
        .expect("host starts");
    let handle = host.handle();
    handle
        .wait_ready(Duration::from_secs(10))
        .await
        .expect("host joins placement");
    let address = handle.address().expect("a cluster host listens").to_owned();
    let metrics = handle.metrics_addr().expect("metrics listen").to_string();
    let reply = handle
        .call("echo", "e1", "say", Bytes::from_static(b"hi"))
        .await
        .expect("a call before the drop");
    assert_eq!(&reply[..], b"hi");
    assert!(accepts(&address).await && accepts(&metrics).await);
    assert_eq!(placement.host_ids().await, vec!["drop-1".to_owned()]);

    drop(host);

    assert!(
        eventually(Duration::from_secs(5), || async {
            !accepts(&address).await
        })
        .await,
        "the invoke server still accepts connections after the host was dropped"
    );
    assert!(
        eventually(Duration::from_secs(5), || async {
            !accepts(&metrics).await
        })
        .await,
        "the metrics server still accepts connections after the host was dropped"
    );
    // No heartbeats any more: placement declares the host failed after its faulty-host
    // timeout (2 s in the test placement) and takes it out of the cluster.
    assert!(
        eventually(Duration::from_secs(10), || async {
            placement.host_ids().await.is_empty()
        })
        .await,
        "placement still lists the dropped host: its placement stream kept running"
    );
    drop(handle);
    placement.stop().await;
}
