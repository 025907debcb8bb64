//! Service invocation over real sockets: round-robin (static list, DNS records, placement
//! registry), namespaces, bad input, trace propagation and metrics.

mod service_support;
mod support;

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use service_support::{eventually, http_get, loopback, Calls, Instance};
use support::TestPlacement;
use weft::resolve::{DnsResolver, StaticResolver};
use weft::telemetry::TraceContext;
use weft::testing::FakeDns;
use weft::{ClusterConfig, ErrorKind, Host, HostHandle, ServiceCall};

const LIMIT: Duration = Duration::from_secs(15);

async fn three_backends() -> Vec<Instance> {
    let mut all = Vec::new();
    for name in ["b1", "b2", "b3"] {
        all.push(Instance::backend(name, loopback(1)).await);
    }
    all
}

fn static_frontend(instances: &[&Instance]) -> HostHandle {
    let resolver = StaticResolver::from_pairs(
        instances
            .iter()
            .map(|i| (("backend", "default"), i.address.to_string())),
    )
    .unwrap();
    let host = Host::builder()
        .app_id("frontend")
        .resolver(resolver)
        .start()
        .unwrap();
    let handle = host.handle();
    std::mem::forget(host); // lives for the test
    handle
}

/// Calls `whoami` `n` times; how many landed on each instance.
async fn spread(frontend: &HostHandle, n: usize) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for _ in 0..n {
        let who = frontend
            .invoke("backend", "whoami", Bytes::new())
            .await
            .unwrap_or_else(|e| panic!("whoami failed: {e}"));
        *seen
            .entry(String::from_utf8(who.to_vec()).unwrap())
            .or_default() += 1;
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_calls_land_one_hundred_on_each_of_three_instances() {
    let backends = three_backends().await;
    let frontend = static_frontend(&backends.iter().collect::<Vec<_>>());
    let seen = spread(&frontend, 300).await;
    for b in &backends {
        assert_eq!(seen.get(&b.name), Some(&100), "{seen:?}");
        assert_eq!(b.calls.count("whoami"), 100);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dns_name_with_three_records_round_robins_across_them() {
    // One port, three loopback addresses: what a Kubernetes service or Container Apps' internal
    // DNS name looks like to a caller.
    let first = Instance::backend("b1", loopback(1)).await;
    let port = first.address.port();
    let second = Instance::backend("b2", ([127, 0, 0, 2], port).into()).await;
    let third = Instance::backend("b3", ([127, 0, 0, 3], port).into()).await;
    let ips = [
        Ipv4Addr::new(127, 0, 0, 1),
        Ipv4Addr::new(127, 0, 0, 2),
        Ipv4Addr::new(127, 0, 0, 3),
    ];
    let dns = FakeDns::start(&[("backend", &ips)]).await;
    let resolver = DnsResolver::builder()
        .nameserver(dns.addr)
        .port(port)
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let host = Host::builder()
        .app_id("frontend")
        .resolver(resolver)
        .start()
        .unwrap();
    let seen = spread(&host.handle(), 300).await;
    for b in [&first, &second, &third] {
        assert_eq!(seen.get(&b.name), Some(&100), "{seen:?}");
    }
    host.shutdown().await.unwrap();
}

/// A service-only cluster host of `app` (no actor types), on its own runtime.
async fn registry_instance(placement: &TestPlacement, name: &str, app: &str) -> Instance {
    let url = placement.url.clone();
    let n = name.to_owned();
    let app = app.to_owned();
    let calls = Arc::new(Calls::default());
    let c = calls.clone();
    Instance::start(name, calls, move |b| {
        let b = service_support::backend(b, &n, c).app_id(app);
        b.cluster(ClusterConfig::new(n.clone(), url).heartbeat_interval(Duration::from_millis(200)))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_placement_registry_resolves_app_ids_and_picks_up_new_instances() {
    let placement = TestPlacement::start().await;
    let b1 = registry_instance(&placement, "b1", "backend").await;
    let b2 = registry_instance(&placement, "b2", "backend").await;
    let frontend = registry_instance(&placement, "f1", "frontend").await;
    let f = frontend.handle.clone();
    eventually(LIMIT, "both instances registered", || {
        let f = f.clone();
        async move {
            let b = f.resolve_instances("backend").await.ok()?;
            (b.len() == 2).then_some(())
        }
    })
    .await;
    let seen = spread(&f, 100).await;
    assert_eq!(seen.get("b1"), Some(&50), "{seen:?}");
    assert_eq!(seen.get("b2"), Some(&50), "{seen:?}");

    // A third instance gets traffic without restarting anyone.
    let b3 = registry_instance(&placement, "b3", "backend").await;
    eventually(LIMIT, "the new instance gets calls", || {
        let f = f.clone();
        async move { spread(&f, 3).await.contains_key("b3").then_some(()) }
    })
    .await;
    assert_eq!(f.resolve_instances("backend").await.unwrap().len(), 3);
    assert!(b3.calls.count("whoami") > 0);
    // The frontend's own app id resolves too, to itself.
    let me = f.invoke("frontend", "whoami", Bytes::new()).await.unwrap();
    assert_eq!(&me[..], b"f1");
    drop((b1, b2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_id_dot_namespace_reaches_another_namespace() {
    let prod = Instance::backend_with("p1", loopback(1), Arc::new(Calls::default()), |b| {
        b.namespace("prod")
    })
    .await;
    let resolver =
        StaticResolver::from_pairs([(("backend", "prod"), prod.address.to_string())]).unwrap();
    let host = Host::builder()
        .app_id("frontend")
        .resolver(resolver)
        .start()
        .unwrap();
    let f = host.handle();
    let who = f.invoke("backend.prod", "whoami", Bytes::new()).await;
    assert_eq!(&who.unwrap()[..], b"p1");
    let err = f
        .invoke("backend", "whoami", Bytes::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(
        err.message()
            .contains("no instances of app `backend` in namespace `default`"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clear_errors_and_the_instance_keeps_serving() {
    let b = Instance::backend("b1", loopback(1)).await;
    let f = static_frontend(&[&b]);

    let err = f.invoke("nope", "whoami", Bytes::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(
        err.message().contains("no instances of app `nope`"),
        "{err}"
    );

    let err = f.invoke("backend", "nope", Bytes::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(
        err.message().contains("app `backend` has no method `nope`")
            && err.message().contains("whoami"),
        "{err}"
    );

    let err = f
        .invoke("backend", "add", Bytes::from_static(b"{\"a\": 1,"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(
        err.message().contains("malformed payload for method `add`"),
        "{err}"
    );
    let sum: i64 = f
        .invoke_json("backend", "add", &serde_json::json!({"a": 2, "b": 40}))
        .await
        .unwrap();
    assert_eq!(sum, 42);

    for (app, method) in [("a.b.c", "whoami"), ("", "whoami"), ("backend", "")] {
        let err = f.invoke(app, method, Bytes::new()).await.unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::InvalidArgument,
            "{app:?} {method:?}: {err}"
        );
    }

    let err = f
        .invoke("backend", "missing", Bytes::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AppError, "{err}");
    assert_eq!(err.status(), Some(404));
    assert_eq!(err.app_error().map(|b| &b[..]), Some(&b"no such item"[..]));
    let full = f
        .send(ServiceCall::new("backend", "missing").verb("GET"))
        .await
        .unwrap();
    assert_eq!(full.status(), 404, "send returns the status as data");

    let err = f
        .invoke("backend", "panic", Bytes::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Internal, "{err}");
    assert!(err.message().contains("handler blew up"), "{err}");

    // A host without a resolver says so.
    let lonely = Host::builder().app_id("lonely").start().unwrap();
    let err = lonely
        .handle()
        .invoke("backend", "whoami", Bytes::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.message().contains("no name resolver"), "{err}");

    // After all that, the instance still serves.
    let who = f.invoke("backend", "whoami", Bytes::new()).await.unwrap();
    assert_eq!(&who[..], b"b1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callee_continues_the_callers_trace_and_metrics_count_the_calls() {
    let b = Instance::backend("b1", loopback(1)).await;
    let resolver =
        StaticResolver::from_pairs([(("backend", "default"), b.address.to_string())]).unwrap();
    let host = Host::builder()
        .app_id("frontend")
        .resolver(resolver)
        .metrics(loopback(1))
        .start()
        .unwrap();
    let f = host.handle();

    let root = TraceContext::new_root();
    let seen = f
        .send(ServiceCall::new("backend", "trace").trace(&root))
        .await
        .unwrap();
    let seen = TraceContext::parse(std::str::from_utf8(seen.body()).unwrap()).unwrap();
    assert_eq!(seen.trace_id(), root.trace_id(), "same trace");
    assert_ne!(
        seen.parent_id(),
        root.parent_id(),
        "a new span of the caller"
    );
    assert_eq!(
        b.calls.last_traceparent.lock().unwrap().as_deref(),
        Some(seen.to_header().as_str())
    );

    // Without a trace of its own, a call starts one.
    let fresh = f.invoke("backend", "trace", Bytes::new()).await.unwrap();
    let fresh = TraceContext::parse(std::str::from_utf8(&fresh).unwrap()).unwrap();
    assert_ne!(fresh.trace_id(), root.trace_id());

    let _ = f.invoke("backend", "nope", Bytes::new()).await.unwrap_err();

    let text = http_get(f.metrics_addr().unwrap(), "/metrics").await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.contains(
            r#"weft_requests_total{kind="service",target="backend",method="trace",outcome="ok"} 2"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"weft_requests_total{kind="service",target="backend",method="nope",outcome="invalid_request"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"weft_request_duration_seconds_count{kind="service",target="backend",outcome="ok"} 2"#
        ),
        "{text}"
    );
    host.shutdown().await.unwrap();
}
