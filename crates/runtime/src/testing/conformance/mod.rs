//! The conformance suite every [`StateStore`] must pass, written once and run against each store,
//! including yours.
//!
//! Why one shared suite: the host relies on the trait's contract (ETags that never come back,
//! conditions checked atomically with the write, all-or-nothing transactions, sorted indexes that
//! change only with their transaction), not on any one store. Each check uses keys under a random
//! run id, so the suite also works against a shared, non-empty store such as a Redis server.
//!
//! [`run_all`] runs every check; each check is also public, to run one alone while a store is
//! being written. A failed check panics, as an assertion does, so the suite runs inside a test.
//!
//! # Examples
//! A store of your own (here a thin wrapper delegating to [`MemoryStore`]) runs the suite from
//! one test:
//! ```
//! use std::sync::Arc;
//!
//! use async_trait::async_trait;
//! use bytes::Bytes;
//! use weft_runtime::state::{
//!     Condition, ETag, IndexEntry, MemoryStore, Operation, StateKey, StateStore, StoreError,
//!     Versioned,
//! };
//! use weft_runtime::testing::conformance;
//!
//! #[derive(Debug)]
//! struct MyStore {
//!     inner: MemoryStore,
//! }
//!
//! #[async_trait]
//! impl StateStore for MyStore {
//!     async fn get(&self, key: &StateKey) -> Result<Option<Versioned>, StoreError> {
//!         self.inner.get(key).await
//!     }
//!     async fn bulk_get(&self, keys: &[StateKey]) -> Result<Vec<Option<Versioned>>, StoreError> {
//!         self.inner.bulk_get(keys).await
//!     }
//!     async fn set(&self, key: &StateKey, value: Bytes, condition: Condition)
//!         -> Result<ETag, StoreError> {
//!         self.inner.set(key, value, condition).await
//!     }
//!     async fn delete(&self, key: &StateKey, condition: Condition) -> Result<(), StoreError> {
//!         self.inner.delete(key, condition).await
//!     }
//!     async fn transact(&self, ops: Vec<Operation>) -> Result<Vec<Option<ETag>>, StoreError> {
//!         self.inner.transact(ops).await
//!     }
//!     async fn scan_index(&self, index: &StateKey, max_score: u64, offset: usize, limit: usize)
//!         -> Result<Vec<IndexEntry>, StoreError> {
//!         self.inner.scan_index(index, max_score, offset, limit).await
//!     }
//!     async fn flush(&self) -> Result<(), StoreError> {
//!         self.inner.flush().await
//!     }
//! }
//!
//! // In your crate: `#[tokio::test(flavor = "multi_thread")] async fn my_store_conforms()`.
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() {
//! conformance::run_all(Arc::new(MyStore { inner: MemoryStore::new() })).await;
//! # }
//! ```
//!
//! [`MemoryStore`]: crate::state::MemoryStore

mod concurrency;
mod etags;
mod indexes;
mod support;
mod transactions;
mod values;

use std::sync::Arc;

use crate::state::StateStore;

pub use concurrency::{
    concurrent_conditional_writers_lose_no_update, concurrent_increments_with_retry_lose_no_update,
};
pub use etags::{
    absent_condition_conflicts_on_existing_key, delete_checks_its_condition,
    etag_grows_with_every_write, etag_never_repeats_after_delete_and_recreate,
    matches_condition_checks_the_current_etag,
};
pub use indexes::{
    index_changes_only_with_its_transaction, index_orders_entries_by_score_and_moves_them,
};
pub use transactions::{
    a_check_operation_guards_a_transaction_without_writing, transact_applies_every_operation,
    transact_rejects_two_operations_on_one_key, transact_with_a_failing_condition_changes_nothing,
    transact_without_operations_is_ok,
};
pub use values::{
    absent_key_reads_none, bulk_get_keeps_order_and_reports_absent_keys,
    empty_and_binary_values_round_trip, flush_succeeds, set_then_get_returns_value_and_etag,
};

/// Runs every check of the suite against `store`, in order; panics (like `assert!`) at the first
/// check the store fails, with a message naming the check's expectation.
///
/// Call it from a test on a multi-threaded runtime: the concurrency checks spawn tasks that
/// write at once (`#[tokio::test(flavor = "multi_thread")]`).
///
/// # Panics
/// When `store` breaks the [`StateStore`] contract, or one of its calls fails unexpectedly.
pub async fn run_all(store: Arc<dyn StateStore>) {
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
