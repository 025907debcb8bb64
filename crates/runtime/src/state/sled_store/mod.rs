//! The embedded default [`StateStore`]: a [`sled`] database on local disk.
//!
//! Each value is stored as an 8-byte big-endian ETag followed by the value's bytes, so the ETag
//! and the value change together in one sled write.
//!
//! Why ETags come from [`sled::Db::generate_id`] and not from the key's previous ETag: sled
//! persists its ID generator and skips ahead after a crash, so an ID is never handed out twice,
//! not after a delete and re-create of the key and not after a restart. A reader holding an old
//! ETag therefore can never match a newer value by accident. IDs are drawn before the sled
//! transaction starts; if a concurrent writer committed a larger ETag to the same key in between,
//! the write draws a new ID and tries again, so a key's ETag still only grows.
//!
//! Why every write is a sled transaction: a write's condition must be checked against the value
//! it replaces, with no other write in between, and [`StateStore::transact`] must apply all of its
//! operations or none. Every successful write is then flushed, so it is on disk when the future
//! resolves.
//!
//! Why writes run on tokio's blocking pool and do not use [`sled::Db::flush_async`]: in sled 0.34
//! `flush_async` runs the blocking flush on sled's own I/O thread pool, the pool that also writes
//! the log buffers those flushes wait for. Enough concurrent flushes fill the pool and then wait
//! forever (spacejam/sled#1308, #1241); in the hang we saw, a transaction waiting for sled's
//! global lock was part of the cycle. The conformance suite's concurrent writers hit it about one
//! run in six. So each write runs its transaction and then the blocking [`sled::Db::flush`] in
//! one `spawn_blocking` task, which also keeps tokio's workers from waiting on sled's global lock
//! while a flush holds it. Reads stay on the calling task: sled serves most of them from its
//! page cache, though a read can wait behind a queued transaction, which in turn waits for a
//! running flush.
//!
//! Sorted indexes live in the same tree, under keys that start with byte `0xFF`, which no UTF-8
//! string (so no [`StateKey`]) contains: an entry key `0xFF 'i' ‖ len(index) ‖ index ‖ score ‖
//! member` (big-endian numbers, so sled's byte order is score order) for range scans, and a
//! position key `0xFF 'p' ‖ len(index) ‖ index ‖ member` holding the member's score, so a new
//! score can replace the old entry inside the same transaction as the record it indexes.
//!
//! Cancel safety: dropping a write's future does not stop the write. It may still be applied and
//! flushed; the caller just does not learn its outcome.

use std::fmt;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use sled::transaction::{
    ConflictableTransactionError, ConflictableTransactionResult, TransactionError,
    TransactionalTree,
};
use sled::IVec;

use super::{
    check_distinct_keys, Condition, ETag, IndexEntry, Operation, StateKey, StateStore, StoreError,
    StoreErrorKind, Versioned,
};

/// Length of the ETag prefix of every stored value.
const ETAG_LEN: usize = 8;

/// A [`StateStore`] backed by an embedded [`sled`] database, durable on commit.
///
/// # Examples
/// ```no_run
/// use bytes::Bytes;
/// use weft_runtime::state::{Condition, SledStore, StateKey, StateStore};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), weft_runtime::state::StoreError> {
/// let store = SledStore::open("/var/lib/weft/state")?;
/// let key = StateKey::actor("shop", "cart", "u42", "items");
/// let etag = store.set(&key, Bytes::from_static(b"[]"), Condition::Absent).await?;
/// // The write is on disk now.
/// assert_eq!(store.get(&key).await?.map(|v| v.etag), Some(etag));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct SledStore {
    db: sled::Db,
    path: Option<PathBuf>,
}

impl SledStore {
    /// Opens (or creates) the sled database in directory `path`.
    ///
    /// # Errors
    /// [`StoreErrorKind::Backend`] when sled cannot open the directory, for example because
    /// another process has it open.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        // sled locks its directory; after the last handle of a previous store in this process
        // drops, sled's I/O threads can hold the lock a moment longer. Wait for it, boundedly.
        let give_up = std::time::Instant::now() + LOCK_WAIT;
        let db = loop {
            match sled::open(path) {
                Ok(db) => break db,
                Err(e) if is_lock_busy(&e) && std::time::Instant::now() < give_up => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e) => {
                    let why = if is_lock_busy(&e) {
                        "another process (or store) holds its lock"
                    } else {
                        "sled refused"
                    };
                    return Err(StoreError::new(
                        StoreErrorKind::Backend,
                        "open",
                        format!("cannot open sled database at `{}`: {why}", path.display()),
                    )
                    .with_source(e));
                }
            }
        };
        Ok(Self {
            db,
            path: Some(path.to_owned()),
        })
    }

    /// Wraps an already open sled database. The store uses its default tree.
    pub fn from_db(db: sled::Db) -> Self {
        Self { db, path: None }
    }

    /// The underlying sled database, for benchmarks and tests.
    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    /// Runs `f` as a write transaction (see [`write_tx`]) and then flushes, on tokio's blocking
    /// pool.
    async fn commit<T, F>(
        &self,
        op: &'static str,
        key: Option<StateKey>,
        etag_count: usize,
        f: F,
    ) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&TransactionalTree, &[ETag]) -> ConflictableTransactionResult<T, Abort>
            + Send
            + 'static,
    {
        let db = self.db.clone();
        let task_key = key.clone();
        tokio::task::spawn_blocking(move || {
            let key = task_key.as_ref();
            let result = write_tx(&db, op, key, etag_count, f)?;
            db.flush().map_err(|e| backend(op, key, e))?;
            Ok(result)
        })
        .await
        .map_err(|e| join_failed(op, key.as_ref(), e))?
    }
}

/// A fresh ETag: a sled ID plus one, so it is never 0 and never repeats.
/// How long [`SledStore::open`] waits for a directory lock that is briefly still held.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

fn is_lock_busy(e: &sled::Error) -> bool {
    matches!(e, sled::Error::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock
        || io.to_string().contains("could not acquire lock"))
}

fn fresh_etag(db: &sled::Db, op: &'static str, key: Option<&StateKey>) -> Result<ETag, StoreError> {
    let id = db.generate_id().map_err(|e| backend(op, key, e))?;
    id.checked_add(1).map(ETag::new).ok_or_else(|| {
        StoreError::new(StoreErrorKind::Backend, op, "the ETag space is exhausted")
            .with_optional_key(key)
    })
}

/// Runs `f` in a sled transaction with `etag_count` fresh ETags, drawing new ones when `f` finds
/// one of them stale. Blocks on sled's global transaction lock.
fn write_tx<T>(
    db: &sled::Db,
    op: &'static str,
    key: Option<&StateKey>,
    etag_count: usize,
    f: impl Fn(&TransactionalTree, &[ETag]) -> ConflictableTransactionResult<T, Abort>,
) -> Result<T, StoreError> {
    loop {
        let etags = (0..etag_count)
            .map(|_| fresh_etag(db, op, key))
            .collect::<Result<Vec<_>, _>>()?;
        match db.transaction(|tx| f(tx, &etags)) {
            Ok(result) => return Ok(result),
            Err(TransactionError::Abort(Abort::StaleEtag)) => continue,
            Err(TransactionError::Abort(Abort::Failed(e))) => return Err(e),
            Err(TransactionError::Storage(e)) => return Err(backend(op, key, e)),
        }
    }
}

fn join_failed(op: &'static str, key: Option<&StateKey>, e: tokio::task::JoinError) -> StoreError {
    StoreError::new(StoreErrorKind::Backend, op, "the blocking sled task failed")
        .with_optional_key(key)
        .with_source(e)
}

impl fmt::Debug for SledStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not `sled::Db`'s own Debug: it prints every stored value.
        f.debug_struct("SledStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Why a sled transaction closure gave up.
enum Abort {
    /// The operation failed; report this error.
    Failed(StoreError),
    /// A concurrent writer stored a larger ETag than the one drawn; draw again and retry.
    StaleEtag,
}

fn abort<T>(e: StoreError) -> ConflictableTransactionResult<T, Abort> {
    Err(ConflictableTransactionError::Abort(Abort::Failed(e)))
}

/// A sled failure: corruption it detected is [`StoreErrorKind::Corrupt`] (a retry reads the same
/// bytes), anything else (I/O above all) [`StoreErrorKind::Backend`], which may pass.
fn backend(op: &'static str, key: Option<&StateKey>, e: sled::Error) -> StoreError {
    let (kind, message) = match e {
        sled::Error::Corruption { .. } => (StoreErrorKind::Corrupt, "sled found corrupt data"),
        _ => (StoreErrorKind::Backend, "sled failed"),
    };
    StoreError::new(kind, op, message)
        .with_optional_key(key)
        .with_source(e)
}

fn encode(etag: ETag, value: &[u8]) -> Vec<u8> {
    let mut raw = Vec::with_capacity(ETAG_LEN + value.len());
    raw.extend_from_slice(&etag.as_u64().to_be_bytes());
    raw.extend_from_slice(value);
    raw
}

fn decode_etag(op: &'static str, key: &StateKey, raw: &[u8]) -> Result<ETag, StoreError> {
    let corrupt = |message: String| {
        StoreError::new(StoreErrorKind::Corrupt, op, message).with_key(key.clone())
    };
    let prefix = raw
        .get(..ETAG_LEN)
        .and_then(|p| <[u8; ETAG_LEN]>::try_from(p).ok())
        .ok_or_else(|| {
            corrupt(format!(
                "stored value is {} bytes, shorter than its {ETAG_LEN}-byte ETag",
                raw.len()
            ))
        })?;
    match u64::from_be_bytes(prefix) {
        0 => Err(corrupt(
            "stored ETag is 0, which is never written".to_owned(),
        )),
        v => Ok(ETag::new(v)),
    }
}

fn decode(op: &'static str, key: &StateKey, raw: IVec) -> Result<Versioned, StoreError> {
    let etag = decode_etag(op, key, &raw)?;
    let value = Bytes::from_owner(raw).slice(ETAG_LEN..);
    Ok(Versioned { value, etag })
}

/// Checks `condition` against `key`'s stored ETag. Returns whether the key exists and, when its
/// bytes decode, its ETag.
fn check(
    tx: &TransactionalTree,
    op: &'static str,
    key: &StateKey,
    condition: Condition,
) -> ConflictableTransactionResult<(bool, Option<ETag>), Abort> {
    let stored = tx.get(key.as_bytes())?;
    let current = match (&stored, condition) {
        (None, _) => None,
        // Last writer wins, even over bytes that no longer decode: that is how a corrupt value
        // gets replaced.
        (Some(raw), Condition::Any) => decode_etag(op, key, raw).ok(),
        (Some(raw), _) => match decode_etag(op, key, raw) {
            Ok(etag) => Some(etag),
            Err(e) => return abort(e),
        },
    };
    if let Err(e) = condition.check(op, key, current) {
        return abort(e);
    }
    Ok((stored.is_some(), current))
}

/// Stores `value` under `key` with ETag `etag` if `condition` holds.
fn put(
    tx: &TransactionalTree,
    op: &'static str,
    key: &StateKey,
    condition: Condition,
    value: &[u8],
    etag: ETag,
) -> ConflictableTransactionResult<ETag, Abort> {
    let (_, current) = check(tx, op, key, condition)?;
    if current.is_some_and(|c| c >= etag) {
        return Err(ConflictableTransactionError::Abort(Abort::StaleEtag));
    }
    tx.insert(key.as_bytes(), encode(etag, value))?;
    Ok(etag)
}

/// Removes `key` if `condition` holds.
fn remove(
    tx: &TransactionalTree,
    op: &'static str,
    key: &StateKey,
    condition: Condition,
) -> ConflictableTransactionResult<(), Abort> {
    let (exists, _) = check(tx, op, key, condition)?;
    if exists {
        tx.remove(key.as_bytes())?;
    }
    Ok(())
}

/// The prefix shared by every key of index `index` of kind `kind` (`b'i'` entries, `b'p'`
/// positions).
fn index_prefix(kind: u8, index: &StateKey) -> Vec<u8> {
    let name = index.as_bytes();
    let len = u32::try_from(name.len()).unwrap_or(u32::MAX);
    let mut raw = Vec::with_capacity(6 + name.len() + 8 + 64);
    raw.extend_from_slice(&[0xFF, kind]);
    raw.extend_from_slice(&len.to_be_bytes());
    raw.extend_from_slice(name);
    raw
}

fn index_entry_key(index: &StateKey, score: u64, member: &StateKey) -> Vec<u8> {
    let mut raw = index_prefix(b'i', index);
    raw.extend_from_slice(&score.to_be_bytes());
    raw.extend_from_slice(member.as_bytes());
    raw
}

fn index_position_key(index: &StateKey, member: &StateKey) -> Vec<u8> {
    let mut raw = index_prefix(b'p', index);
    raw.extend_from_slice(member.as_bytes());
    raw
}

/// Removes `member`'s entry from `index`, if it has one.
fn unindex(
    tx: &TransactionalTree,
    index: &StateKey,
    member: &StateKey,
) -> ConflictableTransactionResult<(), Abort> {
    let position = index_position_key(index, member);
    if let Some(old) = tx.remove(position)? {
        match <[u8; 8]>::try_from(&old[..]) {
            Ok(score) => {
                tx.remove(index_entry_key(index, u64::from_be_bytes(score), member))?;
            }
            Err(_) => {
                return abort(
                    StoreError::new(
                        StoreErrorKind::Corrupt,
                        "transact",
                        "an index position is not an 8-byte score",
                    )
                    .with_key(member.clone()),
                )
            }
        }
    }
    Ok(())
}

fn missing_etag(op: &'static str) -> StoreError {
    StoreError::new(
        StoreErrorKind::Backend,
        op,
        "fewer ETags were drawn than writes",
    )
}

#[async_trait]
impl StateStore for SledStore {
    async fn get(&self, key: &StateKey) -> Result<Option<Versioned>, StoreError> {
        let raw = self
            .db
            .get(key.as_bytes())
            .map_err(|e| backend("get", Some(key), e))?;
        raw.map(|raw| decode("get", key, raw)).transpose()
    }

    async fn bulk_get(&self, keys: &[StateKey]) -> Result<Vec<Option<Versioned>>, StoreError> {
        keys.iter()
            .map(|key| {
                let raw = self
                    .db
                    .get(key.as_bytes())
                    .map_err(|e| backend("bulk_get", Some(key), e))?;
                raw.map(|raw| decode("bulk_get", key, raw)).transpose()
            })
            .collect()
    }

    async fn set(
        &self,
        key: &StateKey,
        value: Bytes,
        condition: Condition,
    ) -> Result<ETag, StoreError> {
        let tx_key = key.clone();
        self.commit("set", Some(key.clone()), 1, move |tx, etags| match etags {
            &[etag] => put(tx, "set", &tx_key, condition, &value, etag),
            _ => abort(missing_etag("set")),
        })
        .await
    }

    async fn delete(&self, key: &StateKey, condition: Condition) -> Result<(), StoreError> {
        let tx_key = key.clone();
        self.commit("delete", Some(key.clone()), 0, move |tx, _| {
            remove(tx, "delete", &tx_key, condition)
        })
        .await
    }

    async fn transact(&self, ops: Vec<Operation>) -> Result<Vec<Option<ETag>>, StoreError> {
        check_distinct_keys(&ops)?;
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        let sets = ops
            .iter()
            .filter(|op| matches!(op, Operation::Set { .. }))
            .count();
        self.commit("transact", None, sets, move |tx, etags| {
            let mut fresh = etags.iter().copied();
            ops.iter()
                .map(|op| match op {
                    Operation::Set {
                        key,
                        value,
                        condition,
                    } => match fresh.next() {
                        Some(etag) => put(tx, "transact", key, *condition, value, etag).map(Some),
                        None => abort(missing_etag("transact")),
                    },
                    Operation::Delete { key, condition } => {
                        remove(tx, "transact", key, *condition).map(|()| None)
                    }
                    Operation::Check { key, condition } => {
                        check(tx, "transact", key, *condition).map(|(_, etag)| etag)
                    }
                    Operation::IndexAdd {
                        index,
                        member,
                        score,
                    } => {
                        unindex(tx, index, member)?;
                        tx.insert(index_position_key(index, member), &score.to_be_bytes()[..])?;
                        tx.insert(index_entry_key(index, *score, member), &[][..])?;
                        Ok(None)
                    }
                    Operation::IndexRemove { index, member } => {
                        unindex(tx, index, member).map(|()| None)
                    }
                })
                .collect()
        })
        .await
    }

    async fn scan_index(
        &self,
        index: &StateKey,
        max_score: u64,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<IndexEntry>, StoreError> {
        let prefix = index_prefix(b'i', index);
        let corrupt = || {
            StoreError::new(
                StoreErrorKind::Corrupt,
                "scan_index",
                "an index entry key does not decode",
            )
            .with_key(index.clone())
        };
        let mut out = Vec::new();
        for item in self.db.scan_prefix(&prefix).skip(offset) {
            if out.len() >= limit {
                break;
            }
            let (raw, _) = item.map_err(|e| backend("scan_index", Some(index), e))?;
            let rest = raw.get(prefix.len()..).ok_or_else(corrupt)?;
            let score = rest
                .get(..8)
                .and_then(|s| <[u8; 8]>::try_from(s).ok())
                .map(u64::from_be_bytes)
                .ok_or_else(corrupt)?;
            if score > max_score {
                break;
            }
            let member = std::str::from_utf8(&rest[8..]).map_err(|_| corrupt())?;
            out.push(IndexEntry {
                member: StateKey::raw(member),
                score,
            });
        }
        Ok(out)
    }

    async fn flush(&self) -> Result<(), StoreError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.flush())
            .await
            .map_err(|e| join_failed("flush", None, e))?
            .map(drop)
            .map_err(|e| backend("flush", None, e))
    }
}

#[cfg(test)]
mod tests;
