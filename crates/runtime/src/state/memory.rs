//! An in-memory [`StateStore`] for tests and single-process development.
//!
//! Why one store-wide ETag counter and not a counter per key: a per-key counter restarts when a
//! key is deleted, so a re-created key could get an ETag that a reader of the old key still
//! holds, and that reader's conditional write would then succeed against a value it never saw.
//! One counter shared by every key never hands out a value twice, and it still grows per key.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use bytes::Bytes;

use super::{
    check_distinct_keys, Condition, ETag, IndexEntry, Operation, StateKey, StateStore, StoreError,
    Versioned,
};

/// A [`StateStore`] that keeps everything in process memory; nothing survives a restart.
///
/// Clones share the same data, so a test can keep one clone and hand another to a host.
/// The lock is a plain [`std::sync::Mutex`] held only for the map lookup or update, never across
/// an `.await`.
///
/// # Examples
/// ```
/// use bytes::Bytes;
/// use weft_runtime::state::{Condition, MemoryStore, StateKey, StateStore};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), weft_runtime::state::StoreError> {
/// let store = MemoryStore::new();
/// let key = StateKey::actor("shop", "cart", "u42", "items");
/// let etag = store.set(&key, Bytes::from_static(b"[]"), Condition::Absent).await?;
/// let read = store.get(&key).await?;
/// assert_eq!(read.map(|v| v.etag), Some(etag));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<StateKey, Versioned>,
    /// The last ETag handed out by this store, for any key.
    last_etag: Option<ETag>,
    /// Sorted indexes by name.
    indexes: HashMap<StateKey, Index>,
}

/// One sorted index: entries by score, and each member's score.
#[derive(Default)]
struct Index {
    by_score: BTreeSet<(u64, StateKey)>,
    scores: HashMap<StateKey, u64>,
}

impl Index {
    fn add(&mut self, member: StateKey, score: u64) {
        if let Some(old) = self.scores.insert(member.clone(), score) {
            self.by_score.remove(&(old, member.clone()));
        }
        self.by_score.insert((score, member));
    }

    fn remove(&mut self, member: &StateKey) {
        if let Some(old) = self.scores.remove(member) {
            self.by_score.remove(&(old, member.clone()));
        }
    }
}

impl Inner {
    /// A fresh ETag, larger than every ETag this store has handed out before.
    fn next_etag(&mut self) -> ETag {
        let etag = ETag::next(self.last_etag);
        self.last_etag = Some(etag);
        etag
    }

    fn etag_of(&self, key: &StateKey) -> Option<ETag> {
        self.entries.get(key).map(|v| v.etag)
    }

    /// Checks `condition` for `key` and returns the error `op` reports when it does not hold.
    fn check(
        &self,
        op: &'static str,
        key: &StateKey,
        condition: Condition,
    ) -> Result<(), StoreError> {
        condition.check(op, key, self.etag_of(key))
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of keys currently stored.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether no key is stored.
    pub fn is_empty(&self) -> bool {
        self.lock().entries.is_empty()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A poisoned lock still guards a consistent map: no code below panics between the first
        // and the last change it makes under the lock (a failed allocation aborts instead).
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("keys", &self.len())
            .finish()
    }
}

#[async_trait]
impl StateStore for MemoryStore {
    async fn get(&self, key: &StateKey) -> Result<Option<Versioned>, StoreError> {
        Ok(self.lock().entries.get(key).cloned())
    }

    async fn bulk_get(&self, keys: &[StateKey]) -> Result<Vec<Option<Versioned>>, StoreError> {
        let inner = self.lock();
        Ok(keys.iter().map(|k| inner.entries.get(k).cloned()).collect())
    }

    async fn set(
        &self,
        key: &StateKey,
        value: Bytes,
        condition: Condition,
    ) -> Result<ETag, StoreError> {
        let mut inner = self.lock();
        inner.check("set", key, condition)?;
        let etag = inner.next_etag();
        inner.entries.insert(key.clone(), Versioned { value, etag });
        Ok(etag)
    }

    async fn delete(&self, key: &StateKey, condition: Condition) -> Result<(), StoreError> {
        let mut inner = self.lock();
        inner.check("delete", key, condition)?;
        inner.entries.remove(key);
        Ok(())
    }

    async fn transact(&self, ops: Vec<Operation>) -> Result<Vec<Option<ETag>>, StoreError> {
        check_distinct_keys(&ops)?;
        let mut inner = self.lock();
        // Every condition first, so a failure leaves the map untouched.
        for op in &ops {
            inner.check("transact", op.key(), op.condition())?;
        }
        let etags = ops
            .into_iter()
            .map(|op| match op {
                Operation::Set { key, value, .. } => {
                    let etag = inner.next_etag();
                    inner.entries.insert(key, Versioned { value, etag });
                    Some(etag)
                }
                Operation::Delete { key, .. } => {
                    inner.entries.remove(&key);
                    None
                }
                Operation::Check { key, .. } => inner.entries.get(&key).map(|v| v.etag),
                Operation::IndexAdd {
                    index,
                    member,
                    score,
                } => {
                    inner.indexes.entry(index).or_default().add(member, score);
                    None
                }
                Operation::IndexRemove { index, member } => {
                    if let Some(i) = inner.indexes.get_mut(&index) {
                        i.remove(&member);
                        if i.scores.is_empty() {
                            inner.indexes.remove(&index);
                        }
                    }
                    None
                }
            })
            .collect();
        Ok(etags)
    }

    async fn scan_index(
        &self,
        index: &StateKey,
        max_score: u64,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<IndexEntry>, StoreError> {
        let inner = self.lock();
        let Some(i) = inner.indexes.get(index) else {
            return Ok(Vec::new());
        };
        Ok(i.by_score
            .iter()
            .take_while(|(score, _)| *score <= max_score)
            .skip(offset)
            .take(limit)
            .map(|(score, member)| IndexEntry {
                member: member.clone(),
                score: *score,
            })
            .collect())
    }

    async fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn len_counts_keys_and_clones_share_data() {
        let store = MemoryStore::new();
        assert!(store.is_empty());

        let clone = store.clone();
        let key = StateKey::raw("a");
        clone
            .set(&key, Bytes::from_static(b"1"), Condition::Any)
            .await
            .unwrap();
        assert_eq!(store.len(), 1);
        assert!(!store.is_empty());

        store.delete(&key, Condition::Any).await.unwrap();
        assert!(clone.is_empty());
    }

    #[test]
    fn debug_shows_the_key_count_not_the_values() {
        let store = MemoryStore::new();
        assert_eq!(format!("{store:?}"), "MemoryStore { keys: 0 }");
    }
}
