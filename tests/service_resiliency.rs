//! Service calls when things fail, over real sockets: an instance killed mid-run, a handler
//! that hangs, an idempotent retry, a circuit breaker going open, half-open and closed.

mod service_support;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use service_support::{eventually, loopback, Calls, Instance};
use tokio::time::Instant;
use weft::resiliency::{BreakerPolicy, MethodPolicy, Resiliency, RetryPolicy, TargetPolicy};
use weft::resolve::StaticResolver;
use weft::{ErrorKind, Host, HostHandle, ServiceCall};

const LIMIT: Duration = Duration::from_secs(15);

fn frontend(
    addresses: &[String],
    configure: impl FnOnce(weft::HostBuilder) -> weft::HostBuilder,
) -> Host {
    let resolver = StaticResolver::from_pairs(
        addresses
            .iter()
            .map(|a| (("backend", "default"), a.clone())),
    )
    .unwrap();
    configure(Host::builder().app_id("frontend").resolver(resolver))
        .start()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_an_instance_mid_run_fails_only_calls_that_may_have_reached_it() {
    let b1 = Instance::backend("b1", loopback(1)).await;
    let b2 = Instance::backend("b2", loopback(1)).await;
    let b3 = Instance::backend("b3", loopback(1)).await;
    let b2_addr = b2.address;
    let addresses: Vec<String> = [&b1, &b2, &b3]
        .iter()
        .map(|i| i.address.to_string())
        .collect();
    let host = frontend(&addresses, |b| b.ejection(Duration::from_millis(500)));
    let f = host.handle();

    // Four callers, 150 calls each; b2 dies after the first 100 answers.
    let seen: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let failures: Arc<Mutex<Vec<weft::Error>>> = Arc::default();
    let answered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let (f, seen, failures, answered) =
                (f.clone(), seen.clone(), failures.clone(), answered.clone());
            tokio::spawn(async move {
                for _ in 0..150 {
                    match f.invoke("backend", "whoami", Bytes::new()).await {
                        Ok(who) => {
                            let who = String::from_utf8(who.to_vec()).unwrap();
                            *seen.lock().unwrap().entry(who).or_default() += 1;
                            answered.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(e) => failures.lock().unwrap().push(e),
                    }
                }
            })
        })
        .collect();
    eventually(LIMIT, "100 answers", || {
        let answered = answered.clone();
        async move { (answered.load(Ordering::SeqCst) >= 100).then_some(()) }
    })
    .await;
    let before_kill = seen.lock().unwrap().get("b2").copied().unwrap_or(0);
    b2.kill();
    for c in callers {
        tokio::time::timeout(LIMIT, c).await.unwrap().unwrap();
    }
    let failures = std::mem::take(&mut *failures.lock().unwrap());
    // Only calls in flight on b2 when it died may fail (at most one per caller), and only
    // with the "may have run" kind; every call that never reached b2 went elsewhere.
    assert!(failures.len() <= 4, "{failures:?}");
    for e in failures.iter() {
        assert_eq!(e.kind(), ErrorKind::Interrupted, "{e}");
    }
    let seen = seen.lock().unwrap().clone();
    let after_kill = seen.get("b2").copied().unwrap_or(0);
    assert!(
        after_kill <= before_kill + 4,
        "b2 answered after it died: {before_kill} -> {after_kill}"
    );
    assert_eq!(
        seen.values().sum::<usize>() + failures.len(),
        600,
        "{seen:?}"
    );
    // The dead instance was ejected: traffic went to the two others.
    assert!(f.is_ejected(&b2_addr.to_string()));
    assert!(seen["b1"] > 250 && seen["b3"] > 250, "{seen:?}");

    // A restarted instance on the same address gets traffic again, once its ejection ends.
    let b2 = Instance::backend("b2-again", b2_addr).await;
    eventually(LIMIT, "the restarted instance gets calls", || {
        let f = f.clone();
        async move {
            let who = f.invoke("backend", "whoami", Bytes::new()).await.ok()?;
            (&who[..] == b"b2-again").then_some(())
        }
    })
    .await;
    assert!(b2.calls.count("whoami") >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_handler_fails_at_its_attempt_timeout_and_runs_once() {
    let b = Instance::backend("b1", loopback(1)).await;
    // An attempt timeout well inside the call's deadline, and retries to spare: only the retry
    // rule (a call that may have run is retried only when idempotent) keeps `hang` from
    // running again.
    let spec = Resiliency::builder()
        .timeout("attempt", Duration::from_millis(300))
        .retry(
            "safe-only",
            RetryPolicy::constant(Duration::from_millis(20)).max_retries(3),
        )
        .app(
            "backend",
            TargetPolicy::default()
                .timeout("attempt")
                .retry("safe-only"),
        )
        .build()
        .unwrap();
    let host = frontend(&[b.address.to_string()], |h| h.resiliency(spec));
    let f = host.handle();
    let start = Instant::now();
    let err = f
        .send(ServiceCall::new("backend", "hang").timeout(Duration::from_secs(3)))
        .await
        .unwrap_err();
    let took = start.elapsed();
    // Retries run inside `send`: once it returned, no other attempt can come.
    assert_eq!(
        b.calls.count("hang"),
        1,
        "a call that may have run is not retried"
    );
    // Ended by the attempt timeout, not the call's 3 s deadline. Which side noticed first
    // varies: the caller's timeout, or the callee, which got the attempt's deadline.
    assert_eq!(err.kind(), ErrorKind::DeadlineExceeded, "{err}");
    assert!(took >= Duration::from_millis(290), "{took:?}");
    assert!(
        took < Duration::from_secs(2),
        "one attempt, not retries until the deadline: {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callee_works_within_the_callers_deadline() {
    let b = Instance::backend("b1", loopback(1)).await;
    let host = frontend(&[b.address.to_string()], |b| b);
    let f = host.handle();
    for timeout_ms in [700u64, 4_000] {
        let left: u64 = f
            .send(
                ServiceCall::new("backend", "time-left").timeout(Duration::from_millis(timeout_ms)),
            )
            .await
            .unwrap()
            .decode_json()
            .unwrap();
        // Not the callee's own default: what the caller had left when it sent the call.
        assert!(
            left <= timeout_ms && left + 300 >= timeout_ms,
            "timeout {timeout_ms} ms, callee had {left} ms"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotent_method_is_retried_after_a_timeout() {
    let b = Instance::backend("b1", loopback(1)).await;
    let spec = Resiliency::builder()
        .timeout("attempt", Duration::from_millis(200))
        .retry(
            "idempotent",
            RetryPolicy::constant(Duration::from_millis(20))
                .max_retries(2)
                .idempotent(),
        )
        .retry(
            "not-idempotent",
            RetryPolicy::constant(Duration::from_millis(20)).max_retries(2),
        )
        .app(
            "backend",
            TargetPolicy::default()
                .method(
                    "slow-once",
                    MethodPolicy::default()
                        .timeout("attempt")
                        .retry("idempotent"),
                )
                .method(
                    "hang",
                    MethodPolicy::default()
                        .timeout("attempt")
                        .retry("not-idempotent"),
                ),
        )
        .build()
        .unwrap();
    let host = frontend(&[b.address.to_string()], |h| h.resiliency(spec));
    let f = host.handle();
    let reply = f
        .send(ServiceCall::new("backend", "slow-once").timeout(Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(&reply.body()[..], b"ok");
    assert_eq!(
        b.calls.count("slow-once"),
        2,
        "the first attempt hung, the retry answered"
    );

    // `hang` has the same attempt timeout and retries, but is not marked idempotent: its
    // attempt times out with time left for retries, and still runs once only.
    let start = Instant::now();
    let err = f
        .send(ServiceCall::new("backend", "hang").timeout(Duration::from_secs(3)))
        .await
        .unwrap_err();
    let took = start.elapsed();
    assert_eq!(
        b.calls.count("hang"),
        1,
        "a call that may have run is not retried"
    );
    assert_eq!(err.kind(), ErrorKind::DeadlineExceeded, "{err}");
    assert!(
        took < Duration::from_secs(2),
        "the attempt timeout ended it, not the call's 3 s deadline: {took:?}"
    );
}

async fn fragile(f: &HostHandle) -> Result<Bytes, weft::Error> {
    f.invoke("backend", "fragile", Bytes::new()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_circuit_opens_fails_fast_half_opens_and_closes() {
    let calls = Arc::new(Calls::default());
    let b = Instance::backend_with("b1", loopback(1), calls.clone(), |b| b).await;
    let spec = Resiliency::builder()
        .retry(
            "none",
            RetryPolicy::constant(Duration::from_millis(10)).max_retries(0),
        )
        .circuit_breaker(
            "cb",
            BreakerPolicy::trip_after(3).open_timeout(Duration::from_millis(400)),
        )
        .app(
            "backend",
            TargetPolicy::default().retry("none").circuit_breaker("cb"),
        )
        .build()
        .unwrap();
    let host = frontend(&[b.address.to_string()], |h| h.resiliency(spec));
    let f = host.handle();
    assert_eq!(&fragile(&f).await.unwrap()[..], b"ok");

    calls.broken.store(true, Ordering::SeqCst);
    for _ in 0..3 {
        let err = fragile(&f).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Internal, "{err}");
    }
    assert_eq!(calls.count("fragile"), 4);
    // Open: calls fail fast without reaching the instance.
    for _ in 0..5 {
        let err = fragile(&f).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::CircuitOpen, "{err}");
        assert!(err.message().contains("circuit open for backend/"), "{err}");
    }
    assert_eq!(calls.count("fragile"), 4, "an open circuit sends nothing");

    // Healed; after the open timeout one probe goes through, succeeds and closes the circuit.
    calls.broken.store(false, Ordering::SeqCst);
    let first_ok = eventually(LIMIT, "the half-open probe succeeds", || {
        let f = f.clone();
        async move { fragile(&f).await.ok() }
    })
    .await;
    assert_eq!(&first_ok[..], b"ok");
    assert_eq!(
        calls.count("fragile"),
        5,
        "exactly one probe reached the instance"
    );
    for _ in 0..10 {
        assert_eq!(&fragile(&f).await.unwrap()[..], b"ok");
    }
    assert_eq!(
        calls.count("fragile"),
        15,
        "closed: every call goes through"
    );
}
