//! Checks of ETags and write conditions: ETags grow, never come back, and guard every write.

use std::collections::HashSet;

use super::support::{
    assert_delete_conflicts, assert_fails, assert_set_conflicts, bytes, delete, delete_op, get,
    set, stale_and_current, value_and_etag, Keys,
};
use crate::state::{Condition, ETag, StateStore, StoreErrorKind, Versioned};

/// Every write gives the key a new, larger ETag, even when the value does not change.
pub async fn etag_grows_with_every_write(store: &dyn StateStore) {
    let keys = Keys::new("etag_grows");
    let a = keys.key("a");
    let mut previous = set(store, &a, bytes(b"same"), Condition::Any).await;
    for _ in 0..5 {
        let etag = set(store, &a, bytes(b"same"), Condition::Any).await;
        assert!(
            etag > previous,
            "etag {etag} after {previous} does not grow"
        );
        assert_eq!(get(store, &a).await.map(|v| v.etag), Some(etag));
        previous = etag;
    }
}

/// A deleted and re-created key never gets back an ETag an earlier reader could hold, so that
/// reader's conditional write fails instead of overwriting a value it never saw.
pub async fn etag_never_repeats_after_delete_and_recreate(store: &dyn StateStore) {
    let keys = Keys::new("etag_never_repeats");
    let a = keys.key("a");
    let other = keys.key("other");
    let mut seen = HashSet::new();
    let mut record = |etag: ETag| assert!(seen.insert(etag), "etag {etag} was handed out twice");

    for round in 0..4 {
        let first = set(store, &a, bytes(b"v"), Condition::Absent).await;
        record(first);
        record(set(store, &a, bytes(b"v"), Condition::Matches(first)).await);
        record(set(store, &other, bytes(b"o"), Condition::Any).await);
        if round % 2 == 0 {
            delete(store, &a, Condition::Any).await;
        } else {
            let etags = store.transact(vec![delete_op(&a, Condition::Any)]).await;
            assert_eq!(etags.ok(), Some(vec![None]));
        }
        assert_eq!(get(store, &a).await, None);
        // The reader of the first incarnation still holds `first`.
        let recreated = set(store, &a, bytes(b"new"), Condition::Absent).await;
        record(recreated);
        assert_set_conflicts(store, &a, bytes(b"stale"), Condition::Matches(first)).await;
        delete(store, &a, Condition::Matches(recreated)).await;
    }
}

/// [`Condition::Absent`] on an existing key is a conflict that names the key and changes nothing.
pub async fn absent_condition_conflicts_on_existing_key(store: &dyn StateStore) {
    let keys = Keys::new("absent_condition");
    let a = keys.key("a");
    let etag = set(store, &a, bytes(b"first"), Condition::Absent).await;

    let err = store.set(&a, bytes(b"second"), Condition::Absent).await;
    if let Err(e) = &err {
        assert_eq!(e.op(), "set", "{e}");
    }
    assert_fails(err, StoreErrorKind::Conflict, &a);
    assert_eq!(
        get(store, &a).await,
        Some(Versioned {
            value: bytes(b"first"),
            etag
        })
    );
}

/// [`Condition::Matches`] succeeds only with the key's current ETag.
pub async fn matches_condition_checks_the_current_etag(store: &dyn StateStore) {
    let keys = Keys::new("matches_condition");
    let a = keys.key("a");
    let (stale, current) = stale_and_current(store, &a).await;

    assert_set_conflicts(store, &a, bytes(b"lost"), Condition::Matches(stale)).await;
    assert_eq!(
        value_and_etag(store, &a).await,
        Some((bytes(b"v2"), current))
    );

    let next = set(store, &a, bytes(b"v3"), Condition::Matches(current)).await;
    assert_ne!(next, current);
    assert_eq!(value_and_etag(store, &a).await, Some((bytes(b"v3"), next)));

    // An absent key matches no ETag.
    let missing = keys.key("missing");
    assert_set_conflicts(store, &missing, bytes(b"x"), Condition::Matches(next)).await;
    assert_eq!(get(store, &missing).await, None);
}

/// Deletes check their condition; deleting an absent key is fine unless an ETag was demanded.
pub async fn delete_checks_its_condition(store: &dyn StateStore) {
    let keys = Keys::new("delete_conditions");
    let a = keys.key("a");
    let (stale, current) = stale_and_current(store, &a).await;

    assert_delete_conflicts(store, &a, Condition::Matches(stale)).await;
    assert_delete_conflicts(store, &a, Condition::Absent).await;
    assert_eq!(get(store, &a).await.map(|v| v.etag), Some(current));

    delete(store, &a, Condition::Matches(current)).await;
    assert_eq!(get(store, &a).await, None);

    // Gone: deleting again is fine without an ETag, a conflict with one.
    assert_delete_conflicts(store, &a, Condition::Matches(current)).await;
    delete(store, &a, Condition::Any).await;
    delete(store, &a, Condition::Absent).await;
    delete(store, &keys.key("never-written"), Condition::Any).await;
    assert_eq!(get(store, &a).await, None);
}
