//! The cost of finding an actor's owner on the consistent-hash ring, which every routed call
//! pays once.
//!
//! - `ring_owner/{3,20,100}`: `Ring::owner(id)` on rings of 3, 20 and 100 hosts at replication
//!   factor 100 (300, 2 000 and 10 000 virtual nodes): `xxh3_64` of the id, then a binary
//!   search over the sorted `(point, host)` vector.
//! - `btreemap_range_lookup/{3,20,100}` (the baseline): the same points in a
//!   `BTreeMap<u64, usize>`, looked up with the same hash and `range(point..).next()`, wrapping
//!   to the first entry.
//! - `xxh3_actor_point` (the floor): the hash alone, which both lookups include.
//!
//! The ids are 1 024 distinct `actor-{i}` strings, cycled, so the searches do not always hit the
//! same cache lines.

// `criterion_group!` generates an undocumented `pub fn` at the crate root.
#![allow(missing_docs)]

use std::collections::BTreeMap;
use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use weft_placement::proto::HostEntry;
use weft_placement::ring::{actor_point, vnode_point, Ring};

/// Virtual nodes per host, placement's default.
const REPLICATION_FACTOR: u32 = 100;

/// Distinct actor ids looked up in turn (a power of two, for a cheap wrap-around).
const IDS: usize = 1024;

fn host_ids(hosts: usize) -> Vec<String> {
    (0..hosts).map(|i| format!("host-{i}")).collect()
}

fn ring(host_ids: &[String]) -> Ring {
    Ring::new(
        host_ids.iter().map(|id| HostEntry {
            host_id: id.clone(),
            address: format!("{id}.local:7000"),
            app_id: "bench".to_owned(),
        }),
        REPLICATION_FACTOR,
    )
}

/// The ring's points as a map from point to host index.
fn btreemap(host_ids: &[String]) -> BTreeMap<u64, usize> {
    let mut points = BTreeMap::new();
    for (index, id) in host_ids.iter().enumerate() {
        for i in 0..REPLICATION_FACTOR {
            points.entry(vnode_point(id, i)).or_insert(index);
        }
    }
    points
}

fn btreemap_owner(points: &BTreeMap<u64, usize>, actor_id: &str) -> Option<usize> {
    let point = actor_point(actor_id);
    points
        .range(point..)
        .next()
        .or_else(|| points.iter().next())
        .map(|(_, index)| *index)
}

fn ring_lookup(c: &mut Criterion) {
    let ids: Vec<String> = (0..IDS).map(|i| format!("actor-{i}")).collect();

    let mut group = c.benchmark_group("ring_lookup");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));

    for hosts in [3, 20, 100] {
        let host_ids = host_ids(hosts);
        let ring = ring(&host_ids);
        let points = btreemap(&host_ids);
        // Both structures agree on every owner.
        for id in &ids {
            let by_ring = ring.owner(id).map(|h| h.host_id.as_str());
            let by_map = btreemap_owner(&points, id).map(|i| host_ids[i].as_str());
            assert_eq!(by_ring, by_map, "owner of {id} with {hosts} hosts");
        }

        group.bench_function(BenchmarkId::new("ring_owner", hosts), |b| {
            let mut next = 0;
            b.iter(|| {
                let id = &ids[next % IDS];
                next += 1;
                ring.owner(black_box(id)).map(|h| h.host_id.len())
            });
        });
        group.bench_function(BenchmarkId::new("btreemap_range_lookup", hosts), |b| {
            let mut next = 0;
            b.iter(|| {
                let id = &ids[next % IDS];
                next += 1;
                btreemap_owner(&points, black_box(id))
            });
        });
    }
    group.bench_function("xxh3_actor_point", |b| {
        let mut next = 0;
        b.iter(|| {
            let id = &ids[next % IDS];
            next += 1;
            actor_point(black_box(id))
        });
    });
    group.finish();
}

criterion_group!(benches, ring_lookup);
criterion_main!(benches);
