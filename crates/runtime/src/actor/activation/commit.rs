//! Committing a turn's changes: one store transaction, conditional on the ETags the activation
//! last saw and on its owner epoch (fencing); and taking that epoch when an activation starts.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::{Activation, Cached};
use crate::actor::id::ActorKey;
use crate::actor::mailbox::{DeactivateReason, Envelope, Mailbox};
use crate::actor::names::check_state_key;
use crate::error::{Error, ErrorKind};
use crate::state::{Condition, Operation, StateKey};
use crate::sync::lock;

/// A turn's uncommitted changes. A fixed-seed hasher: making an empty map (every turn does,
/// twice) then costs nothing, and a turn's own keys need no DoS resistance.
pub(crate) type Pending = HashMap<String, Option<Bytes>, foldhash::fast::FixedState>;

impl Activation {
    /// Commits a turn's pending changes in one transaction, conditional on the ETags this
    /// activation last saw. On failure nothing is committed and the affected keys are dropped
    /// from the cache, so the next read sees the store.
    pub(super) async fn commit(&self, pending: Pending) -> Result<(), Error> {
        if pending.is_empty() {
            return Ok(());
        }
        // Sorted, so a transaction's key order is deterministic.
        let pending: BTreeMap<String, Option<Bytes>> = pending.into_iter().collect();
        for key in pending.keys() {
            check_state_key(key)?;
        }
        let _serial = self.commit_lock.lock().await;
        let store = self.host.store()?;
        // Keys this activation never read: learn their ETags first.
        let unknown: Vec<&String> = {
            let committed = lock(&self.committed);
            pending
                .keys()
                .filter(|k| !committed.contains_key(*k))
                .collect()
        };
        if !unknown.is_empty() {
            let keys: Vec<StateKey> = unknown.iter().map(|k| self.state_key(k)).collect();
            let found = store.bulk_get(&keys).await?;
            let mut committed = lock(&self.committed);
            for (name, v) in unknown.into_iter().zip(found) {
                committed.entry(name.clone()).or_insert(Cached {
                    etag: v.as_ref().map(|v| v.etag),
                    value: v.map(|v| v.value),
                });
            }
        }
        if self.mailbox.fenced.load(Ordering::Acquire) {
            return Err(fenced_error(&self.key));
        }
        let epoch = *lock(&self.mailbox.epoch);
        let epoch_key = self.state_key(EPOCH_KEY);
        let mut ops: Vec<Operation> = {
            let committed = lock(&self.committed);
            pending
                .iter()
                .map(|(name, value)| {
                    let condition = Condition::from_seen(committed.get(name).and_then(|c| c.etag));
                    let key = self.state_key(name);
                    match value {
                        Some(v) => Operation::Set {
                            key,
                            value: v.clone(),
                            condition,
                        },
                        None => Operation::Delete { key, condition },
                    }
                })
                .collect()
        };
        if let Some(epoch) = epoch {
            ops.push(Operation::Check {
                key: epoch_key.clone(),
                condition: Condition::Matches(epoch),
            });
        }
        match store.transact(ops).await {
            Ok(etags) => {
                let mut committed = lock(&self.committed);
                for ((name, value), etag) in pending.into_iter().zip(etags) {
                    committed.insert(name, Cached { value, etag });
                }
                Ok(())
            }
            Err(e) if epoch.is_some() && e.is_conflict() && e.key() == Some(&epoch_key) => {
                Err(fence(&self.mailbox, &self.key))
            }
            Err(e) => {
                let mut committed = lock(&self.committed);
                for name in pending.keys() {
                    committed.remove(name);
                }
                drop(committed);
                self.needs_reset.store(true, Ordering::Release);
                Err(Error::from(e))
            }
        }
    }
}

/// Marks the activation behind `mailbox` fenced: a newer activation took the owner epoch.
pub(crate) fn fence(mailbox: &Mailbox, key: &ActorKey) -> Error {
    if !mailbox.fenced.swap(true, Ordering::AcqRel) {
        tracing::warn!(actor = %key, "fenced: a newer activation took the owner epoch; deactivating");
        // Also when no turn is running (a write from outside one): the activation goes now. A
        // full mailbox has turns queued, after each of which the activation checks the flag.
        let _ = mailbox
            .tx
            .try_send(Envelope::Deactivate(DeactivateReason::Fenced));
    }
    fenced_error(key)
}

pub(crate) fn fenced_error(key: &ActorKey) -> Error {
    Error::new(
        ErrorKind::Conflict,
        format!(
            "{key} was fenced: a newer activation of it (elsewhere) took its owner epoch, so \
             this activation's writes are refused and it deactivates"
        ),
    )
}

/// The state key holding an actor's owner epoch (a counter bumped by every fenced activation).
pub(crate) const EPOCH_KEY: &str = "__weft_epoch";

impl Activation {
    /// Takes a new owner epoch for this actor: read the counter, write it + 1 conditional on
    /// what was read; retried when another activation raced us.
    pub(super) async fn take_epoch(&self) -> Result<(), Error> {
        let store = self.host.store()?;
        let key = self.state_key(EPOCH_KEY);
        for _ in 0..8 {
            let current = store.get(&key).await?;
            let (n, condition) = match &current {
                Some(v) => (
                    <[u8; 8]>::try_from(&v.value[..]).map_or(0, u64::from_be_bytes),
                    Condition::Matches(v.etag),
                ),
                None => (0, Condition::Absent),
            };
            let next = Bytes::copy_from_slice(&n.wrapping_add(1).to_be_bytes());
            match store.set(&key, next, condition).await {
                Ok(etag) => {
                    *lock(&self.mailbox.epoch) = Some(etag);
                    return Ok(());
                }
                Err(e) if e.is_conflict() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::new(
            ErrorKind::Conflict,
            format!(
                "{}: could not take the owner epoch: other activations keep taking it",
                self.key
            ),
        ))
    }
}
