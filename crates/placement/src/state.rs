//! What placement knows, as served by `GET /placement/state` and `RunningPlacement::snapshot`.
//!
//! The JSON shape follows Dapr's `/placement/state` so existing dashboards and scripts can read
//! it.

use serde::{Deserialize, Serialize};

/// Placement's view: connected hosts and the committed table of every actor type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlacementState {
    /// Registered hosts, sorted by namespace then host id.
    pub host_list: Vec<HostState>,
    /// The highest committed table version (0 when there is no table).
    pub table_version: u64,
    /// Committed tables that have at least one host, sorted by namespace then actor type.
    pub tables: Vec<TableState>,
}

/// One registered host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostState {
    /// The host's invoke address, `host:port` (Dapr calls it `name`).
    pub name: String,
    /// The stable host id.
    pub id: String,
    /// The host's app id.
    pub app_id: String,
    /// The host's namespace.
    pub namespace: String,
    /// Actor types the host serves, sorted.
    pub actor_types: Vec<String>,
    /// When the host registered on its current stream, in milliseconds since the Unix epoch.
    pub updated_at: u64,
}

/// The committed table of one actor type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TableState {
    /// The table's namespace.
    pub namespace: String,
    /// The actor type.
    pub actor_type: String,
    /// The committed version.
    pub version: u64,
    /// Host ids serving the type, sorted.
    pub hosts: Vec<String>,
}

impl PlacementState {
    /// The committed table of `actor_type` in `namespace`, if it has hosts.
    pub fn table(&self, namespace: &str, actor_type: &str) -> Option<&TableState> {
        self.tables
            .iter()
            .find(|t| t.namespace == namespace && t.actor_type == actor_type)
    }

    /// The registered host with id `host_id`.
    pub fn host(&self, host_id: &str) -> Option<&HostState> {
        self.host_list.iter().find(|h| h.id == host_id)
    }
}
