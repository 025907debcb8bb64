//! Builds the published [`PlacementState`] from the engine's membership and tables.

use crate::membership::Membership;
use crate::state::{HostState, PlacementState, TableState};

use super::tables::Tables;

pub(super) fn state(members: &Membership, tables: &Tables) -> PlacementState {
    let mut host_list: Vec<HostState> = members
        .iter()
        .map(|m| {
            let r = &m.registration;
            HostState {
                name: r.address.clone(),
                id: r.host_id.clone(),
                app_id: r.app_id.clone(),
                namespace: r.namespace.clone(),
                actor_types: r.actor_types.iter().cloned().collect(),
                updated_at: m.registered_at_ms,
            }
        })
        .collect();
    host_list.sort_by(|a, b| (&a.namespace, &a.id).cmp(&(&b.namespace, &b.id)));
    let tables: Vec<TableState> = tables
        .committed()
        .map(|t| TableState {
            namespace: t.namespace,
            actor_type: t.actor_type,
            version: t.version,
            hosts: t.hosts.into_iter().map(|h| h.host_id).collect(),
        })
        .collect();
    let table_version = tables.iter().map(|t| t.version).max().unwrap_or(0);
    PlacementState {
        host_list,
        table_version,
        tables,
    }
}
