//! Issue 14: a `weftd` paused past placement's faulty-host timeout must lose no acknowledged
//! write and must not overlap turns — also when placement itself crashes and restarts during
//! the pause.
//!
//! The bank cluster of `support::bank` (redis, `weft-placement` with a 2 s faulty-host timeout,
//! three `weftd` with a Python `Account` app each, a client `weftd`, 16 clients depositing into
//! 20 accounts). After 2 s of load the `weftd` hosting the most actors is stopped (SIGSTOP) for
//! 4.5 s, then resumed, and the load goes on for 4 s. In the second test placement is killed
//! (SIGKILL) 1 s into the pause and started again 0.5 s later on the same address, with its
//! default startup grace (the faulty-host timeout): it must wait for the leases its predecessor
//! granted to run out before it moves any actor, while the stopped host still believes it owns
//! its actors.
//!
//! Checks: every account's final balance lies between its acknowledged deposits and its
//! acknowledged plus failed ones (no acknowledged deposit lost, none applied twice), and no two
//! acknowledged turns of one actor overlap in time. Printed only: overlaps involving turns
//! whose call was not acknowledged, and the longest windows without a successful call around
//! the pause, the placement kill and restart, and the resume.

mod support;

use std::time::{Duration, Instant};

use support::bank::{self, judge, monotonic_ns, ms, BankCluster, Load, Stopped};

/// Load before the pause.
const PAUSE_AFTER: Duration = Duration::from_secs(2);
/// How long the `weftd` stays stopped: well past placement's 2 s faulty-host timeout.
const PAUSE_FOR: Duration = Duration::from_millis(4_500);
/// Load after the resume.
const LOAD_AFTER_RESUME: Duration = Duration::from_secs(4);
/// When placement is killed, from the start of the pause: before its faulty-host timeout ran
/// out, so the stopped host is still in its table.
const KILL_INTO_PAUSE: Duration = Duration::from_secs(1);
/// When placement is started again, from its kill.
const RESTART_AFTER_KILL: Duration = Duration::from_millis(500);

/// What happens to placement during the pause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PlacementDuringPause {
    /// It runs throughout.
    Runs,
    /// It is killed `KILL_INTO_PAUSE` into the pause and restarted `RESTART_AFTER_KILL` later,
    /// with its default startup grace.
    KilledAndRestarted,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weftd_paused_past_the_faulty_host_timeout_loses_no_acknowledged_deposit_nor_overlaps_turns(
) {
    pause_scenario(PlacementDuringPause::Runs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_placement_restarted_while_a_weftd_is_paused_waits_out_its_lease_before_moving_actors() {
    pause_scenario(PlacementDuringPause::KilledAndRestarted).await;
}

async fn pause_scenario(placement_fate: PlacementDuringPause) {
    let _alone = bank::one_at_a_time().await;
    let mut cluster = BankCluster::start().await;
    let load = Load::start(&cluster);

    tokio::time::sleep(PAUSE_AFTER).await;
    let counts = cluster.active_counts().await;
    let victim = (0..cluster.banks.len())
        .max_by_key(|&i| counts[i])
        .expect("three banks");
    let victim_name = cluster.banks[victim].name.clone();
    println!(
        "active actors: {}; pausing {victim_name} for {PAUSE_FOR:?}{}",
        cluster
            .banks
            .iter()
            .zip(&counts)
            .map(|(b, c)| format!("{}={c}", b.name))
            .collect::<Vec<_>>()
            .join(" "),
        match placement_fate {
            PlacementDuringPause::Runs => String::new(),
            PlacementDuringPause::KilledAndRestarted => format!(
                "; killing placement {KILL_INTO_PAUSE:?} into the pause, restarting it \
                 {RESTART_AFTER_KILL:?} later"
            ),
        }
    );
    let pause_ns = monotonic_ns();
    let paused_at = Instant::now();
    let stopped = Stopped::stop(&cluster.banks[victim].sidecar.proc);
    let restarts = placement_fate == PlacementDuringPause::KilledAndRestarted;
    let kill_at = KILL_INTO_PAUSE;
    let restart_at = KILL_INTO_PAUSE + RESTART_AFTER_KILL;
    let mut kill_ns = None;
    let mut restart_ns = None;
    let mut answering_after = None;
    let mut first_table = None;
    // Placement's view while the host is stopped: when does a table without it appear?
    let mut evicted_after = None;
    while paused_at.elapsed() < PAUSE_FOR {
        if restarts && kill_ns.is_none() && paused_at.elapsed() >= kill_at {
            cluster.kill_placement();
            kill_ns = Some(monotonic_ns());
        }
        if restarts && restart_ns.is_none() && paused_at.elapsed() >= restart_at {
            restart_ns = Some(monotonic_ns());
            cluster.restart_placement().await;
            answering_after = Some(paused_at.elapsed());
        }
        if let Some(hosts) = cluster.table_hosts().await {
            if restart_ns.is_some() && first_table.is_none() && !hosts.is_empty() {
                first_table = Some((paused_at.elapsed(), hosts.clone()));
            }
            if evicted_after.is_none() && !hosts.is_empty() && !hosts.contains(&victim_name) {
                evicted_after = Some(paused_at.elapsed());
            }
        }
        let mut next = PAUSE_FOR;
        if restarts {
            next = [kill_at, restart_at, next]
                .into_iter()
                .filter(|&at| at > paused_at.elapsed())
                .min()
                .unwrap_or(next);
        }
        let left = next.saturating_sub(paused_at.elapsed());
        tokio::time::sleep(left.min(Duration::from_millis(100))).await;
    }
    drop(stopped);
    let resume_ns = monotonic_ns();
    let resumed_at = Instant::now();
    let mut rejoined_after = None;
    while resumed_at.elapsed() < LOAD_AFTER_RESUME {
        if let Some(hosts) = cluster.table_hosts().await {
            if restart_ns.is_some() && first_table.is_none() && !hosts.is_empty() {
                first_table = Some((paused_at.elapsed(), hosts.clone()));
            }
            if rejoined_after.is_none() && hosts.contains(&victim_name) {
                rejoined_after = Some(resumed_at.elapsed());
            }
        }
        let left = LOAD_AFTER_RESUME.saturating_sub(resumed_at.elapsed());
        tokio::time::sleep(left.min(Duration::from_millis(100))).await;
    }
    let (calls, load_span) = load.finish().await;
    if let (Some(kill), Some(restart)) = (kill_ns, restart_ns) {
        println!(
            "placement killed at {:+.0} ms from the pause, restarted at {:+.0} ms, answering \
             {answering_after:?} into the pause; its first {} table {first_table:?} into the \
             pause",
            ms(kill, pause_ns),
            ms(restart, pause_ns),
            bank::ACTOR_TYPE
        );
    }
    println!(
        "placement had a table without {victim_name} {evicted_after:?} into the pause, \
         had it back {rejoined_after:?} after the resume"
    );
    assert!(
        cluster.banks[victim].sidecar.proc.is_running(),
        "{victim_name} died after the resume"
    );

    // Let turns the clients gave up on finish before reading the balances.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let mut events = vec![("pause", pause_ns)];
    events.extend(kill_ns.map(|at| ("placement kill", at)));
    events.extend(restart_ns.map(|at| ("placement restart", at)));
    events.push(("resume", resume_ns));
    let verdict = judge(&cluster, &calls, load_span, &events).await;
    let label = match placement_fate {
        PlacementDuringPause::Runs => format!("paused={victim_name}"),
        PlacementDuringPause::KilledAndRestarted => {
            format!("paused={victim_name} placement=restarted")
        }
    };
    println!("{}", verdict.summary(&label));

    // The scenario ran: the paused host hosted actors, placement came back when it should.
    assert!(
        counts[victim] > 0,
        "{victim_name} hosted no actor when paused"
    );
    if restarts {
        assert!(
            kill_ns.is_some() && restart_ns.is_some(),
            "placement was not killed and restarted during the pause"
        );
    }
    verdict.assert_safe();
}
