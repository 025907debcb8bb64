//! The local copy of the placement tables: one ring per actor type of this host's namespace,
//! looked up without a network hop, plus the lock state of the current dissemination round.

use std::collections::HashMap;
use std::sync::RwLock;

use tokio::sync::watch;
use tokio::time::Instant;
use weft_placement::proto::TypeTable;
use weft_placement::ring::Ring;

/// Where a call for one actor should go, as this host sees it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// No snapshot from placement yet.
    NotReady,
    /// No host of the namespace serves this type.
    Unknown,
    /// A round is moving this type; hold the call until unlocked (or until the instant).
    Locked(Instant),
    /// The owner.
    Owner {
        version: u64,
        host_id: String,
        address: String,
        /// The owner's app id, as placement reported it: the identity its certificate must name.
        app_id: String,
    },
}

#[derive(Debug)]
struct TypeState {
    version: u64,
    ring: Ring,
    locked_until: Option<Instant>,
}

#[derive(Debug, Default)]
struct State {
    ready: bool,
    types: HashMap<String, TypeState>,
}

/// The tables, and a counter that ticks on every change (for waiters).
#[derive(Debug)]
pub(crate) struct Tables {
    state: RwLock<State>,
    changed: watch::Sender<u64>,
}

impl Default for Tables {
    fn default() -> Self {
        Self {
            state: RwLock::new(State::default()),
            changed: watch::channel(0).0,
        }
    }
}

impl Tables {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn bump(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Wakes every waiter as if the tables changed (the lease was regained).
    pub(crate) fn touch(&self) {
        self.bump();
    }

    /// A receiver that sees every later change.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    pub(crate) fn lookup(&self, actor_type: &str, id: &str) -> Lookup {
        let state = self.read();
        if !state.ready {
            return Lookup::NotReady;
        }
        let Some(t) = state.types.get(actor_type) else {
            return Lookup::Unknown;
        };
        if let Some(until) = t.locked_until {
            if Instant::now() < until {
                return Lookup::Locked(until);
            }
        }
        match t.ring.owner(id) {
            Some(h) => Lookup::Owner {
                version: t.version,
                host_id: h.host_id.clone(),
                address: h.address.clone(),
                app_id: h.app_id.clone(),
            },
            None => Lookup::Unknown,
        }
    }

    /// The owner's host id by the current table, ignoring locks.
    pub(crate) fn owner_id(&self, actor_type: &str, id: &str) -> Option<String> {
        let state = self.read();
        state
            .types
            .get(actor_type)
            .and_then(|t| t.ring.owner(id))
            .map(|h| h.host_id.clone())
    }

    pub(crate) fn version(&self, actor_type: &str) -> u64 {
        self.read().types.get(actor_type).map_or(0, |t| t.version)
    }

    pub(crate) fn is_ready(&self) -> bool {
        self.read().ready
    }

    /// Whether `host_id` is in the table of `actor_type`.
    pub(crate) fn serves(&self, actor_type: &str, host_id: &str) -> bool {
        self.read()
            .types
            .get(actor_type)
            .is_some_and(|t| t.ring.hosts().iter().any(|h| h.host_id == host_id))
    }

    /// Takes placement's committed tables after (re)connecting: a type's table is replaced
    /// unless ours is newer (versions never go back), a type the snapshot lacks has no host any
    /// more. Locks are cleared: the snapshot is current.
    pub(crate) fn snapshot(&self, tables: Vec<TypeTable>) {
        let mut state = self.write();
        let mut old = std::mem::take(&mut state.types);
        state.types = tables
            .into_iter()
            .map(|t| {
                let kept = old
                    .remove(&t.actor_type)
                    .filter(|mine| mine.version > t.version);
                let entry = kept.unwrap_or_else(|| TypeState {
                    version: t.version,
                    ring: Ring::from_table(&t),
                    locked_until: None,
                });
                (
                    t.actor_type,
                    TypeState {
                        locked_until: None,
                        ..entry
                    },
                )
            })
            .collect();
        state.ready = true;
        drop(state);
        self.bump();
    }

    pub(crate) fn lock(&self, types: &[TypeTable], until: Instant) {
        let mut state = self.write();
        for t in types {
            // A new type has no table yet: there is nothing to hold calls for until it arrives.
            if let Some(s) = state.types.get_mut(&t.actor_type) {
                s.locked_until = Some(until);
            }
        }
        drop(state);
        self.bump();
    }

    /// Swaps in the round's tables (only versions that grow); returns the types that changed.
    pub(crate) fn update(&self, tables: Vec<TypeTable>) -> Vec<String> {
        let mut state = self.write();
        let mut changed = Vec::new();
        for t in tables {
            let ring = Ring::from_table(&t);
            match state.types.get_mut(&t.actor_type) {
                Some(s) if s.version >= t.version => {}
                Some(s) => {
                    s.version = t.version;
                    s.ring = ring;
                    changed.push(t.actor_type);
                }
                None => {
                    changed.push(t.actor_type.clone());
                    state.types.insert(
                        t.actor_type,
                        TypeState {
                            version: t.version,
                            ring,
                            locked_until: None,
                        },
                    );
                }
            }
        }
        drop(state);
        self.bump();
        changed
    }

    pub(crate) fn unlock(&self, types: &[TypeTable]) {
        let mut state = self.write();
        for t in types {
            if let Some(s) = state.types.get_mut(&t.actor_type) {
                s.locked_until = None;
            }
        }
        drop(state);
        self.bump();
    }

    /// Placement went away: keep serving with the last tables, but drop any lock.
    pub(crate) fn unlock_all(&self) {
        let mut state = self.write();
        for s in state.types.values_mut() {
            s.locked_until = None;
        }
        drop(state);
        self.bump();
    }
}
