//! The audit trail of access control, over real sockets: a denied call leaves one `weft::audit`
//! warning that names the caller as its certificate says, the method, the verb and the rule
//! that decided; an allowed call leaves only a debug line; a forged caller id changes nothing.

mod security_support;

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use security_support::{caller, guarded_backend, Counter, Pki, TRUST_DOMAIN};
use weft::{ErrorKind, ServiceCall};

const POLICY: &str = r#"
accessControl:
  defaultAction: deny
  trustDomain: weft.test
  policies:
  - appId: frontend
    defaultAction: deny
    operations:
    - name: /api/*
      httpVerb: [GET]
      action: allow
"#;

/// Everything the subscriber writes, shared with the test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn lines(&self) -> Vec<String> {
        let bytes = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        String::from_utf8(bytes)
            .expect("log output is UTF-8")
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_call_leaves_one_audit_warning_naming_the_verified_caller() {
    let captured = Captured::default();
    let writer = captured.clone();
    // Global: the callee logs from the runtime's worker threads, not this one.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("weft::audit=debug"))
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let pki = Pki::start(TRUST_DOMAIN, Duration::from_secs(3600)).await;
    let counter = Arc::new(Counter::default());
    let (server, address) = guarded_backend(&pki, Arc::clone(&counter), POLICY).await;
    let frontend = caller("frontend", Some(pki.identity("frontend").await), &address);
    let stranger = caller("stranger", Some(pki.identity("stranger").await), &address);

    frontend
        .handle()
        .send(ServiceCall::new("backend", "api/items").verb("GET"))
        .await
        .expect("frontend may GET api/items");
    // The stranger claims to be the frontend; the callee goes by its certificate.
    let err = stranger
        .handle()
        .send(
            ServiceCall::new("backend", "admin/reset")
                .verb("POST")
                .header("x-caller-app-id", "frontend"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
    assert_eq!(
        counter.count("admin/reset"),
        0,
        "a denied method never runs"
    );

    let lines = captured.lines();
    let denied: Vec<&String> = lines.iter().filter(|l| l.contains("call denied")).collect();
    assert_eq!(denied.len(), 1, "one warning per denied call: {lines:#?}");
    let line = denied[0];
    for part in [
        "WARN",
        "weft::audit",
        "app_id=backend",
        "caller=spiffe://weft.test/ns/default/stranger",
        "method=admin/reset",
        "verb=POST",
        "rule=",
    ] {
        assert!(line.contains(part), "{part:?} missing from {line:?}");
    }
    let allowed: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("call allowed"))
        .collect();
    assert_eq!(allowed.len(), 1, "{lines:#?}");
    assert!(
        allowed[0].contains("DEBUG")
            && allowed[0].contains("caller=spiffe://weft.test/ns/default/frontend")
            && allowed[0].contains("method=api/items")
            && allowed[0].contains("verb=GET"),
        "{:?}",
        allowed[0]
    );

    drop((frontend, stranger, server));
}
