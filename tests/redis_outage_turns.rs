//! A Redis outage seen through actor turns: while redis-server is down, state-changing turns
//! fail with a clear store error and the host stays up; once it is back, calls succeed again and
//! no acknowledged state is lost.

mod support;

use std::time::{Duration, Instant};

use support::Counter;
use weft::testing::RedisServer;
use weft::{ErrorKind, Host, RedisStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turns_fail_clearly_during_a_redis_outage_and_resume_without_losing_state() {
    let mut redis = tokio::task::spawn_blocking(RedisServer::start_append_only)
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{e}"));
    let store = RedisStore::connect(&redis.url()).await.unwrap();
    let host = Host::builder()
        .store(store)
        .actor::<Counter>()
        .call_timeout(Duration::from_secs(20))
        .start()
        .unwrap();
    let h = host.handle();
    for i in 0..10 {
        for _ in 0..3 {
            h.actor::<Counter>(format!("c{i}")).incr().await.unwrap();
        }
    }

    redis = tokio::task::spawn_blocking(move || {
        redis.stop().unwrap();
        redis
    })
    .await
    .unwrap();
    // Active and fresh actors alike: a write fails, naming the store, within seconds.
    for id in ["c0", "fresh"] {
        let t = Instant::now();
        let err = h
            .actor::<Counter>(id)
            .incr()
            .await
            .expect_err("a turn committed with Redis down");
        assert!(
            matches!(err.kind(), ErrorKind::Store | ErrorKind::Unavailable),
            "{id}: {err}"
        );
        assert!(
            err.to_string().contains("Redis"),
            "{id}: unclear error: {err}"
        );
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "{id}: took {:?}",
            t.elapsed()
        );
    }
    // The host is still up: its handle answers, unknown types are still refused as such.
    let unknown = h
        .call("nope", "x", "m", bytes::Bytes::new())
        .await
        .unwrap_err();
    assert_eq!(unknown.kind(), ErrorKind::NotFound);

    let _redis = tokio::task::spawn_blocking(move || {
        redis.restart().unwrap();
        redis
    })
    .await
    .unwrap();
    // Calls succeed again (allow the connection to come back), and every acknowledged
    // increment is there: 3 before the outage + 1 now; the failed ones left nothing.
    let deadline = Instant::now() + Duration::from_secs(20);
    let first = loop {
        match h.actor::<Counter>("c0").incr().await {
            Ok(n) => break n,
            Err(e) if Instant::now() < deadline => {
                eprintln!("after restart: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("calls did not recover after Redis restarted: {e}"),
        }
    };
    assert_eq!(
        first, 4,
        "c0 lost an acknowledged increment or kept a failed one"
    );
    for i in 1..10 {
        assert_eq!(
            h.actor::<Counter>(format!("c{i}")).get().await.unwrap(),
            3,
            "c{i}"
        );
    }
    assert_eq!(h.actor::<Counter>("fresh").incr().await.unwrap(), 1);
    host.shutdown().await.unwrap();
}
