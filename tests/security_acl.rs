//! Access control over real sockets: an allow/deny matrix of callers × methods × verbs under a
//! default-allow and a default-deny policy; callers are told apart by their certificates.

mod security_support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use security_support::{backend, caller, guarded_backend, Counter, Pki, TRUST_DOMAIN};
use weft::security::AccessControl;
use weft::{ErrorKind, Host, ServiceCall};

const CALLERS: [&str; 3] = ["frontend", "ops", "stranger"];
const METHODS: [&str; 3] = ["api/items", "api/items/42", "admin/reset"];
const VERBS: [&str; 3] = ["GET", "POST", "DELETE"];

const DEFAULT_ALLOW: &str = r#"
accessControl:
  defaultAction: allow
  trustDomain: weft.test
  policies:
  - appId: stranger
    defaultAction: deny
    operations:
    - name: /api/items
      httpVerb: [GET]
      action: allow
  - appId: ops
    defaultAction: allow
    operations:
    - name: /admin/*
      httpVerb: [POST]
      action: allow
    - name: /admin/**
      action: deny
"#;

const DEFAULT_DENY: &str = r#"
accessControl:
  defaultAction: deny
  policies:
  - appId: frontend
    defaultAction: deny
    operations:
    - name: /api/*
      httpVerb: [GET, POST]
      action: allow
  - appId: ops
    namespace: default
    defaultAction: allow
    operations:
    - name: /api/**
      httpVerb: [DELETE]
      action: deny
"#;

/// Runs every (caller, method, verb) against a backend with `policy`; checks that exactly
/// `allowed` went through (and ran the method), and every other call got PermissionDenied.
async fn matrix(policy: &str, allowed: &[(&str, &str, &str)]) {
    let pki = Pki::start(TRUST_DOMAIN, Duration::from_secs(3600)).await;
    let counter = Arc::new(Counter::default());
    let (_server, address) = guarded_backend(&pki, Arc::clone(&counter), policy).await;
    let allowed: HashSet<(&str, &str, &str)> = allowed.iter().copied().collect();
    let mut expected_runs = 0;
    for who in CALLERS {
        let host = caller(who, Some(pki.identity(who).await), &address);
        for method in METHODS {
            for verb in VERBS {
                let result = host
                    .handle()
                    .send(ServiceCall::new("backend", method).verb(verb))
                    .await;
                let case = format!("{who} {verb} {method}");
                if allowed.contains(&(who, method, verb)) {
                    expected_runs += 1;
                    let response = result.unwrap_or_else(|e| panic!("{case}: denied: {e}"));
                    assert!(response.is_success(), "{case}: {response:?}");
                } else {
                    let error = result.expect_err(&format!("{case}: allowed"));
                    assert_eq!(error.kind(), ErrorKind::PermissionDenied, "{case}: {error}");
                    assert!(
                        error.message().contains(&format!("/ns/default/{who}")),
                        "{case}: the message names the caller: {error}"
                    );
                }
                assert_eq!(counter.total(), expected_runs, "{case}: methods run");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_allow_policy_denies_only_what_it_names() {
    let mut allowed = Vec::new();
    for method in METHODS {
        for verb in VERBS {
            // No policy: the default (allow).
            allowed.push(("frontend", method, verb));
        }
    }
    // stranger: its policy denies all but GET /api/items.
    allowed.push(("stranger", "api/items", "GET"));
    // ops: POST /admin/* allowed (first match), other /admin verbs denied by /admin/**,
    // everything else by its policy's default (allow).
    allowed.push(("ops", "admin/reset", "POST"));
    for method in ["api/items", "api/items/42"] {
        for verb in VERBS {
            allowed.push(("ops", method, verb));
        }
    }
    matrix(DEFAULT_ALLOW, &allowed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_deny_policy_allows_only_what_it_names() {
    // frontend: GET and POST on one segment under /api; stranger: nothing (no policy);
    // ops: everything but DELETE under /api.
    let mut allowed = vec![
        ("frontend", "api/items", "GET"),
        ("frontend", "api/items", "POST"),
    ];
    for method in METHODS {
        for verb in VERBS {
            if !(method.starts_with("api/") && verb == "DELETE") {
                allowed.push(("ops", method, verb));
            }
        }
    }
    matrix(DEFAULT_DENY, &allowed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_text_caller_gets_the_default_action_whatever_it_claims() {
    // Plain-text hosts cannot verify anyone: a caller claiming to be `ops` is still nobody.
    let counter = Arc::new(Counter::default());
    let server = backend(Host::builder(), Arc::clone(&counter))
        .access_control(AccessControl::from_yaml(DEFAULT_DENY).unwrap())
        .listen("127.0.0.1:0".parse().unwrap())
        .start()
        .expect("backend starts");
    let address = server.handle().address().unwrap().to_owned();
    let ops = caller("ops", None, &address);
    let error = ops
        .handle()
        .send(ServiceCall::new("backend", "admin/reset"))
        .await
        .expect_err("an unverified caller was allowed");
    assert_eq!(error.kind(), ErrorKind::PermissionDenied, "{error}");
    assert_eq!(counter.total(), 0);
}
