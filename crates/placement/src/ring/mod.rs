//! The consistent-hash ring: which host owns an actor, computed the same way on every host.
//!
//! # Why a documented hash
//!
//! Placement sends every host the same [`TypeTable`]; each host then looks owners up locally,
//! with no network hop. That only works if every host, in every version of Weft, maps the same
//! table and actor id to the same owner. The function below is therefore part of the protocol:
//! changing it is a wire-incompatible change.
//!
//! # The function
//!
//! For a table with hosts `H` and replication factor `rf`:
//!
//! 1. Sort `H` by `host_id` (byte order) and drop repeated `host_id`s (the first entry wins).
//! 2. For every host `h` and every `i` in `0..rf`, place a virtual node at
//!    `xxh3_64(format!("{host_id}#{i}"))`: XXH3, 64-bit, seed 0, over the UTF-8 bytes of the
//!    host id, a `#` and `i` in decimal without padding (`"host-a#0"`, …, `"host-a#99"`).
//! 3. Sort the virtual nodes by `(point, host_id)`.
//! 4. The owner of actor `id` is the host of the first virtual node whose point is `>=
//!    xxh3_64(id)` (XXH3, 64-bit, seed 0, over the UTF-8 bytes of the id), wrapping around to the
//!    first virtual node when there is none.
//!
//! A table without hosts, or with a replication factor of 0, has no owner for any actor.
//!
//! # Examples
//!
//! ```
//! use weft_placement::proto::{HostEntry, TypeTable};
//! use weft_placement::ring::Ring;
//!
//! let host = |id: &str| HostEntry {
//!     host_id: id.into(),
//!     address: format!("{id}.local:7000"),
//!     app_id: "shop".into(),
//! };
//! let table = TypeTable {
//!     namespace: "default".into(),
//!     actor_type: "Cart".into(),
//!     version: 1,
//!     replication_factor: 100,
//!     hosts: vec![host("a"), host("b")],
//! };
//! let ring = Ring::from_table(&table);
//! let owner = ring.owner("cart-42").map(|h| h.host_id.as_str());
//! assert!(matches!(owner, Some("a" | "b")));
//! ```

use xxhash_rust::xxh3::xxh3_64;

use crate::proto::{HostEntry, TypeTable};

#[cfg(test)]
mod tests;

/// The ring of one actor type: hosts placed on a 64-bit circle by virtual nodes.
///
/// Build it once per table version and share it; [`Ring::owner`] is a binary search.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ring {
    /// Sorted by `host_id`, without repeats.
    hosts: Vec<HostEntry>,
    /// `(point, index into hosts)`, sorted; since `hosts` is sorted by id, the index order is
    /// the `host_id` order.
    points: Vec<(u64, usize)>,
    replication_factor: u32,
}

impl Ring {
    /// Builds the ring of `hosts` with `replication_factor` virtual nodes per host.
    ///
    /// The order of `hosts` does not matter; repeated host ids count once (the first wins after
    /// a stable sort by id).
    pub fn new(hosts: impl IntoIterator<Item = HostEntry>, replication_factor: u32) -> Self {
        let mut hosts: Vec<HostEntry> = hosts.into_iter().collect();
        hosts.sort_by(|a, b| a.host_id.cmp(&b.host_id));
        hosts.dedup_by(|later, first| later.host_id == first.host_id);
        let per_host = usize::try_from(replication_factor).unwrap_or(usize::MAX);
        let mut points = Vec::with_capacity(hosts.len().saturating_mul(per_host));
        for (index, host) in hosts.iter().enumerate() {
            for i in 0..replication_factor {
                points.push((vnode_point(&host.host_id, i), index));
            }
        }
        points.sort_unstable();
        Ring {
            hosts,
            points,
            replication_factor,
        }
    }

    /// Builds the ring of one placement table (its hosts and replication factor).
    pub fn from_table(table: &TypeTable) -> Self {
        Ring::new(table.hosts.iter().cloned(), table.replication_factor)
    }

    /// The host that owns `actor_id`, or `None` when the ring has no virtual nodes.
    pub fn owner(&self, actor_id: &str) -> Option<&HostEntry> {
        let point = actor_point(actor_id);
        let next = self.points.partition_point(|(p, _)| *p < point);
        let (_, index) = self.points.get(next).or_else(|| self.points.first())?;
        self.hosts.get(*index)
    }

    /// The ring's hosts, sorted by `host_id`.
    pub fn hosts(&self) -> &[HostEntry] {
        &self.hosts
    }

    /// Virtual nodes per host.
    pub fn replication_factor(&self) -> u32 {
        self.replication_factor
    }

    /// True when no actor has an owner (no hosts, or a replication factor of 0).
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
}

/// The point of actor `actor_id` on the ring: `xxh3_64` of its UTF-8 bytes.
pub fn actor_point(actor_id: &str) -> u64 {
    xxh3_64(actor_id.as_bytes())
}

/// The point of virtual node `index` of host `host_id`: `xxh3_64` of `"{host_id}#{index}"`.
pub fn vnode_point(host_id: &str, index: u32) -> u64 {
    xxh3_64(format!("{host_id}#{index}").as_bytes())
}
