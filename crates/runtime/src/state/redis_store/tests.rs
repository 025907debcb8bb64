//! Tests of the Redis store against a real `redis-server`.

use std::time::Instant;

use super::*;
use crate::testing::RedisServer;

/// Longer than any call may take: a call still pending then hangs, which fails the test.
const HANG: Duration = Duration::from_secs(20);

/// How long a call may take to report an outage.
const FAIL_FAST: Duration = Duration::from_secs(5);

fn key(name: &str) -> StateKey {
    StateKey::actor("app", "type", "id", name)
}

fn bytes(b: &'static [u8]) -> Bytes {
    Bytes::from_static(b)
}

async fn start(server: &RedisServer) -> RedisStore {
    RedisStore::connect(&server.url())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `call`, failing the test if it does not finish within [`HANG`], and returns its
/// result and how long it took.
async fn bounded<T>(call: impl std::future::Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    let result = tokio::time::timeout(HANG, call)
        .await
        .unwrap_or_else(|_| panic!("a store call hung for {HANG:?}"));
    (result, started.elapsed())
}

/// Asserts that `result` is a fast [`StoreErrorKind::Unavailable`] error about `key`.
#[track_caller]
fn assert_unavailable<T: fmt::Debug>(
    (result, took): (Result<T, StoreError>, Duration),
    key: &StateKey,
) {
    let err = result.expect_err("a call during the outage succeeded");
    assert_eq!(err.kind(), StoreErrorKind::Unavailable, "{err}");
    assert!(err.is_transient(), "an outage passes: {err}");
    assert_eq!(err.key(), Some(key), "{err}");
    assert!(took < FAIL_FAST, "the call took {took:?} to fail: {err}");
}

#[tokio::test]
async fn connecting_to_an_unreachable_address_fails_fast_naming_it() {
    // A port nobody listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap();
    let url = format!("redis://127.0.0.1:{port}/");

    let (result, took) = bounded(RedisStore::connect(&url)).await;
    let err = result.expect_err("connected to nothing");
    assert_eq!(err.kind(), StoreErrorKind::Unavailable, "{err}");
    assert!(err.to_string().contains(&url), "{err}");
    assert!(took < FAIL_FAST, "took {took:?} to fail");
}

#[tokio::test]
async fn a_malformed_url_is_invalid() {
    let err = RedisStore::connect("http://example.invalid:6379")
        .await
        .expect_err("connected with a malformed URL");
    assert_eq!(err.kind(), StoreErrorKind::Invalid, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_etag_counter_key_cannot_be_written_as_state() {
    let server = RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
    let store = start(&server).await;
    let counter = StateKey::raw(ETAG_COUNTER);
    let err = store
        .set(&counter, bytes(b"1"), Condition::Any)
        .await
        .expect_err("overwrote the etag counter");
    assert_eq!(err.kind(), StoreErrorKind::Invalid, "{err}");
    assert_eq!(err.key(), Some(&counter));
    // ETags still work.
    store
        .set(&key("a"), bytes(b"1"), Condition::Any)
        .await
        .unwrap();
}

#[test]
fn passwords_are_redacted_from_urls() {
    assert_eq!(redact("redis://127.0.0.1:6379/"), "redis://127.0.0.1:6379/");
    assert_eq!(
        redact("redis://user:hunter2@db:6379/0"),
        "redis://user:***@db:6379/0"
    );
    assert_eq!(redact("redis://:hunter2@db"), "redis://:***@db");
    assert_eq!(redact("rediss://hunter2@db/1"), "rediss://***@db/1");
    assert_eq!(redact("not a url"), "not a url");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_fails_calls_fast_and_after_a_restart_no_acknowledged_write_is_lost() {
    let mut server = RedisServer::start_append_only().unwrap_or_else(|e| panic!("{e}"));
    let store = start(&server).await;
    let (kept, other) = (key("kept"), key("other"));
    let etag = store
        .set(&kept, bytes(b"before"), Condition::Absent)
        .await
        .unwrap();

    server.stop().unwrap();
    assert_unavailable(bounded(store.get(&kept)).await, &kept);
    assert_unavailable(
        bounded(store.set(&kept, bytes(b"during"), Condition::Matches(etag))).await,
        &kept,
    );
    assert_unavailable(bounded(store.delete(&other, Condition::Any)).await, &other);
    let (result, took) = bounded(store.bulk_get(&[kept.clone(), other.clone()])).await;
    let err = result.expect_err("bulk_get during the outage succeeded");
    assert_eq!(err.kind(), StoreErrorKind::Unavailable, "{err}");
    assert!(took < FAIL_FAST, "bulk_get took {took:?} to fail");

    // Same process, same store: it reconnects by itself.
    server.restart().unwrap();
    let (read, _) = bounded(store.get(&kept)).await;
    assert_eq!(
        read.unwrap(),
        Some(Versioned {
            value: bytes(b"before"),
            etag
        }),
        "an acknowledged write was lost"
    );
    let (written, _) = bounded(store.set(&kept, bytes(b"after"), Condition::Matches(etag))).await;
    let next = written.unwrap();
    assert!(next > etag, "etag {next} after the restart, {etag} before");
    assert_eq!(
        store.get(&kept).await.unwrap().map(|v| v.value),
        Some(bytes(b"after"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etags_keep_growing_after_redis_lost_all_its_data() {
    let server = RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
    let store = start(&server).await;
    let a = key("a");
    let before = store.set(&a, bytes(b"1"), Condition::Any).await.unwrap();

    // Everything is gone, the ETag counter too (a restart without persistence).
    let mut conn = store.conn.clone();
    redis::cmd("FLUSHALL")
        .query_async::<()>(&mut conn)
        .await
        .unwrap();

    let after = store.set(&a, bytes(b"1"), Condition::Absent).await.unwrap();
    assert!(
        after > before,
        "etag {after} after the data loss, {before} before: an old reader could match it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_keys_are_corrupt_errors_not_panics() {
    let server = RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
    let store = start(&server).await;
    // What a foreign writer might leave: (name, command, arguments after the key).
    let cases: [(&str, &str, &[&str]); 5] = [
        ("a-string", "SET", &["x"]),
        ("no-etag", "HSET", &["v", "x"]),
        ("no-value", "HSET", &["e", "7"]),
        ("bad-etag", "HSET", &["v", "x", "e", "seven"]),
        ("zero-etag", "HSET", &["v", "x", "e", "0"]),
    ];
    let mut conn = store.conn.clone();
    for (name, command, args) in cases {
        let k = key(name);
        redis::cmd(command)
            .arg(k.as_str())
            .arg(args)
            .query_async::<()>(&mut conn)
            .await
            .unwrap();
        let corrupt = |err: StoreError| {
            assert_eq!(err.kind(), StoreErrorKind::Corrupt, "{name}: {err}");
            assert!(!err.is_transient(), "{name}: a retry reads the same: {err}");
            assert_eq!(err.key(), Some(&k), "{name}: {err}");
        };

        corrupt(store.get(&k).await.expect_err(name));
        corrupt(
            store
                .bulk_get(&[key("absent"), k.clone()])
                .await
                .expect_err(name),
        );
        // A condition cannot be checked against a value without a readable ETag.
        for condition in [Condition::Absent, Condition::Matches(ETag::new(7))] {
            corrupt(
                store
                    .set(&k, Bytes::new(), condition)
                    .await
                    .expect_err(name),
            );
            corrupt(store.delete(&k, condition).await.expect_err(name));
            let err = store
                .transact(vec![Operation::Check {
                    key: k.clone(),
                    condition,
                }])
                .await
                .expect_err(name);
            corrupt(err);
        }
        // Under "any" a check takes it as absent, and a write replaces it.
        let etags = store
            .transact(vec![Operation::Check {
                key: k.clone(),
                condition: Condition::Any,
            }])
            .await
            .unwrap();
        assert_eq!(etags, vec![None], "{name}");
        let etag = store
            .set(&k, bytes(b"fixed"), Condition::Any)
            .await
            .unwrap();
        assert_eq!(
            store.get(&k).await.unwrap(),
            Some(Versioned {
                value: bytes(b"fixed"),
                etag
            }),
            "{name}"
        );
    }

    // An unconditional delete removes what a foreign writer left.
    let k = key("foreign");
    redis::cmd("SET")
        .arg(k.as_str())
        .arg("x")
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    store.delete(&k, Condition::Any).await.unwrap();
    assert_eq!(store.get(&k).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_are_one_hash_per_key_and_debug_hides_them() {
    let server = RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
    let store = start(&server).await;
    let k = key("secret");
    let etag = store
        .set(&k, bytes(b"hunter2"), Condition::Any)
        .await
        .unwrap();

    let mut conn = store.conn.clone();
    let (value, stored_etag): (Vec<u8>, String) = redis::cmd("HMGET")
        .arg(k.as_str())
        .arg("v")
        .arg("e")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(value, b"hunter2");
    assert_eq!(stored_etag, etag.to_string());

    let shown = format!("{store:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains(&server.url()), "{shown}");
}
