//! State written from outside a turn's `Context`: an app behind weftd saves its actor's state
//! with Dapr's state API while weftd runs the actor's turn. Such writes are fenced exactly like
//! a turn's commit: they belong to the actor's activation on this host and carry its owner epoch,
//! so a host that is not (or no longer) the owner cannot write, and the turn fails with it.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::activation::{fence, fenced_error, EPOCH_KEY};
use super::names::{check_state_key, check_target};
use super::{ActorId, ActorKey, ActorType};
use crate::error::{Error, ErrorKind};
use crate::host::handle::HostHandle;
use crate::state::{Condition, Operation, StateKey};
use crate::sync::lock;

impl HostHandle {
    /// Whether actor `actor_type`/`id` has an activation on this host now (it may be running a
    /// turn, or deactivating). A hint: the actor may deactivate or move right after.
    pub fn is_active_here(&self, actor_type: &str, id: &str) -> bool {
        self.local()
            .mailbox(actor_type, id)
            .is_some_and(|mailbox| mailbox.is_some())
    }

    /// Reads the committed value of state key `key` of actor `actor_type`/`id` from the store
    /// (`None`: no value). This is Dapr's state GET: it reads the store, not an activation, so
    /// it sees what the actor's turns have committed.
    ///
    /// # Errors
    ///
    /// - [`ErrorKind::InvalidArgument`]: a type, id or key that breaks
    ///   [`names`](super::names)' rule (a reserved key `__weft...` included).
    /// - [`ErrorKind::Store`], [`ErrorKind::Unavailable`]: the store failed.
    pub async fn read_actor_state(
        &self,
        actor_type: &str,
        id: &str,
        key: &str,
    ) -> Result<Option<Bytes>, Error> {
        check_target(actor_type, id)?;
        check_state_key(key)?;
        let stored = StateKey::actor(&self.config().app_id, actor_type, id, key);
        Ok(self.store()?.get(&stored).await?.map(|v| v.value))
    }

    /// Applies `changes` to the state of actor `actor_type`/`id` (`Some(value)` sets a key,
    /// `None` deletes it) as its activation on this host: one store transaction, conditional on
    /// the activation's owner epoch when the host fences (every cluster host does).
    ///
    /// This is how an app that runs its actors behind weftd writes their state: from inside the
    /// actor's turn, on the host that runs the turn. A write that fails because the activation
    /// was fenced also fails the turn that is running, and the activation deactivates.
    ///
    /// # Errors
    ///
    /// - [`ErrorKind::InvalidArgument`]: a type, id or key that breaks
    ///   [`names`](super::names)' rule (a reserved key `__weft...` included); nothing was
    ///   written.
    /// - [`ErrorKind::NotFound`]: this host does not serve `actor_type`.
    /// - [`ErrorKind::Moved`]: the actor has no activation on this host (it lives elsewhere, or
    ///   was deactivated), or this cluster host holds no placement lease; nothing was written.
    /// - [`ErrorKind::Conflict`]: the activation was fenced (a newer activation elsewhere took
    ///   the owner epoch); nothing was written.
    /// - [`ErrorKind::Store`], [`ErrorKind::Unavailable`]: the store failed.
    pub async fn write_actor_state(
        &self,
        actor_type: &str,
        id: &str,
        changes: Vec<(String, Option<Bytes>)>,
    ) -> Result<(), Error> {
        check_target(actor_type, id)?;
        for (key, _) in &changes {
            check_state_key(key)?;
        }
        let key = ActorKey::new(ActorType::from(actor_type), ActorId::from(id));
        if let Some(cluster) = self.lapsed_lease() {
            let what = format_args!("state write of {key}");
            return Err(cluster.lease.refusal(&cluster.host_id, &what));
        }
        let Some(mailbox) = self.local().mailbox(actor_type, id) else {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("this host does not serve actor type `{actor_type}`"),
            ));
        };
        let not_here = || {
            Error::new(
                ErrorKind::Moved,
                format!(
                    "{key} has no activation on this host: actor state is written from the \
                     actor's turns, on the host that runs them"
                ),
            )
        };
        let mailbox = mailbox.ok_or_else(not_here)?;
        if mailbox.fenced.load(Ordering::Acquire) {
            return Err(fenced_error(&key));
        }
        let app_id = &self.config().app_id;
        let state_key = |name: &str| StateKey::actor(app_id, actor_type, id, name);
        let mut ops: Vec<Operation> = changes
            .into_iter()
            .map(|(name, value)| {
                let key = state_key(&name);
                match value {
                    Some(value) => Operation::Set {
                        key,
                        value,
                        condition: Condition::Any,
                    },
                    None => Operation::Delete {
                        key,
                        condition: Condition::Any,
                    },
                }
            })
            .collect();
        let epoch_key = state_key(EPOCH_KEY);
        let epoch = *lock(&mailbox.epoch);
        if self.config().fencing {
            // An activation takes its epoch before its first turn: none yet, no turn yet.
            let epoch = epoch.ok_or_else(not_here)?;
            ops.push(Operation::Check {
                key: epoch_key.clone(),
                condition: Condition::Matches(epoch),
            });
        }
        match self.store()?.transact(ops).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_conflict() && e.key() == Some(&epoch_key) => Err(fence(&mailbox, &key)),
            Err(e) => Err(Error::from(e)),
        }
    }
}
