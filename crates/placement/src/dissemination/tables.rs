//! Versioned tables per (namespace, actor type): what was issued and what every host committed.
//!
//! # Why versions start at the clock
//!
//! Placement persists nothing, yet a table's version must never go back, also across a
//! placement restart (hosts compare versions to spot stale tables). So each placement process
//! numbers versions upwards from the time it started, in microseconds since the Unix epoch: a
//! restarted placement issues higher versions than its predecessor unless the predecessor
//! changed one table more than once per microsecond of its life.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::proto::{HostEntry, TypeTable};

#[derive(Debug, Clone, Default)]
struct Entry {
    /// The highest version sent to any host (in LOCK already), committed or not.
    issued: u64,
    /// The version every host of the namespace swapped to, and its hosts.
    committed: u64,
    hosts: Vec<HostEntry>,
}

/// All tables of all namespaces.
#[derive(Debug)]
pub(crate) struct Tables {
    entries: BTreeMap<(String, String), Entry>,
    /// Versions issued by this process are greater than this.
    floor: u64,
    replication_factor: u32,
}

impl Tables {
    /// Tables whose versions start above the current time in microseconds.
    pub(crate) fn new(replication_factor: u32) -> Self {
        let floor = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX / 2))
            .unwrap_or(0);
        Tables::with_floor(replication_factor, floor)
    }

    pub(crate) fn with_floor(replication_factor: u32, floor: u64) -> Self {
        Tables {
            entries: BTreeMap::new(),
            floor,
            replication_factor,
        }
    }

    /// Actor types of `namespace` whose committed hosts differ from `desired`, including types
    /// that lost their last host.
    pub(crate) fn changed(
        &self,
        namespace: &str,
        desired: &BTreeMap<String, Vec<HostEntry>>,
    ) -> BTreeSet<String> {
        let mut changed: BTreeSet<String> = desired
            .iter()
            .filter(|(actor_type, hosts)| {
                self.entry(namespace, actor_type)
                    .is_none_or(|e| e.hosts != **hosts)
            })
            .map(|(actor_type, _)| actor_type.clone())
            .collect();
        for ((ns, actor_type), entry) in &self.entries {
            if ns == namespace && !entry.hosts.is_empty() && !desired.contains_key(actor_type) {
                changed.insert(actor_type.clone());
            }
        }
        changed
    }

    /// New tables for `types` of `namespace`, each with a version above any issued before.
    pub(crate) fn issue(
        &mut self,
        namespace: &str,
        types: &BTreeSet<String>,
        desired: &BTreeMap<String, Vec<HostEntry>>,
    ) -> Vec<TypeTable> {
        let floor = self.floor;
        types
            .iter()
            .map(|actor_type| {
                let key = (namespace.to_owned(), actor_type.clone());
                let entry = self.entries.entry(key).or_insert_with(|| Entry {
                    issued: floor,
                    committed: floor,
                    hosts: Vec::new(),
                });
                entry.issued = entry.issued.saturating_add(1);
                TypeTable {
                    namespace: namespace.to_owned(),
                    actor_type: actor_type.clone(),
                    version: entry.issued,
                    replication_factor: self.replication_factor,
                    hosts: desired.get(actor_type).cloned().unwrap_or_default(),
                }
            })
            .collect()
    }

    /// Records that every host swapped to `tables`.
    pub(crate) fn commit(&mut self, tables: &[TypeTable]) {
        for table in tables {
            let key = (table.namespace.clone(), table.actor_type.clone());
            let entry = self.entries.entry(key).or_default();
            if table.version >= entry.committed {
                entry.committed = table.version;
                entry.issued = entry.issued.max(table.version);
                entry.hosts.clone_from(&table.hosts);
            }
        }
    }

    /// The committed tables of `namespace` that have hosts, by actor type.
    pub(crate) fn snapshot(&self, namespace: &str) -> Vec<TypeTable> {
        self.committed()
            .filter(|t| t.namespace == namespace)
            .collect()
    }

    /// Every committed table that has hosts, sorted by namespace then actor type.
    pub(crate) fn committed(&self) -> impl Iterator<Item = TypeTable> + '_ {
        self.entries
            .iter()
            .filter(|(_, e)| !e.hosts.is_empty())
            .map(|((namespace, actor_type), e)| TypeTable {
                namespace: namespace.clone(),
                actor_type: actor_type.clone(),
                version: e.committed,
                replication_factor: self.replication_factor,
                hosts: e.hosts.clone(),
            })
    }

    fn entry(&self, namespace: &str, actor_type: &str) -> Option<&Entry> {
        self.entries
            .get(&(namespace.to_owned(), actor_type.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(id: &str) -> HostEntry {
        HostEntry {
            host_id: id.into(),
            address: format!("{id}:1"),
            app_id: String::new(),
        }
    }

    fn desired(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<HostEntry>> {
        pairs
            .iter()
            .map(|(t, hosts)| ((*t).to_owned(), hosts.iter().map(|h| host(h)).collect()))
            .collect()
    }

    fn types(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn only_changed_types_are_reported() {
        let mut tables = Tables::with_floor(10, 100);
        let first = desired(&[("A", &["h1"]), ("B", &["h1"])]);
        assert_eq!(tables.changed("ns", &first), types(&["A", "B"]));
        let issued = tables.issue("ns", &types(&["A", "B"]), &first);
        tables.commit(&issued);
        assert!(tables.changed("ns", &first).is_empty());
        let second = desired(&[("A", &["h1", "h2"]), ("B", &["h1"])]);
        assert_eq!(tables.changed("ns", &second), types(&["A"]));
        assert!(tables.changed("other", &second).len() == 2);
    }

    #[test]
    fn a_type_losing_its_last_host_is_changed_and_leaves_the_snapshot() {
        let mut tables = Tables::with_floor(10, 0);
        let one = desired(&[("A", &["h1"])]);
        let issued = tables.issue("ns", &types(&["A"]), &one);
        tables.commit(&issued);
        let none = desired(&[]);
        assert_eq!(tables.changed("ns", &none), types(&["A"]));
        let issued = tables.issue("ns", &types(&["A"]), &none);
        assert!(issued[0].hosts.is_empty());
        tables.commit(&issued);
        assert!(tables.snapshot("ns").is_empty());
        assert!(tables.changed("ns", &none).is_empty());
    }

    #[test]
    fn versions_only_grow_even_when_a_round_is_abandoned() {
        let mut tables = Tables::with_floor(10, 1_000);
        let one = desired(&[("A", &["h1"])]);
        let v1 = tables.issue("ns", &types(&["A"]), &one)[0].version;
        assert_eq!(v1, 1_001);
        // Abandoned (never committed), then re-issued: still higher.
        let v2 = tables.issue("ns", &types(&["A"]), &one)[0].version;
        assert!(v2 > v1);
        let issued = tables.issue("ns", &types(&["A"]), &one);
        tables.commit(&issued);
        assert_eq!(tables.snapshot("ns")[0].version, v2 + 1);
    }

    #[test]
    fn a_new_process_starts_above_the_clock() {
        let tables = Tables::new(1);
        assert!(tables.floor > 1_600_000_000_000_000);
    }
}
