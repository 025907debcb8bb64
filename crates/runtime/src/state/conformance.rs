//! The conformance suite every [`StateStore`] must pass, written once and run against each store.
//!
//! Why one shared suite: the host relies on the trait's contract (ETags that never come back,
//! conditions checked atomically with the write, all-or-nothing transactions), not on any one
//! store. Each check uses keys under a random run id, so the suite also works against a shared,
//! non-empty store such as a Redis server.

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;

use super::{
    Condition, ETag, Operation, StateKey, StateStore, StoreError, StoreErrorKind, Versioned,
};

/// Runs every check of the suite against `store`.
pub(crate) async fn run_all(store: Arc<dyn StateStore>) {
    let s = &*store;
    absent_key_reads_none(s).await;
    set_then_get_returns_value_and_etag(s).await;
    etag_grows_with_every_write(s).await;
    etag_never_repeats_after_delete_and_recreate(s).await;
    absent_condition_conflicts_on_existing_key(s).await;
    matches_condition_checks_the_current_etag(s).await;
    delete_checks_its_condition(s).await;
    bulk_get_keeps_order_and_reports_absent_keys(s).await;
    transact_applies_every_operation(s).await;
    transact_with_a_failing_condition_changes_nothing(s).await;
    transact_rejects_two_operations_on_one_key(s).await;
    transact_without_operations_is_ok(s).await;
    a_check_operation_guards_a_transaction_without_writing(s).await;
    empty_and_binary_values_round_trip(s).await;
    flush_succeeds(s).await;
    index_orders_entries_by_score_and_moves_them(s).await;
    index_changes_only_with_its_transaction(s).await;
    concurrent_conditional_writers_lose_no_update(store.clone()).await;
    concurrent_increments_with_retry_lose_no_update(store).await;
}

/// `Operation::Check` writes nothing, but fails the whole transaction when its condition does
/// not hold: how a commit is fenced by an activation's owner epoch.
pub(crate) async fn a_check_operation_guards_a_transaction_without_writing(store: &dyn StateStore) {
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

async fn scan(
    store: &dyn StateStore,
    index: &StateKey,
    max: u64,
    offset: usize,
    limit: usize,
) -> Vec<(String, u64)> {
    match store.scan_index(index, max, offset, limit).await {
        Ok(entries) => entries
            .into_iter()
            .map(|e| {
                (
                    e.member
                        .as_str()
                        .rsplit("||")
                        .next()
                        .unwrap_or("")
                        .to_owned(),
                    e.score,
                )
            })
            .collect(),
        Err(e) => panic!("{store:?}: scan_index {index} failed: {e}"),
    }
}

/// A sorted index returns entries up to a score, lowest first, pages with offset and limit,
/// moves an entry when it is added again, and forgets removed entries.
pub(crate) async fn index_orders_entries_by_score_and_moves_them(store: &dyn StateStore) {
    let keys = Keys::new("index_orders");
    let index = keys.key("__index");
    let at = 1_700_000_000_000u64;
    let add = |name: &str, score: u64| index_add_op(&index, &keys.key(name), score);
    assert!(
        scan(store, &index, u64::MAX, 0, 10).await.is_empty(),
        "a new index is empty"
    );
    transact(
        store,
        vec![add("c", at + 30), add("a", at + 10), add("b", at + 20)],
    )
    .await;
    let all = scan(store, &index, u64::MAX, 0, 10).await;
    let names = |v: &[(String, u64)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&all), ["a", "b", "c"]);
    assert_eq!(all[0].1, at + 10, "scores come back exactly");
    assert_eq!(
        names(&scan(store, &index, at + 20, 0, 10).await),
        ["a", "b"]
    );
    assert_eq!(
        names(&scan(store, &index, at + 9, 0, 10).await),
        Vec::<String>::new()
    );
    assert_eq!(names(&scan(store, &index, u64::MAX, 1, 1).await), ["b"]);

    // Adding again moves the entry; removing forgets it; removing an absent entry is fine.
    transact(
        store,
        vec![
            add("a", at + 40),
            index_remove_op(&index, &keys.key("b")),
            index_remove_op(&index, &keys.key("never")),
        ],
    )
    .await;
    let all = scan(store, &index, u64::MAX, 0, 10).await;
    assert_eq!(names(&all), ["c", "a"]);
    assert_eq!(all[1].1, at + 40);
}

/// Index operations are part of their transaction: a failing condition leaves the index as it
/// was, and a successful transaction changes record and index together.
pub(crate) async fn index_changes_only_with_its_transaction(store: &dyn StateStore) {
    let keys = Keys::new("index_atomic");
    let (index, record) = (keys.key("__index"), keys.key("record"));
    let ops = |condition: Condition, score: u64| {
        vec![
            set_op(&record, b"r", condition),
            index_add_op(&index, &record, score),
        ]
    };
    let etags = transact(store, ops(Condition::Absent, 5)).await;
    assert!(etags[0].is_some() && etags[1].is_none(), "{etags:?}");
    assert_fails(
        store.transact(ops(Condition::Absent, 7)).await,
        StoreErrorKind::Conflict,
        &record,
    );
    assert_eq!(
        scan(store, &index, u64::MAX, 0, 10).await,
        [("record".to_owned(), 5)],
        "a failed transaction must not move the index entry"
    );
    // Two entries of one index in one transaction are fine; one key as record and index is not.
    let other = keys.key("other");
    transact(
        store,
        vec![
            index_add_op(&index, &other, 1),
            index_remove_op(&index, &record),
        ],
    )
    .await;
    assert_eq!(
        scan(store, &index, u64::MAX, 0, 10).await,
        [("other".to_owned(), 1)]
    );
    let mixed = store
        .transact(vec![
            set_op(&index, b"x", Condition::Any),
            index_add_op(&index, &record, 1),
        ])
        .await;
    assert_fails(mixed, StoreErrorKind::Invalid, &index);
}

/// Keys of one check, under a random run id so that runs never see each other's data.
struct Keys {
    check: &'static str,
    run: String,
}

impl Keys {
    fn new(check: &'static str) -> Self {
        Self {
            check,
            run: format!("{:016x}", rand::random::<u64>()),
        }
    }

    fn key(&self, name: &str) -> StateKey {
        StateKey::actor("weft-conformance", self.check, &self.run, name)
    }
}

fn bytes(b: &'static [u8]) -> Bytes {
    Bytes::from_static(b)
}

/// Asserts that `result` failed with `kind` and that the error names `key`.
#[track_caller]
fn assert_fails<T: std::fmt::Debug>(
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
async fn assert_set_conflicts(
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
async fn assert_delete_conflicts(store: &dyn StateStore, key: &StateKey, condition: Condition) {
    assert_fails(
        store.delete(key, condition).await,
        StoreErrorKind::Conflict,
        key,
    );
}

async fn get(store: &dyn StateStore, key: &StateKey) -> Option<Versioned> {
    match store.get(key).await {
        Ok(v) => v,
        Err(e) => panic!("{store:?}: get {key} failed: {e}"),
    }
}

async fn set(store: &dyn StateStore, key: &StateKey, value: Bytes, condition: Condition) -> ETag {
    match store.set(key, value, condition).await {
        Ok(etag) => etag,
        Err(e) => panic!("{store:?}: set {key} under {condition:?} failed: {e}"),
    }
}

async fn delete(store: &dyn StateStore, key: &StateKey, condition: Condition) {
    if let Err(e) = store.delete(key, condition).await {
        panic!("{store:?}: delete {key} under {condition:?} failed: {e}");
    }
}

/// `key`'s value and ETag, `None` when it is absent.
async fn value_and_etag(store: &dyn StateStore, key: &StateKey) -> Option<(Bytes, ETag)> {
    get(store, key).await.map(|v| (v.value, v.etag))
}

/// Writes `v1` and then `v2` to `key` and returns both ETags: the stale one and the current one.
async fn stale_and_current(store: &dyn StateStore, key: &StateKey) -> (ETag, ETag) {
    let stale = set(store, key, bytes(b"v1"), Condition::Any).await;
    let current = set(store, key, bytes(b"v2"), Condition::Any).await;
    (stale, current)
}

/// Reads `keys` in one call that must succeed.
async fn bulk_get(store: &dyn StateStore, keys: &[StateKey]) -> Vec<Option<Versioned>> {
    match store.bulk_get(keys).await {
        Ok(values) => values,
        Err(e) => panic!("{store:?}: bulk_get of {} keys failed: {e}", keys.len()),
    }
}

/// Runs a transaction that must succeed.
async fn transact(store: &dyn StateStore, ops: Vec<Operation>) -> Vec<Option<ETag>> {
    match store.transact(ops).await {
        Ok(etags) => etags,
        Err(e) => panic!("{store:?}: transact failed: {e}"),
    }
}

// One line per step of a transaction, so that a check reads as the list of what it writes.

/// An [`Operation::Set`] of `value` to `key` under `condition`.
fn set_op(key: &StateKey, value: &'static [u8], condition: Condition) -> Operation {
    Operation::Set {
        key: key.clone(),
        value: bytes(value),
        condition,
    }
}

/// An [`Operation::Delete`] of `key` under `condition`.
fn delete_op(key: &StateKey, condition: Condition) -> Operation {
    Operation::Delete {
        key: key.clone(),
        condition,
    }
}

/// An [`Operation::IndexAdd`] of `member` to `index` at `score`.
fn index_add_op(index: &StateKey, member: &StateKey, score: u64) -> Operation {
    Operation::IndexAdd {
        index: index.clone(),
        member: member.clone(),
        score,
    }
}

/// An [`Operation::IndexRemove`] of `member` from `index`.
fn index_remove_op(index: &StateKey, member: &StateKey) -> Operation {
    Operation::IndexRemove {
        index: index.clone(),
        member: member.clone(),
    }
}

/// Reading a key that was never written gives `None`, not an error.
pub(crate) async fn absent_key_reads_none(store: &dyn StateStore) {
    let keys = Keys::new("absent_key_reads_none");
    assert_eq!(get(store, &keys.key("never-written")).await, None);
}

/// A write's returned ETag and value are what the next read sees.
pub(crate) async fn set_then_get_returns_value_and_etag(store: &dyn StateStore) {
    let keys = Keys::new("set_then_get");
    let a = keys.key("a");
    let etag = set(store, &a, bytes(b"hello"), Condition::Absent).await;
    assert_eq!(
        get(store, &a).await,
        Some(Versioned {
            value: bytes(b"hello"),
            etag
        })
    );

    let b = keys.key("b");
    let etag_b = set(store, &b, bytes(b"unconditional"), Condition::Any).await;
    assert_eq!(
        value_and_etag(store, &b).await,
        Some((bytes(b"unconditional"), etag_b))
    );
    // The other key is untouched.
    assert_eq!(get(store, &a).await.map(|v| v.etag), Some(etag));
}

/// Every write gives the key a new, larger ETag, even when the value does not change.
pub(crate) async fn etag_grows_with_every_write(store: &dyn StateStore) {
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
pub(crate) async fn etag_never_repeats_after_delete_and_recreate(store: &dyn StateStore) {
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
pub(crate) async fn absent_condition_conflicts_on_existing_key(store: &dyn StateStore) {
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
pub(crate) async fn matches_condition_checks_the_current_etag(store: &dyn StateStore) {
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
pub(crate) async fn delete_checks_its_condition(store: &dyn StateStore) {
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

/// `bulk_get` answers one entry per requested key, in request order, `None` for absent keys.
pub(crate) async fn bulk_get_keeps_order_and_reports_absent_keys(store: &dyn StateStore) {
    let keys = Keys::new("bulk_get");
    let (a, b, missing) = (keys.key("a"), keys.key("b"), keys.key("missing"));
    let etag_a = set(store, &a, bytes(b"A"), Condition::Any).await;
    let etag_b = set(store, &b, bytes(b"B"), Condition::Any).await;

    let got = bulk_get(store, &[b.clone(), missing.clone(), a.clone(), b.clone()]).await;
    let va = Versioned {
        value: bytes(b"A"),
        etag: etag_a,
    };
    let vb = Versioned {
        value: bytes(b"B"),
        etag: etag_b,
    };
    assert_eq!(got, vec![Some(vb.clone()), None, Some(va), Some(vb)]);

    assert!(bulk_get(store, &[]).await.is_empty());
}

/// A transaction applies every operation and reports each key's new ETag in order.
pub(crate) async fn transact_applies_every_operation(store: &dyn StateStore) {
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
pub(crate) async fn transact_with_a_failing_condition_changes_nothing(store: &dyn StateStore) {
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
pub(crate) async fn transact_rejects_two_operations_on_one_key(store: &dyn StateStore) {
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
pub(crate) async fn transact_without_operations_is_ok(store: &dyn StateStore) {
    let etags = store.transact(Vec::new()).await;
    assert_eq!(etags.ok(), Some(Vec::new()));
}

/// Values are opaque bytes: empty values, non-UTF-8 bytes and values around the size of an
/// 8-byte header come back exactly as written.
pub(crate) async fn empty_and_binary_values_round_trip(store: &dyn StateStore) {
    let keys = Keys::new("binary_values");
    let all_bytes: Vec<u8> = (0..=u8::MAX).collect();
    let big: Vec<u8> = (0..64 * 1024_u32)
        .map(|i| i.to_le_bytes()[0] ^ 0xa5)
        .collect();
    let values = [
        Bytes::new(),
        bytes(&[0]),
        bytes(&[0xff]),
        bytes(&[0xc3, 0x28, 0xa0, 0xa1]), // invalid UTF-8
        bytes(&[0, 0, 0, 0, 0, 0, 0]),
        bytes(&[0, 0, 0, 0, 0, 0, 0, 0]),
        bytes(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
        Bytes::from(all_bytes),
        Bytes::from(big),
    ];

    for (i, value) in values.iter().enumerate() {
        let key = keys.key(&format!("set-{i}"));
        let etag = set(store, &key, value.clone(), Condition::Absent).await;
        let got = get(store, &key).await;
        assert_eq!(
            got.as_ref().map(|v| &v.value),
            Some(value),
            "value {i} via set"
        );
        assert_eq!(got.map(|v| v.etag), Some(etag));
    }

    let ops = values
        .iter()
        .enumerate()
        .map(|(i, value)| Operation::Set {
            key: keys.key(&format!("transact-{i}")),
            value: value.clone(),
            condition: Condition::Absent,
        })
        .collect::<Vec<_>>();
    let tx_keys = ops.iter().map(|op| op.key().clone()).collect::<Vec<_>>();
    let etags = transact(store, ops).await;
    let got = bulk_get(store, &tx_keys).await;
    for (i, value) in values.iter().enumerate() {
        assert_eq!(
            got[i].as_ref().map(|v| &v.value),
            Some(value),
            "value {i} via transact"
        );
        assert_eq!(got[i].as_ref().map(|v| v.etag), etags[i]);
    }
}

/// `flush` succeeds after writes.
pub(crate) async fn flush_succeeds(store: &dyn StateStore) {
    let keys = Keys::new("flush");
    set(store, &keys.key("a"), bytes(b"a"), Condition::Any).await;
    if let Err(e) = store.flush().await {
        panic!("{store:?}: flush failed: {e}");
    }
}

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
pub(crate) async fn concurrent_conditional_writers_lose_no_update(store: Arc<dyn StateStore>) {
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
pub(crate) async fn concurrent_increments_with_retry_lose_no_update(store: Arc<dyn StateStore>) {
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

mod tests {
    use super::*;
    use crate::state::{MemoryStore, SledStore};

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn memory_store_conforms() {
        run_all(Arc::new(MemoryStore::new())).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sled_store_conforms() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path().join("state")).unwrap();
        run_all(Arc::new(store)).await;
    }
}

mod redis_tests {
    use super::*;
    use crate::state::RedisStore;
    use crate::testing::RedisServer;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_store_conforms() {
        let server = RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
        let store = RedisStore::connect(&server.url())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        run_all(Arc::new(store)).await;
    }
}
