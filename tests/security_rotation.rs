//! Certificate rotation under load: with a 3 s TTL both hosts renew every ~2.1 s; calls on a
//! long-lived connection and calls on fresh connections (a full handshake each, which only
//! succeeds once the original certificates have expired if the renewed ones are presented)
//! run across at least three rotations without a single failure.

mod security_support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use security_support::{backend, caller, Counter, Pki, TRUST_DOMAIN};
use weft::testing::RawClient;
use weft::Host;

const TTL: Duration = Duration::from_secs(3);
const LIMIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_run_across_three_rotations_without_a_failure() {
    let pki = Pki::start(TRUST_DOMAIN, TTL).await;
    let counter = Arc::new(Counter::default());
    let backend_identity = pki.identity("backend").await;
    let first_backend_cert = backend_identity.certificate_chain();
    let server = backend(Host::builder(), Arc::clone(&counter))
        .security(backend_identity.clone())
        .listen("127.0.0.1:0".parse().unwrap())
        .start()
        .expect("backend starts");
    let address = server.handle().address().unwrap().to_owned();
    let frontend_identity = pki.identity("frontend").await;
    let frontend = caller("frontend", Some(frontend_identity.clone()), &address);

    let stop = Arc::new(AtomicBool::new(false));
    let pooled_ok = Arc::new(AtomicUsize::new(0));
    let fresh_ok = Arc::new(AtomicUsize::new(0));
    let pooled = {
        let handle = frontend.handle();
        let (stop, ok) = (Arc::clone(&stop), Arc::clone(&pooled_ok));
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                handle
                    .invoke("backend", "whoami", Bytes::new())
                    .await
                    .map_err(|e| {
                        format!("pooled call {} failed: {e}", ok.load(Ordering::Relaxed))
                    })?;
                ok.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, String>(())
        })
    };
    let fresh = {
        let (identity, address) = (frontend_identity.clone(), address.clone());
        let (stop, ok) = (Arc::clone(&stop), Arc::clone(&fresh_ok));
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                // A new client: a new connection and handshake with the current certificates.
                RawClient::tls(&identity)
                    .call(&address, "backend", "default", "whoami", "frontend", &[])
                    .await
                    .map_err(|e| {
                        format!("fresh call {} failed: {e}", ok.load(Ordering::Relaxed))
                    })?;
                ok.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok::<_, String>(())
        })
    };

    let start = Instant::now();
    // Three rotations each, and past the expiry of the first certificates.
    while backend_identity.renewals() < 3
        || frontend_identity.renewals() < 3
        || start.elapsed() < TTL + Duration::from_secs(1)
    {
        assert!(
            start.elapsed() < LIMIT,
            "no three rotations within {LIMIT:?}"
        );
        assert!(
            !pooled.is_finished() && !fresh.is_finished(),
            "a caller stopped early"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    pooled.await.unwrap().unwrap();
    fresh.await.unwrap().unwrap();

    assert_ne!(
        backend_identity.certificate_chain(),
        first_backend_cert,
        "the backend's certificate was swapped"
    );
    let (pooled, fresh) = (
        pooled_ok.load(Ordering::Relaxed),
        fresh_ok.load(Ordering::Relaxed),
    );
    assert!(
        pooled > 100 && fresh > 20,
        "too few calls: {pooled} pooled, {fresh} fresh"
    );
    assert_eq!(
        counter.count("whoami"),
        pooled + fresh,
        "every call ran once"
    );
    eprintln!(
        "{} backend and {} frontend renewals, {pooled} pooled and {fresh} fresh calls, 0 failures",
        backend_identity.renewals(),
        frontend_identity.renewals()
    );
}
