use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::timeout;

use super::*;
use crate::testing::FakeDns;

/// Every wait in these tests is bounded by this.
const LIMIT: Duration = Duration::from_secs(10);

fn addrs(instances: &[Instance]) -> Vec<String> {
    let mut a: Vec<String> = instances.iter().map(|i| i.address.clone()).collect();
    a.sort();
    a
}

// ---- split_app_id ----

#[test]
fn split_plain_app_uses_default_namespace() {
    assert_eq!(
        split_app_id("backend", "default").unwrap(),
        ("backend", "default")
    );
}

#[test]
fn split_app_with_namespace() {
    assert_eq!(
        split_app_id("backend.prod", "default").unwrap(),
        ("backend", "prod")
    );
    assert_eq!(
        split_app_id("my-app.ns-1", "x").unwrap(),
        ("my-app", "ns-1")
    );
}

#[test]
fn split_rejects_bad_targets() {
    for (target, default_ns) in [
        ("", "default"),
        (".prod", "default"),
        ("backend.", "default"),
        (".", "default"),
        ("backend", ""),
        ("a.b.c", "default"),
    ] {
        let err = split_app_id(target, default_ns).unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::InvalidArgument,
            "{target:?} / {default_ns:?}: {err}"
        );
    }
}

// ---- StaticResolver ----

#[tokio::test]
async fn static_resolves_known_apps() {
    let r = StaticResolver::from_pairs([
        (("backend", "default"), "127.0.0.1:1"),
        (("backend", "default"), "127.0.0.1:2"),
        (("backend", "prod"), "10.0.0.1:1"),
    ])
    .unwrap();
    let got = r.resolve("backend", "default").await.unwrap();
    assert_eq!(addrs(&got), ["127.0.0.1:1", "127.0.0.1:2"]);
    assert!(got
        .iter()
        .all(|i| i.app_id == "backend" && i.namespace == "default"));
    let got = r.resolve("backend", "prod").await.unwrap();
    assert_eq!(addrs(&got), ["10.0.0.1:1"]);
}

#[tokio::test]
async fn static_unknown_app_is_not_found() {
    let r = StaticResolver::from_pairs([(("backend", "default"), "127.0.0.1:1")]).unwrap();
    let err = r.resolve("frontend", "default").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(
        err.message()
            .contains("no instances of app `frontend` in namespace `default`"),
        "{err}"
    );
    // Known app, other namespace.
    let err = r.resolve("backend", "prod").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn static_from_yaml_and_map() {
    let r = StaticResolver::from_yaml(
        "apps:\n  - appId: backend\n    addresses: [\"127.0.0.1:1\", \"[::1]:2\"]\n  \
         - appId: cart\n    namespace: shop\n    addresses: [\"cart.local:80\"]\n",
    )
    .unwrap();
    assert_eq!(
        addrs(&r.resolve("backend", DEFAULT_NAMESPACE).await.unwrap()),
        ["127.0.0.1:1", "[::1]:2"]
    );
    assert_eq!(
        addrs(&r.resolve("cart", "shop").await.unwrap()),
        ["cart.local:80"]
    );

    let mut map = HashMap::new();
    map.insert(("a".to_owned(), "n".to_owned()), vec!["h:1".to_owned()]);
    let r = StaticResolver::new(map).unwrap();
    assert_eq!(r.resolve("a", "n").await.unwrap().len(), 1);
    // Usable as a trait object.
    let dynr: Arc<dyn NameResolver> = Arc::new(r);
    assert_eq!(dynr.resolve("a", "n").await.unwrap().len(), 1);
}

#[test]
fn static_rejects_bad_config() {
    for doc in [
        "apps: [{appId: backend, addresses: [\"no-port\"]}]",
        "apps: [{appId: backend, addresses: [\"h:notaport\"]}]",
        "apps: [{appId: \"\", addresses: [\"h:1\"]}]",
        "apps: [{appId: backend, namespace: \"\", addresses: [\"h:1\"]}]",
        "apps: [{appId: backend, addresses: [\"h:1\"], bogus: 1}]",
        "not: [valid",
    ] {
        let err = StaticResolver::from_yaml(doc).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{doc}: {err}");
    }
}

// ---- DnsResolver, against a fake DNS server ----

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
