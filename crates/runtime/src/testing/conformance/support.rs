//! What the checks share: run-scoped keys, store calls that must succeed, assertions on
//! errors, and one-line transaction steps.

use bytes::Bytes;

use crate::state::{
    Condition, ETag, Operation, StateKey, StateStore, StoreError, StoreErrorKind, Versioned,
};

/// Keys of one check, under a random run id so that runs never see each other's data.
pub(super) struct Keys {
    check: &'static str,
    run: String,
}

impl Keys {
    pub(super) fn new(check: &'static str) -> Self {
        Self {
            check,
            run: format!("{:016x}", rand::random::<u64>()),
        }
    }

    pub(super) fn key(&self, name: &str) -> StateKey {
        StateKey::actor("weft-conformance", self.check, &self.run, name)
    }
}

pub(super) fn bytes(b: &'static [u8]) -> Bytes {
    Bytes::from_static(b)
}

/// Asserts that `result` failed with `kind` and that the error names `key`.
#[track_caller]
pub(super) fn assert_fails<T: std::fmt::Debug>(
    result: Result<T, StoreError>,
    kind: StoreErrorKind,
    key: &StateKey,
) {
    match result {
        Ok(v) => panic!("expected a {kind:?} error for {key}, got Ok({v:?})"),
        Err(e) => {
            assert_eq!(e.kind(), kind, "wrong kind of error: {e}");
            assert_eq!(e.key(), Some(key), "the error must name the key: {e}");
            assert_eq!(e.is_conflict(), kind == StoreErrorKind::Conflict, "{e}");
            assert!(
                e.to_string().contains(key.as_str()),
                "the message must name the key: {e}"
            );
        }
    }
}

/// Asserts that writing `value` to `key` under `condition` is a conflict naming `key`.
pub(super) async fn assert_set_conflicts(
    store: &dyn StateStore,
    key: &StateKey,
    value: Bytes,
    condition: Condition,
) {
    assert_fails(
        store.set(key, value, condition).await,
        StoreErrorKind::Conflict,
        key,
    );
}

/// Asserts that deleting `key` under `condition` is a conflict naming `key`.
pub(super) async fn assert_delete_conflicts(
    store: &dyn StateStore,
    key: &StateKey,
    condition: Condition,
) {
    assert_fails(
        store.delete(key, condition).await,
        StoreErrorKind::Conflict,
        key,
    );
}

pub(super) async fn get(store: &dyn StateStore, key: &StateKey) -> Option<Versioned> {
    match store.get(key).await {
        Ok(v) => v,
        Err(e) => panic!("{store:?}: get {key} failed: {e}"),
    }
}

pub(super) async fn set(
    store: &dyn StateStore,
    key: &StateKey,
    value: Bytes,
    condition: Condition,
) -> ETag {
    match store.set(key, value, condition).await {
        Ok(etag) => etag,
        Err(e) => panic!("{store:?}: set {key} under {condition:?} failed: {e}"),
    }
}

pub(super) async fn delete(store: &dyn StateStore, key: &StateKey, condition: Condition) {
    if let Err(e) = store.delete(key, condition).await {
        panic!("{store:?}: delete {key} under {condition:?} failed: {e}");
    }
}

/// `key`'s value and ETag, `None` when it is absent.
pub(super) async fn value_and_etag(
    store: &dyn StateStore,
    key: &StateKey,
) -> Option<(Bytes, ETag)> {
    get(store, key).await.map(|v| (v.value, v.etag))
}

/// Writes `v1` and then `v2` to `key` and returns both ETags: the stale one and the current one.
pub(super) async fn stale_and_current(store: &dyn StateStore, key: &StateKey) -> (ETag, ETag) {
    let stale = set(store, key, bytes(b"v1"), Condition::Any).await;
    let current = set(store, key, bytes(b"v2"), Condition::Any).await;
    (stale, current)
}

/// Reads `keys` in one call that must succeed.
pub(super) async fn bulk_get(store: &dyn StateStore, keys: &[StateKey]) -> Vec<Option<Versioned>> {
    match store.bulk_get(keys).await {
        Ok(values) => values,
        Err(e) => panic!("{store:?}: bulk_get of {} keys failed: {e}", keys.len()),
    }
}

/// Runs a transaction that must succeed.
pub(super) async fn transact(store: &dyn StateStore, ops: Vec<Operation>) -> Vec<Option<ETag>> {
    match store.transact(ops).await {
        Ok(etags) => etags,
        Err(e) => panic!("{store:?}: transact failed: {e}"),
    }
}

// One line per step of a transaction, so that a check reads as the list of what it writes.

/// An [`Operation::Set`] of `value` to `key` under `condition`.
pub(super) fn set_op(key: &StateKey, value: &'static [u8], condition: Condition) -> Operation {
    Operation::Set {
        key: key.clone(),
        value: bytes(value),
        condition,
    }
}

/// An [`Operation::Delete`] of `key` under `condition`.
pub(super) fn delete_op(key: &StateKey, condition: Condition) -> Operation {
    Operation::Delete {
        key: key.clone(),
        condition,
    }
}

/// An [`Operation::IndexAdd`] of `member` to `index` at `score`.
pub(super) fn index_add_op(index: &StateKey, member: &StateKey, score: u64) -> Operation {
    Operation::IndexAdd {
        index: index.clone(),
        member: member.clone(),
        score,
    }
}

/// An [`Operation::IndexRemove`] of `member` from `index`.
pub(super) fn index_remove_op(index: &StateKey, member: &StateKey) -> Operation {
    Operation::IndexRemove {
        index: index.clone(),
        member: member.clone(),
    }
}
