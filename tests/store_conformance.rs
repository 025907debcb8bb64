//! A `StateStore` written outside weft runs the store conformance suite through the facade
//! (`weft::testing::conformance`, feature `test-util`), as a third-party store's tests would.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use weft::state::{Condition, ETag, IndexEntry, Operation, StateKey, StoreError, Versioned};
use weft::testing::conformance;
use weft::{MemoryStore, StateStore};

/// A store defined in this (outside) crate: it delegates to a `MemoryStore` and counts the
/// calls it serves, so the test can tell the suite really went through it.
#[derive(Debug)]
struct CountingStore {
    inner: MemoryStore,
    calls: AtomicUsize,
}

impl CountingStore {
    fn served(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }
}

#[async_trait]
impl StateStore for CountingStore {
    async fn get(&self, key: &StateKey) -> Result<Option<Versioned>, StoreError> {
        self.served();
        self.inner.get(key).await
    }

    async fn bulk_get(&self, keys: &[StateKey]) -> Result<Vec<Option<Versioned>>, StoreError> {
        self.served();
        self.inner.bulk_get(keys).await
    }

    async fn set(
        &self,
        key: &StateKey,
        value: Bytes,
        condition: Condition,
    ) -> Result<ETag, StoreError> {
        self.served();
        self.inner.set(key, value, condition).await
    }

    async fn delete(&self, key: &StateKey, condition: Condition) -> Result<(), StoreError> {
        self.served();
        self.inner.delete(key, condition).await
    }

    async fn transact(&self, ops: Vec<Operation>) -> Result<Vec<Option<ETag>>, StoreError> {
        self.served();
        self.inner.transact(ops).await
    }

    async fn scan_index(
        &self,
        index: &StateKey,
        max_score: u64,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<IndexEntry>, StoreError> {
        self.served();
        self.inner.scan_index(index, max_score, offset, limit).await
    }

    async fn flush(&self) -> Result<(), StoreError> {
        self.served();
        self.inner.flush().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_defined_outside_weft_passes_the_conformance_suite() {
    let store = Arc::new(CountingStore {
        inner: MemoryStore::new(),
        calls: AtomicUsize::new(0),
    });
    conformance::run_all(store.clone()).await;
    assert!(
        store.calls.load(Ordering::Relaxed) > 100,
        "the suite must run against the wrapper, not around it"
    );
}

/// A store that forgets conditional writes' conditions must fail the suite: the suite checks.
#[derive(Debug)]
struct IgnoresConditions(MemoryStore);

#[async_trait]
impl StateStore for IgnoresConditions {
    async fn get(&self, key: &StateKey) -> Result<Option<Versioned>, StoreError> {
        self.0.get(key).await
    }

    async fn bulk_get(&self, keys: &[StateKey]) -> Result<Vec<Option<Versioned>>, StoreError> {
        self.0.bulk_get(keys).await
    }

    async fn set(
        &self,
        key: &StateKey,
        value: Bytes,
        _condition: Condition,
    ) -> Result<ETag, StoreError> {
        self.0.set(key, value, Condition::Any).await
    }

    async fn delete(&self, key: &StateKey, condition: Condition) -> Result<(), StoreError> {
        self.0.delete(key, condition).await
    }

    async fn transact(&self, ops: Vec<Operation>) -> Result<Vec<Option<ETag>>, StoreError> {
        self.0.transact(ops).await
    }

    async fn scan_index(
        &self,
        index: &StateKey,
        max_score: u64,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<IndexEntry>, StoreError> {
        self.0.scan_index(index, max_score, offset, limit).await
    }

    async fn flush(&self) -> Result<(), StoreError> {
        self.0.flush().await
    }
}

#[tokio::test]
#[should_panic(expected = "expected a Conflict error")]
async fn a_store_that_ignores_write_conditions_fails_the_suite() {
    conformance::absent_condition_conflicts_on_existing_key(&IgnoresConditions(MemoryStore::new()))
        .await;
}
