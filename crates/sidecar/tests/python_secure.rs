//! weftd with security on: workload certificates from a real Sentry, mutual TLS between the
//! sidecars, and the callee's access-control file deciding by the caller's certificate. A
//! Python service behind the callee.

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::{free_port, python_app, wait_for_port, Weftd};
use weft_placement::sentry::{CertificateAuthority, JoinToken, Sentry};

const LIMIT: Duration = Duration::from_secs(60);
const TOKEN: &str = "a-join-token-for-the-tests-0123456789";

const ACL: &str = r#"
accessControl:
  defaultAction: deny
  trustDomain: cluster.local
  policies:
  - appId: caller
    defaultAction: deny
    operations:
    - { name: /whoami, httpVerb: [GET], action: allow }
"#;

/// `weftd` without placement: static resolution, an explicit internal address, security flags.
fn secure_weftd(
    app_id: &str,
    app_port: Option<u16>,
    internal: u16,
    security: &[String],
    extra: &[String],
) -> Weftd {
    let mut args: Vec<String> = vec!["--internal-address".into(), format!("127.0.0.1:{internal}")];
    args.extend(security.iter().cloned());
    args.extend(extra.iter().cloned());
    Weftd::start_with(app_id, app_port, &args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sidecars_talk_mtls_and_the_callee_decides_by_the_callers_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Arc::new(CertificateAuthority::generate().unwrap());
    let bundle = dir.path().join("ca.crt");
    std::fs::write(&bundle, ca.trust_bundle_pem()).unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, TOKEN).unwrap();
    let acl = dir.path().join("acl.yaml");
    std::fs::write(&acl, ACL).unwrap();
    let sentry = Sentry::builder(Arc::clone(&ca), JoinToken::new(TOKEN).unwrap())
        .listen("127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .unwrap();
    let security: Vec<String> = vec![
        "--sentry-address".into(),
        sentry.local_addr().to_string(),
        "--trust-bundle".into(),
        bundle.display().to_string(),
        "--join-token-file".into(),
        token.display().to_string(),
    ];

    let callee_internal = free_port();
    let resolver = dir.path().join("resolver.yaml");
    std::fs::write(
        &resolver,
        format!("apps:\n  - appId: callee\n    addresses: [\"127.0.0.1:{callee_internal}\"]\n"),
    )
    .unwrap();
    let resolve: Vec<String> = vec!["--resolver-file".into(), resolver.display().to_string()];

    let app_port = free_port();
    let mut callee = secure_weftd(
        "callee",
        Some(app_port),
        callee_internal,
        &security,
        &["--access-control-file".into(), acl.display().to_string()],
    );
    let _app = python_app(
        "callee-1",
        "service_app.py",
        &[&app_port.to_string(), "callee-1"],
        callee.http_port,
    );
    wait_for_port(app_port, LIMIT).await;
    let mut caller = secure_weftd("caller", None, free_port(), &security, &resolve);
    let mut intruder = secure_weftd("intruder", None, free_port(), &security, &resolve);
    let mut plain = Weftd::start_with(
        "caller",
        None,
        &[
            "--internal-address".into(),
            format!("127.0.0.1:{}", free_port()),
            "--resolver-file".into(),
            resolver.display().to_string(),
        ],
    );
    for w in [&mut callee, &mut caller, &mut intruder, &mut plain] {
        w.ready(LIMIT).await;
    }
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let get = |w: &Weftd, verb: reqwest::Method, method: &str| {
        let url = format!("{}/invoke/callee/method/{method}", w.base());
        client.request(verb, url).send()
    };

    let r = get(&caller, reqwest::Method::GET, "whoami").await.unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(body["instance"], "callee-1");

    // Allowed caller, method not in its policy.
    let r = get(&caller, reqwest::Method::POST, "echo/x").await.unwrap();
    assert_eq!(r.status(), 403);
    let body: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(body["errorCode"], "ERR_PERMISSION_DENIED", "{body}");

    // A valid certificate of another app: denied by default, whatever it claims.
    let r = client
        .get(format!("{}/invoke/callee/method/whoami", intruder.base()))
        .header("dapr-caller-app-id", "caller")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let body: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("intruder"),
        "{body}"
    );

    // No certificate at all: the callee's TLS refuses the connection.
    let r = get(&plain, reqwest::Method::GET, "whoami").await.unwrap();
    assert_eq!(r.status(), 500);
    let body: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(body["errorCode"], "ERR_DIRECT_INVOKE", "{body}");
    drop(sentry);
}
