//! Actor calls go through the same resiliency layer as service calls: a policy timeout bounds
//! them, a breaker guards them, and the host's metrics count them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;
use weft_runtime::resiliency::{BreakerPolicy, MethodPolicy, Resiliency, TargetPolicy};
use weft_runtime::{Actor, ActorRegistration, Call, Context, Error, ErrorKind, Host, MemoryStore};

/// `sleep` sleeps as many milliseconds as its payload says; `fail` fails with Unavailable.
struct Sleeper {
    turns: Arc<AtomicUsize>,
}

impl Actor for Sleeper {
    async fn handle(&self, _ctx: &Context, call: Call) -> Result<Bytes, Error> {
        self.turns.fetch_add(1, Ordering::SeqCst);
        match call.method() {
            "sleep" => {
                let ms: u64 = std::str::from_utf8(call.payload())
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok(Bytes::from_static(b"awake"))
            }
            "fail" => Err(Error::new(ErrorKind::Unavailable, "not today")),
            other => Err(Error::new(
                ErrorKind::NotFound,
                format!("no method {other}"),
            )),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_timeout_and_breaker_govern_actor_calls_and_metrics_count_them() {
    let spec = Resiliency::builder()
        .timeout("short", Duration::from_millis(200))
        .circuit_breaker(
            "cb",
            BreakerPolicy::trip_after(2).open_timeout(Duration::from_secs(30)),
        )
        .actor(
            "sleeper",
            TargetPolicy::default()
                .circuit_breaker("cb")
                .method("sleep", MethodPolicy::default().timeout("short")),
        )
        .build()
        .unwrap();
    let turns = Arc::new(AtomicUsize::new(0));
    let t = turns.clone();
    let host = Host::builder()
        .store(MemoryStore::new())
        .register(ActorRegistration::new("sleeper", move |_id| Sleeper {
            turns: t.clone(),
        }))
        .resiliency(spec)
        .metrics("127.0.0.1:0".parse().unwrap())
        .start()
        .unwrap();
    let h = host.handle();

    let ok = h
        .call("sleeper", "s1", "sleep", Bytes::from_static(b"10"))
        .await;
    assert_eq!(&ok.unwrap()[..], b"awake");
    let start = Instant::now();
    let err = h
        .call("sleeper", "s1", "sleep", Bytes::from_static(b"1500"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DeadlineExceeded, "{err}");
    // The policy's 200 ms, not the host's 5 s default: the narrowed deadline reached the
    // activation, which answered at it.
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(200), "{took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");

    // Two failures trip the breaker of s2; s2's next call fails fast, s3 is unaffected.
    for _ in 0..2 {
        let err = h
            .call("sleeper", "s2", "fail", Bytes::new())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    }
    let before = turns.load(Ordering::SeqCst);
    let err = h
        .call("sleeper", "s2", "fail", Bytes::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CircuitOpen, "{err}");
    assert!(
        err.message().contains("circuit open for sleeper/s2"),
        "{err}"
    );
    assert_eq!(turns.load(Ordering::SeqCst), before, "no turn ran");
    let ok = h
        .call("sleeper", "s3", "sleep", Bytes::from_static(b"1"))
        .await;
    assert!(ok.is_ok());

    let text = h.metrics().unwrap().encode();
    assert!(
        text.contains(
            r#"weft_requests_total{kind="actor",target="sleeper",method="sleep",outcome="ok"} 2"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"weft_requests_total{kind="actor",target="sleeper",method="sleep",outcome="deadline_exceeded"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"weft_requests_total{kind="actor",target="sleeper",method="fail",outcome="circuit_open"} 1"#),
        "{text}"
    );
    host.shutdown().await.unwrap();
}
