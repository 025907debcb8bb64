//! A host process pauses (as under `SIGSTOP`, a long GC or a VM migration) for 4.5 s, longer
//! than placement's faulty-host timeout (2 s), while 16 callers deposit into (and read) 20
//! accounts through the two other hosts. Placement evicts it and its accounts move. Asserted:
//! (a) every final balance lies between the acknowledged deposits and those plus the failed
//! ones; (b) no two acknowledged deposit turns of one account overlap in time (overlaps with an
//! unacknowledged turn, such as one frozen half-way, are only counted); (d) once resumed, the
//! host starts no turn in an activation from before its freeze — it lost its lease, and the
//! activation may be stale (issue 14); (e) no read misses a deposit acknowledged before the
//! read was issued. (c) The longest windows without a successful call are printed.
//!
//! The second test also crashes placement while the host is frozen and restarts it on the same
//! address, so the resuming host meets a placement with no memory of it.

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use support::{committed_balance, overlaps, Account, TestHost, TestPlacement, REGISTRY, TURNS};
use weft::{MemoryStore, StateStore};

const ACCOUNTS: usize = 20;
const CALLERS: usize = 16;
/// Longer than placement's faulty-host timeout (2 s, see `TestPlacement::start_on`).
const FREEZE: Duration = Duration::from_millis(4500);
const LOAD_BEFORE: Duration = Duration::from_millis(1500);
const LOAD_AFTER: Duration = Duration::from_secs(3);
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// A bound on the calls, whatever the timing.
const MAX_CALLS: u64 = 100_000;
/// One call in `READ_EVERY` reads the balance instead of depositing.
const READ_EVERY: u64 = 4;

/// The two tests share the process-wide registries and two cores: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_host_neither_loses_nor_overlaps_acknowledged_turns() {
    let _serial = SERIAL.lock().await;
    pause_scenario("p1", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_host_meets_a_restarted_placement_without_losing_or_overlapping_turns() {
    let _serial = SERIAL.lock().await;
    pause_scenario("p2", true).await;
}

#[derive(Debug)]
enum Op {
    Deposit,
    Read,
}

/// One call as its caller saw it.
#[derive(Debug)]
struct Call {
    account: usize,
    req: u64,
    op: Op,
    issued: Instant,
    done: Instant,
    /// The returned balance, or the error kind (`timeout` for the caller's own 5 s).
    outcome: Result<u64, String>,
}

async fn pause_scenario(tag: &str, restart_placement: bool) {
    let mut placement = TestPlacement::start().await;
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let ids: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|s| format!("{tag}-{s}"))
        .collect();
    let mut hosts = Vec::new();
    for id in &ids {
        let host = TestHost::start(id, &placement.url, Arc::clone(&store), |b| {
            b.actor::<Account>()
        })
        .await;
        hosts.push(host);
    }
    for h in &hosts {
        h.ready().await;
    }
    let account = |i: usize| format!("{tag}-acct-{i}");

    // The victim is the host owning the most accounts; the callers enter through the others.
    let mut owned: HashMap<String, usize> = HashMap::new();
    for i in 0..ACCOUNTS {
        let owner = hosts[0]
            .handle
            .actor::<Account>(account(i))
            .host()
            .await
            .expect("warm-up call");
        *owned.entry(owner).or_default() += 1;
    }
    let victim_index = (0..hosts.len())
        .max_by_key(|&i| owned.get(&hosts[i].id).copied().unwrap_or(0))
        .unwrap();
    let victim_id = hosts[victim_index].id.clone();
    let entries: Vec<_> = hosts
        .iter()
        .filter(|h| h.id != victim_id)
        .map(|h| h.handle.clone())
        .collect();

    // A probe on the victim's runtime: its timer ticks must stop during the freeze.
    let ticks: Arc<Mutex<Vec<Instant>>> = Arc::default();
    {
        let ticks = Arc::clone(&ticks);
        hosts[victim_index].spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(20));
            loop {
                every.tick().await;
                ticks.lock().unwrap().push(Instant::now());
            }
        });
    }

    let calls: Arc<Mutex<Vec<Call>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let next_req = Arc::new(AtomicU64::new(1));
    let load_start = Instant::now();
    let mut callers = Vec::new();
    for _ in 0..CALLERS {
        let (entries, calls, stop, next_req) = (
            entries.clone(),
            Arc::clone(&calls),
            Arc::clone(&stop),
            Arc::clone(&next_req),
        );
        let tag = tag.to_owned();
        callers.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let req = next_req.fetch_add(1, Ordering::SeqCst);
                if req > MAX_CALLS {
                    break;
                }
                let (i, entry) = {
                    let mut rng = rand::rng();
                    (
                        rng.random_range(0..ACCOUNTS),
                        entries[rng.random_range(0..entries.len())].clone(),
                    )
                };
                let proxy = entry.actor::<Account>(format!("{tag}-acct-{i}"));
                let op = if req % READ_EVERY == 0 {
                    Op::Read
                } else {
                    Op::Deposit
                };
                let issued = Instant::now();
                let result = match op {
                    Op::Deposit => tokio::time::timeout(CALL_TIMEOUT, proxy.deposit(req)).await,
                    Op::Read => tokio::time::timeout(CALL_TIMEOUT, proxy.balance()).await,
                };
                let outcome = match result {
                    Ok(Ok(n)) => Ok(n),
                    Ok(Err(e)) => Err(format!("{:?}", e.kind())),
                    Err(_) => Err("timeout".to_owned()),
                };
                calls.lock().unwrap().push(Call {
                    account: i,
                    req,
                    op,
                    issued,
                    done: Instant::now(),
                    outcome,
                });
            }
        }));
    }

    tokio::time::sleep(LOAD_BEFORE).await;
    let frozen = hosts[victim_index].freeze(FREEZE).await;
    let freeze_start = frozen.started;
    // Its activations count as gone from here: the next owners activate the accounts while
    // the frozen ones still exist, which is unavoidable; reactivating on the victim after it
    // resumed, while another host has them, is not.
    REGISTRY.host_died(&victim_id);

    // The freeze is real: no heartbeat reaches placement, which evicts the victim.
    let evicted = tokio::time::timeout(FREEZE, async {
        loop {
            if !placement.host_ids().await.contains(&victim_id) {
                return freeze_start.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("placement did not evict the frozen {victim_id}"));
    let mut restarted = None;
    if restart_placement {
        // Placement crashes while the host is frozen and comes back on the same address, with
        // no memory of it.
        let addr = placement.crash();
        placement = TestPlacement::start_on(addr).await;
        restarted = Some(freeze_start.elapsed());
    }
    let resumed = frozen.resumed().await;
    // When the victim is back in placement's host list (within the load, or not).
    let rejoined = tokio::time::timeout(LOAD_AFTER, async {
        loop {
            if placement.host_ids().await.contains(&victim_id) {
                return resumed.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    })
    .await
    .ok();
    tokio::time::sleep_until((resumed + LOAD_AFTER).into()).await;
    stop.store(true, Ordering::SeqCst);
    for c in callers {
        c.await.unwrap();
    }
    let load_end = Instant::now();

    let calls = std::mem::take(&mut *calls.lock().unwrap());
    let turns = TURNS.of("Account", &format!("{tag}-acct-"));
    let ticks = ticks.lock().unwrap().clone();

    // The freeze really stopped the victim's runtime: no timer tick and no turn started on it
    // while it was frozen, and both went on afterwards.
    let frozen_window = |t: Instant| t > freeze_start && t < resumed;
    assert!(
        !ticks.iter().any(|&t| frozen_window(t)),
        "the victim's timers ran while it was frozen"
    );
    assert!(
        ticks.iter().any(|&t| t >= resumed),
        "the victim's timers did not resume"
    );
    assert!(
        !turns
            .iter()
            .any(|t| t.host == victim_id && frozen_window(t.start)),
        "a turn started on the victim while it was frozen"
    );

    // Per-account bookkeeping.
    let mut acked = [0u64; ACCOUNTS];
    let mut failed = [0u64; ACCOUNTS];
    let mut acked_reqs = HashSet::new();
    let mut ack_times: Vec<Vec<Instant>> = vec![Vec::new(); ACCOUNTS];
    let mut failures: HashMap<String, u64> = HashMap::new();
    let (mut reads_ok, mut reads_failed) = (0u64, 0u64);
    for c in &calls {
        match (&c.op, &c.outcome) {
            (Op::Deposit, Ok(_)) => {
                acked[c.account] += 1;
                acked_reqs.insert(c.req);
                ack_times[c.account].push(c.done);
            }
            (Op::Deposit, Err(kind)) => {
                failed[c.account] += 1;
                *failures.entry(format!("deposit {kind}")).or_default() += 1;
            }
            (Op::Read, Ok(_)) => reads_ok += 1,
            (Op::Read, Err(kind)) => {
                reads_failed += 1;
                *failures.entry(format!("read {kind}")).or_default() += 1;
            }
        }
    }
    for times in &mut ack_times {
        times.sort();
    }

    // (a) Final balances, read through a host that was never frozen, and as committed (the two
    // differ when a stale activation answers the read).
    let mut balances = Vec::new();
    for i in 0..ACCOUNTS {
        let balance = tokio::time::timeout(
            Duration::from_secs(20),
            entries[0].actor::<Account>(account(i)).balance(),
        )
        .await
        .expect("final read in time")
        .expect("final read");
        balances.push((balance, committed_balance(&store, &account(i)).await));
    }

    // (b) Overlapping turns of one actor.
    let found = overlaps(&turns, &acked_reqs);

    // (c) Windows without a successful call.
    let mut successes: Vec<Instant> = calls
        .iter()
        .filter(|c| c.outcome.is_ok())
        .map(|c| c.done)
        .collect();
    successes.sort();
    let gaps = |points: &[Instant]| Gaps::of(points, load_start, load_end, freeze_start, resumed);
    let global = gaps(&successes);
    let (mut worst_freeze, mut worst_resume) = (Duration::ZERO, Duration::ZERO);
    for i in 0..ACCOUNTS {
        let mut points: Vec<Instant> = calls
            .iter()
            .filter(|c| c.account == i && c.outcome.is_ok())
            .map(|c| c.done)
            .collect();
        points.sort();
        let g = gaps(&points);
        worst_freeze = worst_freeze.max(g.freeze);
        worst_resume = worst_resume.max(g.resume);
    }

    // (d) Turns the victim started after it resumed in an activation from before the freeze:
    // with its old table and old state, while another host may own the actor.
    let stale: Vec<_> = turns
        .iter()
        .filter(|t| {
            t.host == victim_id
                && t.start >= resumed
                && t.activated.is_some_and(|a| a < freeze_start)
        })
        .collect();
    let stale_acked = stale.iter().filter(|t| acked_reqs.contains(&t.req)).count();
    let victim_turns_after = turns
        .iter()
        .filter(|t| t.host == victim_id && t.start >= resumed)
        .count();

    // (e) Reads that miss a deposit acknowledged before the read was issued.
    let stale_reads: Vec<String> = calls
        .iter()
        .filter_map(|c| match (&c.op, &c.outcome) {
            (Op::Read, Ok(v)) => {
                let before = ack_times[c.account].partition_point(|&t| t < c.issued);
                let before = u64::try_from(before).unwrap();
                (*v < before).then(|| {
                    format!(
                        "{tag}-acct-{} read {v} at +{:?} after {before} acknowledged deposits",
                        c.account,
                        c.issued - load_start
                    )
                })
            }
            _ => None,
        })
        .collect();

    let deposits_acked: u64 = acked.iter().sum();
    let deposits_failed: u64 = failed.iter().sum();
    let registry: Vec<String> = REGISTRY
        .violations()
        .into_iter()
        .filter(|v| v.contains(&format!("{tag}-acct-")))
        .collect();
    let mut failures: Vec<_> = failures.into_iter().collect();
    failures.sort();
    eprintln!(
        "{tag}: froze {victim_id} (owner of {} of {ACCOUNTS} accounts) at +{:?} for {FREEZE:?}; \
         evicted after {evicted:?}{}; rejoined {:?} after resuming",
        owned.get(&victim_id).copied().unwrap_or(0),
        freeze_start - load_start,
        restarted.map_or(String::new(), |r| format!(
            "; placement crashed and restarted after {r:?}"
        )),
        rejoined,
    );
    eprintln!(
        "{tag}: {} calls: deposits {deposits_acked} acknowledged / {deposits_failed} failed, \
         reads {reads_ok} / {reads_failed}; failures {failures:?}",
        calls.len()
    );
    eprintln!(
        "{tag}: {} turns; overlapping pairs: {} both acknowledged, {} with an unacknowledged \
         turn; victim turns after resuming {victim_turns_after}, of them {} in a pre-freeze \
         activation ({stale_acked} acknowledged); {} stale reads; {} reactivations while active \
         elsewhere (on_activate)",
        turns.len(),
        found.acknowledged.len(),
        found.unacknowledged,
        stale.len(),
        stale_reads.len(),
        registry.len(),
    );
    eprintln!(
        "{tag}: longest window without a successful call: around the freeze {:?} (worst \
         account {worst_freeze:?}); after the resume {:?} (worst account {worst_resume:?}), \
         first success {:?} after it",
        global.freeze, global.resume, global.first_after_resume,
    );

    let mut problems = Vec::new();
    for i in 0..ACCOUNTS {
        let ((b, stored), a, f) = (balances[i], acked[i], failed[i]);
        if b < a || b > a + f || stored < a || stored > a + f {
            problems.push(format!(
                "(a) {tag}-acct-{i}: balance {b} ({stored} committed) outside [{a} \
                 acknowledged, {a} + {f} failed]"
            ));
        }
    }
    for (x, y) in found.acknowledged.iter().take(5) {
        problems.push(format!(
            "(b) acknowledged turns overlap on {}: req {} on {} [{:?}, {:?}] and req {} on {} \
             [{:?}, {:?}] (from the load start)",
            x.actor,
            x.req,
            x.host,
            x.start - load_start,
            x.end - load_start,
            y.req,
            y.host,
            y.start - load_start,
            y.end - load_start,
        ));
    }
    if !stale.is_empty() {
        problems.push(format!(
            "(d) the resumed {victim_id} started {} turns ({stale_acked} acknowledged) in \
             activations from before its freeze, e.g. {:?}",
            stale.len(),
            stale
                .iter()
                .take(3)
                .map(|t| format!("{} req {} at +{:?}", t.actor, t.req, t.start - load_start))
                .collect::<Vec<_>>()
        ));
    }
    for r in stale_reads.iter().take(5) {
        problems.push(format!("(e) stale read: {r}"));
    }
    assert!(problems.is_empty(), "{tag}:\n{}", problems.join("\n"));

    for h in hosts {
        h.stop().await;
    }
    placement.stop().await;
}

/// The longest stretches without a point (a successful call's end), the load's start and end
/// bounding the first and last.
#[derive(Debug)]
struct Gaps {
    /// Among the stretches that begin before the resume and end after the freeze began.
    freeze: Duration,
    /// Among the stretches that begin at or after the resume.
    resume: Duration,
    /// From the resume to the first point after it.
    first_after_resume: Duration,
}

impl Gaps {
    fn of(
        points: &[Instant],
        load_start: Instant,
        load_end: Instant,
        freeze: Instant,
        resumed: Instant,
    ) -> Gaps {
        let mut all = Vec::with_capacity(points.len() + 2);
        all.push(load_start);
        all.extend_from_slice(points);
        all.push(load_end);
        let longest = |keep: &dyn Fn(Instant, Instant) -> bool| {
            all.windows(2)
                .filter(|w| keep(w[0], w[1]))
                .map(|w| w[1] - w[0])
                .max()
                .unwrap_or_default()
        };
        Gaps {
            freeze: longest(&|a, b| a < resumed && b > freeze),
            resume: longest(&|a, _| a >= resumed),
            first_after_resume: all
                .iter()
                .find(|&&p| p >= resumed)
                .map_or(Duration::ZERO, |&p| p - resumed),
        }
    }
}
