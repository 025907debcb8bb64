//! A registered actor type on a running host: its settings and the table of its activations.

use std::fmt;

use dashmap::DashMap;

use super::id::{ActorId, ActorType};
use super::mailbox::Slot;
use crate::config::EffectiveTypeConfig;

/// A registered actor type on a running host: settings and the table of its activations.
pub(crate) struct TypeEntry {
    pub(crate) name: ActorType,
    pub(crate) config: EffectiveTypeConfig,
    pub(crate) table: DashMap<ActorId, Slot, foldhash::fast::RandomState>,
}

impl fmt::Debug for TypeEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TypeEntry")
            .field("name", &self.name)
            .field("config", &self.config)
            .field("activations", &self.table.len())
            .finish_non_exhaustive()
    }
}
