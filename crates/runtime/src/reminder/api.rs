//! Registering, reading and unregistering reminders: on [`HostHandle`] by (type, id, name), and
//! on a turn's [`Context`] for its own actor.

use std::time::SystemTime;

use super::record::{self, index_key, record_key, Record};
use super::scheduler::owns;
use super::{Reminder, ReminderInfo, ReminderStats};
use crate::actor::names::{check_reminder_name as check_name, check_target};
use crate::actor::{ActorType, Context};
use crate::error::{Error, ErrorKind};
use crate::host::handle::HostHandle;
use crate::state::{Condition, Operation};

impl HostHandle {
    /// Registers (or replaces) reminder `reminder.name()` of actor `actor_type`/`id`. It is
    /// stored at once (not at the end of a turn) and fires on whichever host owns the actor
    /// when it is due, activating the actor if needed. See [`crate::reminder`].
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] for an invalid type, id, name or schedule (a zero period,
    /// zero repetitions, several repetitions without a period, a TTL that ends before the first
    /// firing); [`ErrorKind::Store`] when the store fails.
    pub async fn register_reminder(
        &self,
        actor_type: &str,
        id: &str,
        reminder: Reminder,
    ) -> Result<(), Error> {
        check_target(actor_type, id)?;
        reminder.validate()?;
        let now = SystemTime::now();
        let too_far = |what: &str| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "reminder {:?}: its {what} is too far in the future (past the latest time \
                     this host can represent); give a nearer one",
                    reminder.name
                ),
            )
        };
        let next_due_ms = reminder
            .due
            .resolve_ms(now)
            .ok_or_else(|| too_far("due time"))?;
        let expires_ms = match reminder.ttl {
            Some(ttl) => Some(ttl.resolve_ms(now).ok_or_else(|| too_far("TTL"))?),
            None => None,
        };
        if let Some(expires) = expires_ms {
            if expires <= next_due_ms {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!(
                        "reminder {:?}: its TTL ends before its first firing",
                        reminder.name
                    ),
                ));
            }
        }
        let record = Record {
            callback: reminder.callback.into_owned(),
            data: reminder.data.to_vec(),
            // Millisecond resolution; a shorter period would be zero.
            period_ms: reminder
                .period
                .map(|p| u64::try_from(p.as_millis()).unwrap_or(u64::MAX).max(1)),
            next_due_ms,
            remaining: reminder.repetitions,
            expires_ms,
            fired: 0,
            last_fired_ms: None,
        };
        let app = &self.config().app_id;
        let key = record_key(app, actor_type, id, &reminder.name);
        let ops = vec![
            Operation::Set {
                key: key.clone(),
                value: record.encode()?,
                condition: Condition::Any,
            },
            Operation::IndexAdd {
                index: index_key(app, actor_type),
                member: key.clone(),
                score: next_due_ms,
            },
        ];
        self.store()?.transact(ops).await?;
        if self.serves(actor_type) && owns(self.cluster(), actor_type, id) {
            self.reminders()
                .enqueue(key, ActorType::from(actor_type), next_due_ms);
        }
        Ok(())
    }

    /// Reads reminder `name` of actor `actor_type`/`id`; `None` when it is not registered (or
    /// has ended).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] for an invalid type, id or name; [`ErrorKind::Store`];
    /// [`ErrorKind::Corrupt`] for a stored record that does not decode.
    pub async fn get_reminder(
        &self,
        actor_type: &str,
        id: &str,
        name: &str,
    ) -> Result<Option<ReminderInfo>, Error> {
        check_target(actor_type, id)?;
        check_name(name)?;
        let key = record_key(&self.config().app_id, actor_type, id, name);
        match self.store()?.get(&key).await? {
            None => Ok(None),
            Some(stored) => {
                let record = Record::decode(&stored.value)?;
                Ok((!record.is_expired(record::now_ms())).then(|| record.info(name)))
            }
        }
    }

    /// Unregisters reminder `name` of actor `actor_type`/`id`, for every host at once. Returns
    /// whether it was registered.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] for an invalid type, id or name; [`ErrorKind::Store`].
    pub async fn unregister_reminder(
        &self,
        actor_type: &str,
        id: &str,
        name: &str,
    ) -> Result<bool, Error> {
        check_target(actor_type, id)?;
        check_name(name)?;
        let app = &self.config().app_id;
        let key = record_key(app, actor_type, id, name);
        let store = self.store()?;
        let existed = store.get(&key).await?.is_some();
        let ops = vec![
            Operation::Delete {
                key: key.clone(),
                condition: Condition::Any,
            },
            Operation::IndexRemove {
                index: index_key(app, actor_type),
                member: key.clone(),
            },
        ];
        store.transact(ops).await?;
        self.reminders().dequeue(&key);
        Ok(existed)
    }

    /// Counters of this host's reminder firings, including duplicates.
    pub fn reminder_stats(&self) -> ReminderStats {
        self.reminders().stats()
    }
}

impl Context {
    /// Registers (or replaces) a reminder of this actor. It is stored at once, not at the end of
    /// the turn, and stays even if the turn fails. See [`HostHandle::register_reminder`].
    ///
    /// # Errors
    /// As [`HostHandle::register_reminder`].
    pub async fn register_reminder(&self, reminder: Reminder) -> Result<(), Error> {
        self.host()
            .register_reminder(self.actor_type().as_str(), self.id().as_str(), reminder)
            .await
    }

    /// Reads a reminder of this actor.
    ///
    /// # Errors
    /// As [`HostHandle::get_reminder`].
    pub async fn get_reminder(&self, name: &str) -> Result<Option<ReminderInfo>, Error> {
        self.host()
            .get_reminder(self.actor_type().as_str(), self.id().as_str(), name)
            .await
    }

    /// Unregisters a reminder of this actor, at once. Returns whether it was registered.
    ///
    /// # Errors
    /// As [`HostHandle::unregister_reminder`].
    pub async fn unregister_reminder(&self, name: &str) -> Result<bool, Error> {
        self.host()
            .unregister_reminder(self.actor_type().as_str(), self.id().as_str(), name)
            .await
    }
}
