//! Mutual TLS between hosts over real sockets: who gets in (a certificate of the trust bundle
//! and trust domain, within its validity) and who does not (no certificate, another CA, another
//! trust domain, an expired certificate, an impostor server), and the callee's view of the
//! caller: the certificate's SPIFFE id, whatever the request claims.

mod security_support;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use security_support::{backend, caller, Counter, Pki, TRUST_DOMAIN};
use weft::testing::RawClient;
use weft::{ErrorKind, Host, ServiceCall};

const DAY: Duration = Duration::from_secs(24 * 3600);

async fn secure_backend(pki: &Pki, counter: Arc<Counter>) -> Host {
    let identity = pki.identity("backend").await;
    backend(Host::builder(), counter)
        .security(identity)
        .listen("127.0.0.1:0".parse().unwrap())
        .start()
        .expect("backend starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_with_certificates_from_the_sentry_call_each_other() {
    let pki = Pki::start(TRUST_DOMAIN, DAY).await;
    let counter = Arc::new(Counter::default());
    let backend = secure_backend(&pki, Arc::clone(&counter)).await;
    let address = backend.handle().address().unwrap().to_owned();
    let frontend = caller("frontend", Some(pki.identity("frontend").await), &address);
    let answer = frontend
        .handle()
        .invoke("backend", "whoami", Bytes::new())
        .await
        .expect("an mTLS call goes through");
    assert_eq!(
        String::from_utf8(answer.to_vec()).unwrap(),
        format!("spiffe://{TRUST_DOMAIN}/ns/default/frontend|frontend|")
    );
    assert_eq!(
        backend.handle().identity().unwrap().spiffe_id().to_string(),
        format!("spiffe://{TRUST_DOMAIN}/ns/default/backend")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callee_sees_the_certificate_identity_not_the_claimed_one() {
    let pki = Pki::start(TRUST_DOMAIN, DAY).await;
    let counter = Arc::new(Counter::default());
    let backend = secure_backend(&pki, Arc::clone(&counter)).await;
    let address = backend.handle().address().unwrap().to_owned();
    let frontend = pki.identity("frontend").await;
    let answer = RawClient::tls(&frontend)
        .call(
            &address,
            "backend",
            "default",
            "whoami",
            "admin",
            &[
                ("x-caller-app-id", "admin"),
                ("dapr-caller-app-id", "admin"),
            ],
        )
        .await
        .expect("the call goes through");
    let answer = String::from_utf8(answer.body().to_vec()).unwrap();
    let mut parts = answer.split('|');
    assert_eq!(
        parts.next(),
        Some(format!("spiffe://{TRUST_DOMAIN}/ns/default/frontend").as_str()),
        "caller() is the certificate's SPIFFE id"
    );
    assert_eq!(
        parts.next(),
        Some("frontend"),
        "caller_app_id() is the certificate's app id, not the claimed `admin`"
    );
    // The header reaches the app as a header, and nothing more.
    assert_eq!(parts.next(), Some("admin"));
}

/// Calls `whoami` on the backend at `address` with `client`; the call must fail before the
/// backend's method runs, classified as never sent (retry-safe) since TLS refused it.
async fn assert_refused(client: RawClient, address: &str, counter: &Counter, what: &str) {
    let result = client
        .call(address, "backend", "default", "whoami", "frontend", &[])
        .await;
    let error = match result {
        Ok(r) => panic!("{what}: the call went through: {r:?}"),
        Err(e) => e,
    };
    assert_eq!(
        error.kind(),
        ErrorKind::Unavailable,
        "{what}: a refused handshake is never-sent: {error}"
    );
    assert_eq!(counter.count("whoami"), 0, "{what}: the method ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_without_a_valid_certificate_of_the_trust_domain_are_refused() {
    let pki = Pki::start(TRUST_DOMAIN, DAY).await;
    let other = Pki::start(TRUST_DOMAIN, DAY).await;
    let counter = Arc::new(Counter::default());
    let backend = secure_backend(&pki, Arc::clone(&counter)).await;
    let address = backend.handle().address().unwrap().to_owned();
    let now = SystemTime::now();
    let frontend = format!("spiffe://{TRUST_DOMAIN}/ns/default/frontend");
    // Clients that trust both CAs: whatever fails below, the *backend* refused it.
    let both = format!("{}{}", pki.bundle_pem, other.bundle_pem);

    // Plain text against a TLS server.
    let plain = RawClient::plain()
        .call(&address, "backend", "default", "whoami", "frontend", &[])
        .await;
    assert!(plain.is_err(), "plain text went through");
    assert_eq!(counter.count("whoami"), 0);

    // TLS without a client certificate.
    let anonymous = RawClient::tls_without_certificate(&pki.bundle_pem, TRUST_DOMAIN).unwrap();
    assert_refused(anonymous, &address, &counter, "no certificate").await;

    // A certificate of another CA.
    let foreign = other.forged(&frontend, now - DAY, now + DAY, &both, TRUST_DOMAIN);
    assert_refused(RawClient::tls(&foreign), &address, &counter, "another CA").await;

    // A certificate of this CA for another trust domain.
    let elsewhere = pki.forged(
        "spiffe://elsewhere.test/ns/default/frontend",
        now - DAY,
        now + DAY,
        &pki.bundle_pem,
        TRUST_DOMAIN,
    );
    assert_refused(
        RawClient::tls(&elsewhere),
        &address,
        &counter,
        "another trust domain",
    )
    .await;

    // An expired certificate of this CA.
    let expired = pki.forged(
        &frontend,
        now - 2 * DAY,
        now - Duration::from_secs(60),
        &pki.bundle_pem,
        TRUST_DOMAIN,
    );
    assert_refused(RawClient::tls(&expired), &address, &counter, "expired").await;

    // And the control: a valid certificate of this CA gets in.
    let valid = pki.forged(&frontend, now - DAY, now + DAY, &both, TRUST_DOMAIN);
    RawClient::tls(&valid)
        .call(&address, "backend", "default", "whoami", "frontend", &[])
        .await
        .expect("a valid certificate gets in");
    assert_eq!(counter.count("whoami"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_refuses_a_server_with_a_certificate_of_another_ca() {
    let pki = Pki::start(TRUST_DOMAIN, DAY).await;
    let impostor_pki = Pki::start(TRUST_DOMAIN, DAY).await;
    let counter = Arc::new(Counter::default());
    // The impostor claims to be `backend`, with a certificate of a CA the caller does not trust.
    // It trusts both CAs itself, so it accepts the caller's certificate: whatever fails below,
    // the *caller* refused the impostor's certificate.
    let now = SystemTime::now();
    let both = format!("{}{}", pki.bundle_pem, impostor_pki.bundle_pem);
    let impostor_identity = impostor_pki.forged(
        &format!("spiffe://{TRUST_DOMAIN}/ns/default/backend"),
        now - DAY,
        now + DAY,
        &both,
        TRUST_DOMAIN,
    );
    let impostor = backend(Host::builder(), Arc::clone(&counter))
        .security(impostor_identity)
        .listen("127.0.0.1:0".parse().unwrap())
        .start()
        .expect("impostor starts");
    let address = impostor.handle().address().unwrap().to_owned();
    let frontend = caller("frontend", Some(pki.identity("frontend").await), &address);
    let error = frontend
        .handle()
        .send(ServiceCall::new("backend", "whoami").timeout(Duration::from_secs(3)))
        .await
        .expect_err("the caller talked to an impostor");
    // Refused by the caller's own verification of the server certificate (rustls'
    // `InvalidCertificate`), before a request byte was sent: retry-safe, and not a timeout.
    assert_eq!(error.kind(), ErrorKind::Unavailable, "{error}");
    assert!(
        error
            .message()
            .contains("TLS handshake failed: invalid peer certificate"),
        "{error}"
    );
    assert_eq!(counter.total(), 0);

    // The control: a frontend of the same CA that also trusts the impostor's CA gets through,
    // so the impostor does accept the caller's certificate and only the check above refused.
    let trusting = pki.forged(
        &format!("spiffe://{TRUST_DOMAIN}/ns/default/frontend"),
        now - DAY,
        now + DAY,
        &both,
        TRUST_DOMAIN,
    );
    RawClient::tls(&trusting)
        .call(&address, "backend", "default", "whoami", "frontend", &[])
        .await
        .expect("the impostor accepts a certificate of the caller's CA");
    assert_eq!(counter.count("whoami"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sentry_refuses_a_wrong_token_and_a_host_refuses_a_foreign_identity() {
    let pki = Pki::start(TRUST_DOMAIN, DAY).await;
    let wrong = weft::security::SecurityConfig::new(
        &pki.address,
        &pki.bundle_pem,
        "not-the-token-0123456789",
    )
    .trust_domain(TRUST_DOMAIN);
    let error = weft::security::WorkloadIdentity::fetch(&wrong, "default", "frontend")
        .await
        .expect_err("a wrong token got a certificate");
    assert_eq!(error.kind(), ErrorKind::PermissionDenied, "{error}");

    let identity = pki.identity("frontend").await;
    let error = Host::builder()
        .app_id("backend")
        .security(identity)
        .start()
        .expect_err("a host started with another app's identity");
    assert_eq!(error.kind(), ErrorKind::InvalidArgument, "{error}");
}

/// The impostor holds a valid certificate of the same trust domain, for app `impostor`, and
/// serves `whoami` at the address the caller resolves `backend` to (a hijacked DNS name, a
/// stale resolver entry, a compromised app). Its certificate proves it is `impostor`, so the
/// caller must refuse to treat it as `backend`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_refuses_a_server_whose_certificate_names_another_app() {
    let pki = Pki::start(TRUST_DOMAIN, Duration::from_secs(3600)).await;
    let counter = Arc::new(Counter::default());
    let impostor = backend(Host::builder(), Arc::clone(&counter))
        .app_id("impostor")
        .security(pki.identity("impostor").await)
        .listen("127.0.0.1:0".parse().unwrap())
        .start()
        .expect("impostor starts");
    let address = impostor.handle().address().unwrap().to_owned();
    let frontend = caller("frontend", Some(pki.identity("frontend").await), &address);

    let err = frontend
        .handle()
        .invoke("backend", "whoami", Bytes::new())
        .await
        .expect_err("the caller must not talk to an impostor");
    assert_eq!(err.kind(), weft::ErrorKind::Unavailable, "{err}");
    assert!(
        err.message().contains("/impostor, not spiffe://") && err.message().contains("/backend"),
        "{err}"
    );
    assert_eq!(counter.total(), 0, "the impostor ran nothing");

    // The same impostor, called as what it is, answers: only the identity was wrong.
    let resolver =
        weft::resolve::StaticResolver::from_pairs([(("impostor", "default"), address.clone())])
            .unwrap();
    let honest = Host::builder()
        .app_id("frontend")
        .resolver(resolver)
        .security(pki.identity("frontend").await)
        .start()
        .expect("caller starts");
    honest
        .handle()
        .invoke("impostor", "whoami", Bytes::new())
        .await
        .expect("a call to the app the certificate names succeeds");
    assert_eq!(counter.total(), 1);
}
