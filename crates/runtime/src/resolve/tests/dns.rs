//! `DnsResolver` against a fake DNS server (feature `dns`).

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::timeout;

use super::*;
use crate::testing::FakeDns;

/// Every wait in these tests is bounded by this.
const LIMIT: Duration = Duration::from_secs(10);

const THREE: [Ipv4Addr; 3] = [
    Ipv4Addr::new(127, 0, 0, 1),
    Ipv4Addr::new(127, 0, 0, 2),
    Ipv4Addr::new(127, 0, 0, 3),
];

fn dns_for(server: &FakeDns) -> DnsResolverBuilder {
    DnsResolver::builder()
        .nameserver(server.addr)
        .port(7000)
        .timeout(Duration::from_millis(500))
        .attempts(1)
}

async fn resolve(r: &DnsResolver, app: &str, ns: &str) -> Result<Arc<[Instance]>, Error> {
    timeout(LIMIT, r.resolve(app, ns))
        .await
        .expect("resolve hung")
}

#[tokio::test]
async fn dns_returns_every_record_with_the_port() {
    let server = FakeDns::start(&[("backend", &THREE)]).await;
    let r = dns_for(&server).build().unwrap();
    let got = resolve(&r, "backend", "default").await.unwrap();
    assert_eq!(
        addrs(&got),
        ["127.0.0.1:7000", "127.0.0.2:7000", "127.0.0.3:7000"]
    );
    assert!(got
        .iter()
        .all(|i| i.app_id == "backend" && i.namespace == "default"));
}

#[tokio::test]
async fn dns_template_includes_namespace() {
    let server = FakeDns::start(&[("backend.prod.svc.cluster.local", &THREE[..1])]).await;
    let r = dns_for(&server)
        .template("{app}.{namespace}.svc.cluster.local")
        .build()
        .unwrap();
    let got = resolve(&r, "backend", "prod").await.unwrap();
    assert_eq!(addrs(&got), ["127.0.0.1:7000"]);
    let err = resolve(&r, "backend", "dev").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

#[tokio::test]
async fn dns_nxdomain_is_not_found() {
    let server = FakeDns::start(&[("backend", &THREE)]).await;
    let r = dns_for(&server).build().unwrap();
    let err = resolve(&r, "nosuchapp", "default").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(
        err.message()
            .contains("no instances of app `nosuchapp` in namespace `default`"),
        "{err}"
    );
}

#[tokio::test]
async fn dns_silent_server_is_unavailable() {
    // A bound socket that never answers.
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let r = DnsResolver::builder()
        .nameserver(silent.local_addr().unwrap())
        .timeout(Duration::from_millis(200))
        .attempts(1)
        .build()
        .unwrap();
    let err = resolve(&r, "backend", "default").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
}

#[tokio::test]
async fn dns_picks_up_changes_after_ttl() {
    let server = FakeDns::start(&[("backend", &THREE)]).await;
    // The records' TTL (1 s) is below the cap: the cache honours it.
    let r = dns_for(&server)
        .max_ttl(Duration::from_secs(30))
        .build()
        .unwrap();
    assert_eq!(resolve(&r, "backend", "default").await.unwrap().len(), 3);

    server.set("backend", &THREE[..2]);
    // Still cached.
    assert_eq!(resolve(&r, "backend", "default").await.unwrap().len(), 3);

    // Within a bounded time the new answer shows.
    let picked_up = timeout(LIMIT, async {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if resolve(&r, "backend", "default").await.unwrap().len() == 2 {
                return;
            }
        }
    })
    .await;
    assert!(picked_up.is_ok(), "the change was not picked up");
}

#[tokio::test]
async fn dns_cache_cap_below_record_ttl() {
    let server = FakeDns::start(&[("backend", &THREE)]).await;
    let r = dns_for(&server)
        .max_ttl(Duration::from_millis(200))
        .build()
        .unwrap();
    assert_eq!(resolve(&r, "backend", "default").await.unwrap().len(), 3);
    server.set("backend", &THREE[..1]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = resolve(&r, "backend", "default").await.unwrap();
    assert_eq!(addrs(&got), ["127.0.0.1:7000"]);
}

#[test]
fn dns_builder_validates() {
    let ns: SocketAddr = "127.0.0.1:53".parse().unwrap();
    for b in [
        DnsResolver::builder(),
        DnsResolver::builder()
            .nameserver(ns)
            .template("static.name"),
        DnsResolver::builder().nameserver(ns).attempts(0),
        DnsResolver::builder()
            .nameserver(ns)
            .timeout(Duration::ZERO),
    ] {
        assert_eq!(b.build().unwrap_err().kind(), ErrorKind::InvalidArgument);
    }
}
