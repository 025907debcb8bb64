//! A placement crash and restart under steady load must not fail a single call.
//!
//! The bank cluster of `support::bank` (redis, `weft-placement` with a 2 s faulty-host timeout,
//! three `weftd` with a Python `Account` app each, a client `weftd`, 16 clients depositing into
//! 20 accounts). After 2 s of load placement is killed (SIGKILL) and, 0.5 s later, started again
//! on the same address with its default startup grace (the faulty-host timeout); the load goes
//! on for 4 s after the restart, past the grace and the round that follows it. No host stops,
//! so every actor keeps its owner: the hosts keep serving with their last tables while placement
//! is away (their leases are renewed by the restarted placement as soon as they reconnect), and
//! the restarted placement's first round places every actor where it was.
//!
//! Checks: no call fails at all, no acknowledged deposit is lost, none is applied twice, no two
//! acknowledged turns of one actor overlap. Printed: the longest windows without a successful
//! call around the kill and the restart.

mod support;

use std::time::{Duration, Instant};

use support::bank::{self, judge, monotonic_ns, ms, BankCluster, Load};

/// Load before placement is killed.
const KILL_AFTER: Duration = Duration::from_secs(2);
/// When placement is started again, from its kill.
const RESTART_AFTER_KILL: Duration = Duration::from_millis(500);
/// Load after the restart: past the 2 s startup grace and the round that ends it.
const LOAD_AFTER_RESTART: Duration = Duration::from_secs(4);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_placement_restart_under_load_fails_no_call_and_loses_no_deposit() {
    let _alone = bank::one_at_a_time().await;
    let mut cluster = BankCluster::start().await;
    let hosts_before = cluster.table_hosts().await.expect("placement answers");
    let load = Load::start(&cluster);

    tokio::time::sleep(KILL_AFTER).await;
    println!(
        "active actors: {:?}; killing placement, restarting it {RESTART_AFTER_KILL:?} later",
        cluster.active_counts().await
    );
    let kill_ns = monotonic_ns();
    let killed_at = Instant::now();
    cluster.kill_placement();
    tokio::time::sleep(RESTART_AFTER_KILL.saturating_sub(killed_at.elapsed())).await;
    let restart_ns = monotonic_ns();
    let restarted_at = Instant::now();
    cluster.restart_placement().await;
    let answering_after = restarted_at.elapsed();
    // The restarted placement's first table: after its grace, with the same hosts.
    let mut first_table = None;
    while restarted_at.elapsed() < LOAD_AFTER_RESTART {
        if first_table.is_none() {
            if let Some(hosts) = cluster.table_hosts().await {
                if !hosts.is_empty() {
                    first_table = Some((restarted_at.elapsed(), hosts));
                }
            }
        }
        let left = LOAD_AFTER_RESTART.saturating_sub(restarted_at.elapsed());
        tokio::time::sleep(left.min(Duration::from_millis(100))).await;
    }
    let (calls, load_span) = load.finish().await;
    println!(
        "placement restarted {:.0} ms after the kill, answering {answering_after:?} later; its \
         first {} table {first_table:?} after the restart (before the kill: {hosts_before:?})",
        ms(restart_ns, kill_ns),
        bank::ACTOR_TYPE
    );
    let counts_after = cluster.active_counts().await;
    println!("active actors after the load: {counts_after:?}");

    let events = [
        ("placement kill", kill_ns),
        ("placement restart", restart_ns),
    ];
    let verdict = judge(&cluster, &calls, load_span, &events).await;
    println!("{}", verdict.summary("placement=restarted"));

    let (_, mut hosts_after) = first_table.expect("the restarted placement published no table");
    let mut hosts_before = hosts_before;
    hosts_before.sort();
    hosts_after.sort();
    assert_eq!(
        hosts_before, hosts_after,
        "the restarted placement's table has other hosts"
    );
    verdict.assert_safe();
    assert_eq!(
        verdict.failed, 0,
        "calls failed across a placement restart that moved no actor: {:?}",
        verdict.why
    );
}
