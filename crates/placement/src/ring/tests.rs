//! Ring math: determinism, balance, minimal movement.

use std::collections::HashMap;

use proptest::prelude::*;

use super::*;

fn host(id: &str) -> HostEntry {
    HostEntry {
        host_id: id.to_owned(),
        address: format!("{id}:7000"),
        app_id: "app".to_owned(),
    }
}

fn ring(ids: &[&str], rf: u32) -> Ring {
    Ring::new(ids.iter().map(|id| host(id)), rf)
}

fn owner_of<'r>(ring: &'r Ring, actor: &str) -> &'r str {
    ring.owner(actor).map(|h| h.host_id.as_str()).unwrap()
}

fn actor_ids(n: usize) -> impl Iterator<Item = String> {
    (0..n).map(|i| format!("actor-{i}"))
}

#[test]
fn hash_function_is_the_documented_one() {
    // XXH3-64, seed 0, of the empty input (the reference value): pinned so that an accidental
    // change of function or seed fails loudly..
    assert_eq!(actor_point(""), 0x2d06_8005_38d3_94c2);
    assert_eq!(vnode_point("host-a", 7), xxh3_64(b"host-a#7"));
    assert_eq!(actor_point("cart-1"), xxh3_64(b"cart-1"));
}

#[test]
fn owners_are_stable_across_runs() {
    let ring = ring(&["host-a", "host-b", "host-c"], 100);
    for (actor, expected) in GOLDEN_OWNERS {
        assert_eq!(owner_of(&ring, actor), *expected, "owner of {actor}");
    }
}

/// Computed once with the documented function; every host of every Weft version must agree.
const GOLDEN_OWNERS: &[(&str, &str)] = &[
    ("", "host-c"),
    ("cart-1", "host-c"),
    ("cart-2", "host-b"),
    ("u42", "host-b"),
    ("order-7", "host-c"),
    ("Weft", "host-a"),
    ("actor-29999", "host-c"),
];

#[test]
fn host_order_of_input_does_not_matter() {
    let forward = ring(&["a", "b", "c", "d"], 50);
    let backward = ring(&["d", "c", "b", "a"], 50);
    let shuffled = ring(&["c", "a", "d", "b"], 50);
    assert_eq!(forward, backward);
    assert_eq!(forward, shuffled);
    for actor in actor_ids(1_000) {
        assert_eq!(owner_of(&forward, &actor), owner_of(&shuffled, &actor));
    }
}

#[test]
fn repeated_host_ids_count_once() {
    let twice = Ring::new([host("a"), host("b"), host("a")], 10);
    assert_eq!(twice, ring(&["a", "b"], 10));
}

#[test]
fn load_is_balanced_over_three_hosts() {
    let ring = ring(&["host-a", "host-b", "host-c"], 100);
    let mut counts: HashMap<String, usize> = HashMap::new();
    let total = 30_000;
    for actor in actor_ids(total) {
        *counts
            .entry(owner_of(&ring, &actor).to_owned())
            .or_default() += 1;
    }
    assert_eq!(counts.len(), 3);
    for (host, count) in counts {
        let share = count as f64 / total as f64;
        assert!((0.25..=0.42).contains(&share), "{host} owns {share:.3}");
    }
}

#[test]
fn adding_a_host_moves_a_quarter_of_actors_only_to_it() {
    let before = ring(&["host-a", "host-b", "host-c"], 100);
    let after = ring(&["host-a", "host-b", "host-c", "host-d"], 100);
    let total = 30_000;
    let mut moved = 0;
    for actor in actor_ids(total) {
        let (old, new) = (owner_of(&before, &actor), owner_of(&after, &actor));
        if old != new {
            assert_eq!(new, "host-d", "{actor} moved from {old} to {new}");
            moved += 1;
        }
    }
    let share = moved as f64 / total as f64;
    assert!((0.15..=0.35).contains(&share), "moved {share:.3}");
}

#[test]
fn empty_ring_has_no_owner() {
    assert!(Ring::default().owner("x").is_none());
    assert!(ring(&[], 100).owner("x").is_none());
    assert!(ring(&["a"], 0).owner("x").is_none());
    assert!(ring(&["a"], 0).is_empty());
}

#[test]
fn from_table_uses_hosts_and_replication_factor() {
    let table = TypeTable {
        namespace: "ns".into(),
        actor_type: "T".into(),
        version: 3,
        replication_factor: 7,
        hosts: vec![host("b"), host("a")],
    };
    let ring = Ring::from_table(&table);
    assert_eq!(ring, Ring::new([host("a"), host("b")], 7));
    assert_eq!(ring.replication_factor(), 7);
    assert_eq!(ring.hosts()[0].host_id, "a");
}

/// The naive model: scan every virtual node for the smallest point `>=` the actor's point.
fn naive_owner(hosts: &[String], rf: u32, actor: &str) -> Option<String> {
    let target = actor_point(actor);
    let mut sorted = hosts.to_vec();
    sorted.sort();
    sorted.dedup();
    let vnodes = sorted
        .iter()
        .flat_map(|h| (0..rf).map(move |i| (vnode_point(h, i), h.clone())));
    let all: Vec<(u64, String)> = vnodes.collect();
    let after = all.iter().filter(|(p, _)| *p >= target).min();
    after.or_else(|| all.iter().min()).map(|(_, h)| h.clone())
}

proptest! {
    #[test]
    fn owner_matches_a_naive_scan(
        hosts in proptest::collection::vec("[a-d]{1,3}", 0..6),
        rf in 0u32..8,
        actors in proptest::collection::vec(".{0,12}", 1..20),
    ) {
        let ring = Ring::new(hosts.iter().map(|h| host(h)), rf);
        for actor in &actors {
            let got = ring.owner(actor).map(|h| h.host_id.clone());
            prop_assert_eq!(got, naive_owner(&hosts, rf, actor));
        }
    }
}
