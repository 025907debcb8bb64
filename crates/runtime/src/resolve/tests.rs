use std::collections::HashMap;
use std::sync::Arc;

use super::*;

#[cfg(feature = "dns")]
mod dns;

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
