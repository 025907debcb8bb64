//! Checks under concurrent writers: conditional writes lose no update.

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;

use super::support::{assert_fails, get, set, Keys};
use crate::state::{Condition, StateStore, StoreErrorKind, Versioned};

const WRITERS: usize = 20;

fn counter(n: u64) -> Bytes {
    Bytes::copy_from_slice(&n.to_be_bytes())
}

fn read_counter(v: &Versioned) -> u64 {
    let raw =
        <[u8; 8]>::try_from(&v.value[..]).unwrap_or_else(|_| panic!("counter value {:?}", v.value));
    u64::from_be_bytes(raw)
}

/// Many tasks read a key and write it back conditionally at once: for every ETag that was read,
/// exactly one of its readers wins and the rest get a conflict, so no update is lost.
pub async fn concurrent_conditional_writers_lose_no_update(store: Arc<dyn StateStore>) {
    let keys = Keys::new("concurrent_conditional_writers");
    let key = keys.key("counter");
    set(&*store, &key, counter(0), Condition::Absent).await;

    let barrier = Arc::new(tokio::sync::Barrier::new(WRITERS));
    let tasks = (0..WRITERS)
        .map(|_| {
            let (store, key, barrier) = (store.clone(), key.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let seen = get(&*store, &key)
                    .await
                    .unwrap_or_else(|| panic!("{key} vanished"));
                tokio::task::yield_now().await;
                let written = store
                    .set(
                        &key,
                        counter(read_counter(&seen) + 1),
                        Condition::Matches(seen.etag),
                    )
                    .await;
                (seen.etag, written)
            })
        })
        .collect::<Vec<_>>();

    let mut seen_etags = HashSet::new();
    let mut winners = Vec::new();
    let mut new_etags = Vec::new();
    for task in tasks {
        let (seen, written) = task
            .await
            .unwrap_or_else(|e| panic!("writer task failed: {e}"));
        seen_etags.insert(seen);
        match written {
            Ok(etag) => {
                winners.push(seen);
                new_etags.push(etag);
            }
            Err(e) => assert_fails(Err::<(), _>(e), StoreErrorKind::Conflict, &key),
        }
    }

    let distinct_winners = winners.iter().collect::<HashSet<_>>();
    assert_eq!(
        distinct_winners.len(),
        winners.len(),
        "two writers won with the same etag: {winners:?}"
    );
    assert_eq!(
        winners.len(),
        seen_etags.len(),
        "every etag that was read must have exactly one winning writer"
    );
    let last = get(&*store, &key)
        .await
        .unwrap_or_else(|| panic!("{key} vanished"));
    assert_eq!(
        read_counter(&last),
        u64::try_from(winners.len()).unwrap_or(u64::MAX),
        "an update was lost"
    );
    assert!(
        new_etags.contains(&last.etag),
        "the stored etag {} was never returned",
        last.etag
    );
}

/// Many tasks increment one counter with read/conditional-write/retry: the final count is exact.
pub async fn concurrent_increments_with_retry_lose_no_update(store: Arc<dyn StateStore>) {
    const MAX_ATTEMPTS: usize = 10_000;
    let keys = Keys::new("concurrent_increments");
    let key = keys.key("counter");

    let barrier = Arc::new(tokio::sync::Barrier::new(WRITERS));
    let tasks = (0..WRITERS)
        .map(|_| {
            let (store, key, barrier) = (store.clone(), key.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                for _ in 0..MAX_ATTEMPTS {
                    let seen = get(&*store, &key).await;
                    let next = seen.as_ref().map_or(1, |v| read_counter(v) + 1);
                    let condition = Condition::from_seen(seen.map(|v| v.etag));
                    match store.set(&key, counter(next), condition).await {
                        Ok(_) => return,
                        Err(e) if e.is_conflict() => tokio::task::yield_now().await,
                        Err(e) => panic!("increment failed: {e}"),
                    }
                }
                panic!("no increment succeeded in {MAX_ATTEMPTS} attempts");
            })
        })
        .collect::<Vec<_>>();
    for task in tasks {
        task.await
            .unwrap_or_else(|e| panic!("increment task failed: {e}"));
    }

    let last = get(&*store, &key)
        .await
        .unwrap_or_else(|| panic!("{key} vanished"));
    assert_eq!(
        read_counter(&last),
        u64::try_from(WRITERS).unwrap_or(u64::MAX),
        "an update was lost"
    );
}
