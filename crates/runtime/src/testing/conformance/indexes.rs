//! Checks of sorted indexes (the reminders' due index): order, paging, transactional changes.

use super::support::{assert_fails, index_add_op, index_remove_op, set_op, transact, Keys};
use crate::state::{Condition, StateKey, StateStore, StoreErrorKind};

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
pub async fn index_orders_entries_by_score_and_moves_them(store: &dyn StateStore) {
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
pub async fn index_changes_only_with_its_transaction(store: &dyn StateStore) {
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
