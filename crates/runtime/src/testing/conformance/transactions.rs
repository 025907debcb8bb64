//! Checks of multi-key transactions: all or nothing, one operation per key, fencing checks.

use super::support::{
    assert_fails, bulk_get, bytes, delete_op, get, set, set_op, transact, value_and_etag, Keys,
};
use crate::state::{Condition, Operation, StateStore, StoreErrorKind};

/// A transaction applies every operation and reports each key's new ETag in order.
pub async fn transact_applies_every_operation(store: &dyn StateStore) {
    let keys = Keys::new("transact_applies");
    let (a, b, c, d) = (keys.key("a"), keys.key("b"), keys.key("c"), keys.key("d"));
    let etag_b = set(store, &b, bytes(b"b0"), Condition::Any).await;
    let etag_c = set(store, &c, bytes(b"c0"), Condition::Any).await;

    let etags = transact(
        store,
        vec![
            set_op(&a, b"a1", Condition::Absent),
            set_op(&b, b"b1", Condition::Matches(etag_b)),
            delete_op(&c, Condition::Matches(etag_c)),
            delete_op(&d, Condition::Any),
        ],
    )
    .await;

    let [Some(new_a), Some(new_b), None, None] = etags[..] else {
        panic!("unexpected transact result {etags:?}");
    };
    assert_ne!(new_a, new_b);
    assert_ne!(new_b, etag_b);
    assert_eq!(value_and_etag(store, &a).await, Some((bytes(b"a1"), new_a)));
    assert_eq!(value_and_etag(store, &b).await, Some((bytes(b"b1"), new_b)));
    assert_eq!(get(store, &c).await, None);
    assert_eq!(get(store, &d).await, None);
}

/// One failing condition anywhere in a transaction leaves every key as it was, and the error names
/// the first key whose condition failed.
pub async fn transact_with_a_failing_condition_changes_nothing(store: &dyn StateStore) {
    let keys = Keys::new("transact_all_or_nothing");
    let (a, b, c, d, e) = (
        keys.key("a"),
        keys.key("b"),
        keys.key("c"),
        keys.key("d"),
        keys.key("e"),
    );
    set(store, &a, bytes(b"a0"), Condition::Any).await;
    let etag_b = set(store, &b, bytes(b"b0"), Condition::Any).await;
    let stale_c = set(store, &c, bytes(b"c0"), Condition::Any).await;
    set(store, &c, bytes(b"c1"), Condition::Any).await;
    let all = [a.clone(), b.clone(), c.clone(), d.clone(), e.clone()];
    let before = bulk_get(store, &all).await;

    // The failing condition in the middle, a second one after it.
    let result = store
        .transact(vec![
            set_op(&a, b"a1", Condition::Any),
            delete_op(&b, Condition::Matches(etag_b)),
            set_op(&c, b"c2", Condition::Matches(stale_c)),
            set_op(&d, b"d1", Condition::Absent),
            delete_op(&e, Condition::Matches(etag_b)),
        ])
        .await;
    assert_fails(result, StoreErrorKind::Conflict, &c);
    assert_eq!(
        bulk_get(store, &all).await,
        before,
        "a failed transaction changed the store"
    );

    // The failing condition last, after writes that would succeed on their own.
    let result = store
        .transact(vec![
            set_op(&d, b"d1", Condition::Absent),
            set_op(&a, b"a1", Condition::Any),
            delete_op(&c, Condition::Any),
            set_op(&b, b"b1", Condition::Absent),
        ])
        .await;
    assert_fails(result, StoreErrorKind::Conflict, &b);
    assert_eq!(
        bulk_get(store, &all).await,
        before,
        "a failed transaction changed the store"
    );
}

/// Two operations on one key make the transaction invalid; nothing is applied.
pub async fn transact_rejects_two_operations_on_one_key(store: &dyn StateStore) {
    let keys = Keys::new("transact_duplicate_keys");
    let (a, b) = (keys.key("a"), keys.key("b"));
    let etag_b = set(store, &b, bytes(b"b0"), Condition::Any).await;

    let result = store
        .transact(vec![
            set_op(&a, b"a1", Condition::Any),
            set_op(&b, b"b1", Condition::Matches(etag_b)),
            delete_op(&a, Condition::Any),
        ])
        .await;
    assert_fails(result, StoreErrorKind::Invalid, &a);
    assert_eq!(get(store, &a).await, None);
    assert_eq!(
        value_and_etag(store, &b).await,
        Some((bytes(b"b0"), etag_b))
    );
}

/// An empty transaction succeeds and returns no ETags.
pub async fn transact_without_operations_is_ok(store: &dyn StateStore) {
    let etags = store.transact(Vec::new()).await;
    assert_eq!(etags.ok(), Some(Vec::new()));
}

/// `Operation::Check` writes nothing, but fails the whole transaction when its condition does
/// not hold: how a commit is fenced by an activation's owner epoch.
pub async fn a_check_operation_guards_a_transaction_without_writing(store: &dyn StateStore) {
    let keys = Keys::new("check_guards");
    let (epoch, data) = (keys.key("epoch"), keys.key("data"));
    let mine = set(store, &epoch, bytes(b"1"), Condition::Any).await;
    let guarded = |value: &'static [u8], expect: Condition| {
        vec![
            Operation::Check {
                key: epoch.clone(),
                condition: expect,
            },
            set_op(&data, value, Condition::Any),
        ]
    };
    let etags = store
        .transact(guarded(b"v1", Condition::Matches(mine)))
        .await
        .unwrap_or_else(|err| panic!("a check that holds must pass: {err}"));
    assert_eq!(
        etags[0],
        Some(mine),
        "a check reports the key's current etag"
    );
    assert_eq!(
        get(store, &epoch).await.map(|v| v.etag),
        Some(mine),
        "a check must not write"
    );

    // Someone else takes the epoch: the old holder's commit is refused, nothing is written.
    set(store, &epoch, bytes(b"2"), Condition::Matches(mine)).await;
    assert_fails(
        store
            .transact(guarded(b"v2", Condition::Matches(mine)))
            .await,
        StoreErrorKind::Conflict,
        &epoch,
    );
    assert_eq!(get(store, &data).await.map(|v| v.value), Some(bytes(b"v1")));
}
