//! Durable actor state: the [`StateStore`] trait and its implementations.
//!
//! Every byte of durable data goes through a `StateStore`. Keys follow Dapr's actor scheme
//! `app||type||id||key` ([`StateKey`]), so an actor's keys sit together and a Dapr user reading the
//! store recognises them. Each stored value carries an [`ETag`] that changes on every write; writes
//! may be conditional on it ([`Condition`]), which is how two writers of one key find out about
//! each other instead of silently overwriting.
//!
//! Why a multi-key transaction and not a loop of `set`s: a turn that changed three keys must commit
//! all three or none, or a crash between two writes would leave an actor half-updated.

mod key;
mod memory;
#[cfg(feature = "redis")]
mod redis_store;
#[cfg(feature = "sled")]
mod sled_store;

pub use key::StateKey;
pub use memory::MemoryStore;
#[cfg(feature = "redis")]
pub use redis_store::RedisStore;
#[cfg(feature = "sled")]
pub use sled_store::SledStore;

use std::fmt;

use async_trait::async_trait;
use bytes::Bytes;

/// An opaque version of a stored value. It changes on every write of the key.
///
/// Implementations use a number that only grows per key; callers only compare for equality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ETag(u64);

impl ETag {
    /// Wraps a raw version number.
    pub const fn new(version: u64) -> Self {
        Self(version)
    }

    /// The raw version number.
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// The ETag a key gets on its next write.
    pub(crate) const fn next(previous: Option<ETag>) -> ETag {
        match previous {
            Some(ETag(v)) => ETag(v.wrapping_add(1)),
            None => ETag(1),
        }
    }
}

impl fmt::Display for ETag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A stored value with its current ETag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    /// The value's bytes.
    pub value: Bytes,
    /// The version of this value.
    pub etag: ETag,
}

/// The precondition of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Condition {
    /// Write whatever is stored (last writer wins).
    #[default]
    Any,
    /// The key must not exist.
    Absent,
    /// The key must exist with exactly this ETag.
    Matches(ETag),
}

impl Condition {
    /// The condition that says "the key is still as I last saw it": [`Condition::Matches`] when
    /// it had a value, [`Condition::Absent`] when it had none.
    pub fn from_seen(etag: Option<ETag>) -> Self {
        match etag {
            Some(e) => Condition::Matches(e),
            None => Condition::Absent,
        }
    }

    /// Whether a key whose current ETag is `current` (None: absent) satisfies this condition.
    pub fn is_met_by(self, current: Option<ETag>) -> bool {
        match self {
            Condition::Any => true,
            Condition::Absent => current.is_none(),
            Condition::Matches(want) => current == Some(want),
        }
    }

    /// [`Condition::is_met_by`] as a result: `Ok` when it holds, otherwise the conflict error
    /// that operation `op` reports for `key`.
    ///
    /// Shared by the stores that check conditions in Rust (memory, sled), so both report a failed
    /// condition with the same kind and message; Redis checks them inside its write script.
    pub(crate) fn check(
        self,
        op: &'static str,
        key: &StateKey,
        current: Option<ETag>,
    ) -> Result<(), StoreError> {
        if self.is_met_by(current) {
            Ok(())
        } else {
            Err(StoreError::conflict(op, key, self, current))
        }
    }
}

/// One operation of a [`StateStore::transact`] call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// Write `value` to `key` if `condition` holds.
    Set {
        /// The key to write.
        key: StateKey,
        /// The new value.
        value: Bytes,
        /// Precondition on the key's current ETag.
        condition: Condition,
    },
    /// Remove `key` if `condition` holds. Removing an absent key under [`Condition::Any`] is not
    /// an error.
    Delete {
        /// The key to remove.
        key: StateKey,
        /// Precondition on the key's current ETag.
        condition: Condition,
    },
    /// Write nothing, but fail the whole transaction unless `condition` holds for `key`. This is
    /// how a commit is tied to an activation's owner epoch (fencing).
    Check {
        /// The key to look at.
        key: StateKey,
        /// What must hold.
        condition: Condition,
    },
    /// Puts `member` into the sorted index `index` at `score`, replacing its previous score.
    /// Unconditional. Indexes are how the runtime finds records by a number (reminders by due
    /// time) without reading every record; see [`StateStore::scan_index`].
    IndexAdd {
        /// The index's name. No record key may be an index name.
        index: StateKey,
        /// The entry, usually the key of the record it stands for.
        member: StateKey,
        /// The entry's position (reminders: due time in ms since the Unix epoch).
        score: u64,
    },
    /// Removes `member` from the sorted index `index`; nothing when it is not there.
    /// Unconditional.
    IndexRemove {
        /// The index's name.
        index: StateKey,
        /// The entry to remove.
        member: StateKey,
    },
}

impl Operation {
    /// The key this operation touches.
    pub fn key(&self) -> &StateKey {
        match self {
            Operation::Set { key, .. }
            | Operation::Delete { key, .. }
            | Operation::Check { key, .. } => key,
            Operation::IndexAdd { index, .. } | Operation::IndexRemove { index, .. } => index,
        }
    }

    /// The precondition of this operation ([`Condition::Any`] for index operations).
    pub fn condition(&self) -> Condition {
        match self {
            Operation::Set { condition, .. }
            | Operation::Delete { condition, .. }
            | Operation::Check { condition, .. } => *condition,
            Operation::IndexAdd { .. } | Operation::IndexRemove { .. } => Condition::Any,
        }
    }

    /// Whether this is an operation on a sorted index rather than on a record.
    pub fn is_index(&self) -> bool {
        matches!(
            self,
            Operation::IndexAdd { .. } | Operation::IndexRemove { .. }
        )
    }

    /// The index entry an index operation touches.
    fn index_entry(&self) -> Option<(&StateKey, &StateKey)> {
        match self {
            Operation::IndexAdd { index, member, .. }
            | Operation::IndexRemove { index, member } => Some((index, member)),
            _ => None,
        }
    }
}

/// One entry of a sorted index, as [`StateStore::scan_index`] returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// The entry (usually a record's key).
    pub member: StateKey,
    /// Its position.
    pub score: u64,
}

/// What went wrong in a state store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// A write's [`Condition`] did not hold: another writer changed the key first.
    Conflict,
    /// The store could not be reached or refused the operation for now; retrying later may work.
    Unavailable,
    /// Stored bytes could not be decoded (corruption or a foreign writer).
    Corrupt,
    /// The request itself was invalid (for example two operations on one key in a transaction).
    Invalid,
    /// Any other failure of the backing store (I/O error, full disk, ...). Counted as
    /// transient: it may pass, and a caller that retries later loses nothing.
    Backend,
}

impl StoreErrorKind {
    /// Whether the failure may pass, so that the same operation may succeed later
    /// ([`StoreErrorKind::Unavailable`], [`StoreErrorKind::Backend`]). Corrupt data and invalid
    /// requests stay what they are; a conflict is decided by the data, not by time.
    pub fn is_transient(self) -> bool {
        match self {
            StoreErrorKind::Unavailable | StoreErrorKind::Backend => true,
            StoreErrorKind::Conflict | StoreErrorKind::Corrupt | StoreErrorKind::Invalid => false,
        }
    }
}

/// An error from a [`StateStore`]. It names the operation and, where there is one, the key.
#[derive(Debug, thiserror::Error)]
#[error("state store {op} failed{}: {message}", key.as_ref().map(|k| format!(" for key `{k}`")).unwrap_or_default())]
pub struct StoreError {
    kind: StoreErrorKind,
    op: &'static str,
    key: Option<StateKey>,
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl StoreError {
    /// A new error of `kind` raised by operation `op` (`"get"`, `"transact"`, ...).
    pub fn new(kind: StoreErrorKind, op: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            op,
            key: None,
            message: message.into(),
            source: None,
        }
    }

    /// The key the failing operation was about.
    pub fn with_key(mut self, key: StateKey) -> Self {
        self.key = Some(key);
        self
    }

    /// The key the failing operation was about, when it was about one: batch operations and
    /// store-wide failures have none.
    #[cfg(any(feature = "sled", feature = "redis"))]
    pub(crate) fn with_optional_key(self, key: Option<&StateKey>) -> Self {
        match key {
            Some(k) => self.with_key(k.clone()),
            None => self,
        }
    }

    /// The underlying cause.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// A conflict error: `key`'s condition did not hold.
    pub fn conflict(
        op: &'static str,
        key: &StateKey,
        expected: Condition,
        found: Option<ETag>,
    ) -> Self {
        let found = found.map_or_else(|| "absent".to_owned(), |e| format!("etag {e}"));
        Self::new(
            StoreErrorKind::Conflict,
            op,
            format!("etag mismatch: expected {expected:?}, found {found}"),
        )
        .with_key(key.clone())
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }

    /// The operation that failed.
    pub fn op(&self) -> &'static str {
        self.op
    }

    /// The key involved, if any.
    pub fn key(&self) -> Option<&StateKey> {
        self.key.as_ref()
    }

    /// True for [`StoreErrorKind::Conflict`].
    pub fn is_conflict(&self) -> bool {
        self.kind == StoreErrorKind::Conflict
    }

    /// Whether the failure may pass (see [`StoreErrorKind::is_transient`]).
    pub fn is_transient(&self) -> bool {
        self.kind.is_transient()
    }
}

/// A durable key/value store with ETags and atomic multi-key transactions.
///
/// Implementations must make every successful `set`, `delete` and `transact` durable by the time
/// the future resolves, to the degree the backend promises (sled: flushed to disk).
#[async_trait]
pub trait StateStore: Send + Sync + fmt::Debug + 'static {
    /// Reads one key. `Ok(None)` when it is absent.
    ///
    /// # Errors
    /// [`StoreErrorKind::Unavailable`] / [`StoreErrorKind::Backend`] when the store fails,
    /// [`StoreErrorKind::Corrupt`] when the stored bytes are unreadable.
    async fn get(&self, key: &StateKey) -> Result<Option<Versioned>, StoreError>;

    /// Reads several keys; the result has one entry per requested key, in order.
    ///
    /// # Errors
    /// As [`StateStore::get`].
    async fn bulk_get(&self, keys: &[StateKey]) -> Result<Vec<Option<Versioned>>, StoreError>;

    /// Writes one key if `condition` holds and returns its new ETag.
    ///
    /// # Errors
    /// [`StoreErrorKind::Conflict`] when the condition does not hold; otherwise as `get`.
    async fn set(
        &self,
        key: &StateKey,
        value: Bytes,
        condition: Condition,
    ) -> Result<ETag, StoreError>;

    /// Removes one key if `condition` holds.
    ///
    /// # Errors
    /// [`StoreErrorKind::Conflict`] when the condition does not hold; otherwise as `get`.
    async fn delete(&self, key: &StateKey, condition: Condition) -> Result<(), StoreError>;

    /// Applies all operations atomically: either every condition holds and every operation is
    /// applied, or nothing changes. Returns, per operation in order, the key's new ETag (`None`
    /// for a delete; the key's current ETag for a [`Operation::Check`]).
    ///
    /// # Errors
    /// [`StoreErrorKind::Conflict`] naming the first key whose condition failed;
    /// [`StoreErrorKind::Invalid`] when two operations touch the same key; otherwise as `get`.
    async fn transact(&self, ops: Vec<Operation>) -> Result<Vec<Option<ETag>>, StoreError>;

    /// Reads the entries of sorted index `index` whose score is at most `max_score`, lowest score
    /// first (ties in member order), skipping the first `offset` of them and returning at most
    /// `limit`. An index that was never written reads as empty.
    ///
    /// Indexes change only through [`Operation::IndexAdd`] and [`Operation::IndexRemove`] in
    /// [`StateStore::transact`], so an entry changes atomically with the record it stands for.
    ///
    /// # Errors
    /// As `get`.
    async fn scan_index(
        &self,
        index: &StateKey,
        max_score: u64,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<IndexEntry>, StoreError>;

    /// Makes everything written so far durable (for stores that buffer). Called on host shutdown.
    ///
    /// # Errors
    /// As `get`.
    async fn flush(&self) -> Result<(), StoreError>;
}

/// Rejects a transaction that touches a record or an index entry twice, or that uses one key both
/// as a record and as an index; shared by the implementations.
pub(crate) fn check_distinct_keys(ops: &[Operation]) -> Result<(), StoreError> {
    let mut records = std::collections::HashSet::with_capacity(ops.len());
    let mut entries = std::collections::HashSet::new();
    let invalid = |key: &StateKey, message: &str| {
        Err(StoreError::new(StoreErrorKind::Invalid, "transact", message).with_key(key.clone()))
    };
    for op in ops {
        match op.index_entry() {
            None if !records.insert(op.key()) => {
                return invalid(op.key(), "the transaction has two operations on this key")
            }
            Some(entry) if !entries.insert(entry) => {
                return invalid(
                    entry.1,
                    "the transaction has two operations on this index entry",
                )
            }
            _ => {}
        }
    }
    if let Some((index, _)) = entries.iter().find(|(index, _)| records.contains(index)) {
        return invalid(index, "the key is used both as a record and as an index");
    }
    Ok(())
}

#[cfg(test)]
mod conformance;
