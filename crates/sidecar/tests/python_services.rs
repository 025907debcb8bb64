//! Two Python services on weftd, the official Dapr SDK and plain `requests` on the caller side:
//! service invocation by app id across two instances of the callee, round-robin, pass-through
//! of verbs, query strings, headers, bodies and statuses, and Dapr's error bodies.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use support::{free_port, placement, python_app, run_json, wait_for_port, Weftd};

const LIMIT: Duration = Duration::from_secs(60);

fn counts(list: &serde_json::Value) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for v in list.as_array().expect("a list") {
        *seen
            .entry(v.as_str().expect("a name").to_owned())
            .or_default() += 1;
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_services_call_each_other_by_app_id_round_robin_over_two_instances() {
    let (placement, address) = placement().await;
    let mut sidecars = Vec::new();
    let mut apps = Vec::new();
    for name in ["callee-1", "callee-2"] {
        let app_port = free_port();
        let sidecar = Weftd::start("callee", Some(app_port), &address, &[]);
        apps.push(python_app(
            name,
            "service_app.py",
            &[&app_port.to_string(), name],
            sidecar.http_port,
        ));
        wait_for_port(app_port, LIMIT).await;
        sidecars.push(sidecar);
    }
    let mut caller = Weftd::start("caller", None, &address, &[]);
    for s in &mut sidecars {
        s.ready(LIMIT).await;
    }
    caller.ready(LIMIT).await;

    // Until the caller's registry lists both instances.
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = format!("{}/invoke/callee/method/whoami", caller.base());
    let start = std::time::Instant::now();
    let mut seen = std::collections::HashSet::new();
    while seen.len() < 2 {
        assert!(
            start.elapsed() < LIMIT,
            "both instances not reachable: {seen:?}"
        );
        if let Ok(r) = client.get(&url).send().await {
            if r.status().is_success() {
                let v: serde_json::Value =
                    serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
                seen.insert(v["instance"].as_str().unwrap().to_owned());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let out = run_json("caller.py", &["10"], caller.http_port, LIMIT).await;
    for key in ["sdk", "requests"] {
        let c = counts(&out[key]);
        assert_eq!(c.get("callee-1"), Some(&5), "{key}: {c:?}");
        assert_eq!(c.get("callee-2"), Some(&5), "{key}: {c:?}");
    }
    let c = counts(&out["header_form"]);
    assert_eq!(
        (c.get("callee-1"), c.get("callee-2")),
        (Some(&2), Some(&2)),
        "{c:?}"
    );

    let echo = &out["sdk_echo"];
    assert_eq!(echo["verb"], "PUT", "{echo}");
    assert_eq!(echo["path"], "a/b", "{echo}");
    assert!(echo["query"].as_str().unwrap().contains("q=1"), "{echo}");
    assert_eq!(echo["x_test"], "sdk", "{echo}");
    assert_eq!(echo["body"], "{\"n\": 1}", "{echo}");
    let tp = echo["traceparent"]
        .as_str()
        .expect("a traceparent reached the app");
    assert_eq!(tp.len(), 55, "{tp}");

    assert_eq!(out["teapot"]["status"], 418, "{}", out["teapot"]);
    assert_eq!(out["teapot"]["body"], "short and stout");
    assert_eq!(out["teapot"]["x_kind"], "teapot");

    assert_eq!(out["unknown_app"]["status"], 500, "{}", out["unknown_app"]);
    assert_eq!(out["unknown_app"]["body"]["errorCode"], "ERR_DIRECT_INVOKE");
    assert!(out["unknown_app"]["body"]["message"]
        .as_str()
        .unwrap()
        .contains("no instances of app `nobody`"));
    assert!(
        out["sdk_unknown_app"]
            .as_str()
            .unwrap()
            .contains("no instances"),
        "{}",
        out["sdk_unknown_app"]
    );
    assert_eq!(out["unknown_route"]["status"], 404);
    assert_eq!(out["unknown_route"]["body"]["errorCode"], "ERR_NOT_FOUND");
    assert_eq!(out["oversized"]["status"], 413, "{}", out["oversized"]);
    assert_eq!(
        out["oversized"]["body"]["errorCode"],
        "ERR_REQUEST_TOO_LARGE"
    );

    // Every sidecar is still up after the bad input.
    for s in &mut sidecars {
        assert!(s.proc.is_running());
    }
    assert!(caller.proc.is_running());
    drop(apps);
    placement.shutdown().await.unwrap();
}
