//! Chaos: 10,000 state-changing calls while hosts join, leave gracefully and die abruptly at
//! random moments — and, in the second test, pause (frozen, as under `SIGSTOP`, for longer than
//! placement's faulty-host timeout). Never is one actor active on two hosts, never do two
//! acknowledged turns of one actor overlap in time, every acknowledged increment is in the
//! final counts, and most calls are acknowledged.

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use support::{committed_count, overlaps, Counter, TestHost, TestPlacement, REGISTRY, TURNS};
use weft::{HostHandle, MemoryStore, StateStore};

const CALLS: usize = 10_000;
const COUNTERS: usize = 40;
const CALLERS: usize = 8;
/// Longer than placement's faulty-host timeout (2 s, see `TestPlacement::start_on`).
const PAUSE: Duration = Duration::from_secs(3);
/// Pauses stop the churn while they last: at most this many, to bound the test's time.
const MAX_PAUSES: usize = 4;
/// The callers go on past `CALLS` until the churn made this many events and at least one kill
/// (and one pause, with pauses)...
const MIN_EVENTS: usize = 4;
/// ...but not past this.
const TIME_BUDGET: Duration = Duration::from_secs(40);
/// At most this many churn events: a paused host's actors wait for its lease to run out (and
/// did for a killed host's before placement probed departed hosts), stalling their callers.
const MAX_EVENTS: usize = 12;
/// See the assertion.
const MIN_ACKNOWLEDGED: f64 = 0.95;

/// The two tests share the process-wide registries and two cores: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_double_activation_and_no_lost_increment_under_churn() {
    let _serial = SERIAL.lock().await;
    churn("c1", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_double_activation_and_no_lost_increment_under_churn_with_pauses() {
    let _serial = SERIAL.lock().await;
    churn("c2", true).await;
}

/// Churn in cluster `tag` (its host ids and counter keys start with it); with `pauses`, the
/// events include pausing a host.
async fn churn(tag: &str, with_pauses: bool) {
    let placement = TestPlacement::start().await;
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let live: Arc<Mutex<Vec<TestHost>>> = Arc::default();
    let mut next_host = 0usize;
    for _ in 0..3 {
        let id = format!("{tag}-host-{next_host}");
        next_host += 1;
        let h = TestHost::start(&id, &placement.url, Arc::clone(&store), |b| {
            b.actor::<Counter>()
        })
        .await;
        h.ready().await;
        live.lock().unwrap().push(h);
    }

    let acked: Arc<Mutex<HashMap<usize, u64>>> = Arc::default();
    let failed: Arc<Mutex<HashMap<usize, u64>>> = Arc::default();
    let acked_reqs: Arc<Mutex<HashSet<u64>>> = Arc::default();
    let issued = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let churned = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let handles = |live: &Arc<Mutex<Vec<TestHost>>>| -> Vec<HostHandle> {
        live.lock()
            .unwrap()
            .iter()
            .map(|h| h.handle.clone())
            .collect()
    };

    let mut callers = Vec::new();
    for _ in 0..CALLERS {
        let tag = tag.to_owned();
        let (live, acked, failed, acked_reqs, issued, churned) = (
            live.clone(),
            acked.clone(),
            failed.clone(),
            acked_reqs.clone(),
            issued.clone(),
            churned.clone(),
        );
        callers.push(tokio::spawn(async move {
            loop {
                let req = issued.fetch_add(1, Ordering::SeqCst);
                let enough = req >= CALLS && churned.load(Ordering::SeqCst);
                if enough || started.elapsed() > TIME_BUDGET {
                    break;
                }
                let (counter, entry) = {
                    let hs = handles(&live);
                    let mut rng = rand::rng();
                    (
                        rng.random_range(0..COUNTERS),
                        hs[rng.random_range(0..hs.len())].clone(),
                    )
                };
                let proxy = entry.actor::<Counter>(format!("{tag}-n{counter}"));
                let req = u64::try_from(req).unwrap();
                match tokio::time::timeout(Duration::from_secs(30), proxy.incr_req(req)).await {
                    Ok(Ok(_)) => {
                        *acked.lock().unwrap().entry(counter).or_default() += 1;
                        acked_reqs.lock().unwrap().insert(req);
                    }
                    _ => *failed.lock().unwrap().entry(counter).or_default() += 1,
                }
            }
        }));
    }

    // Churn until the callers are done (bounded: at most `MAX_EVENTS`). From the third event on,
    // a kill is forced while there was none, from the fourth a pause (with pauses); the callers
    // go on until they happened.
    let chaos = {
        let tag = tag.to_owned();
        let (live, done, churned, store, url) = (
            live.clone(),
            done.clone(),
            churned.clone(),
            store.clone(),
            placement.url.clone(),
        );
        tokio::spawn(async move {
            let mut events = Vec::new();
            let (mut kills, mut pauses) = (0, 0);
            for n in 0..MAX_EVENTS {
                if n >= MIN_EVENTS && kills > 0 && (pauses > 0 || !with_pauses) {
                    churned.store(true, Ordering::SeqCst);
                }
                let gap = rand::rng().random_range(150..500);
                tokio::time::sleep(Duration::from_millis(gap)).await;
                if done.load(Ordering::SeqCst) {
                    break;
                }
                let n_live = live.lock().unwrap().len();
                let kinds = if with_pauses && pauses < MAX_PAUSES {
                    4
                } else {
                    3
                };
                let action = match rand::rng().random_range(0..kinds) {
                    _ if n >= 2 && kills == 0 => 2,
                    _ if n >= 3 && pauses == 0 && with_pauses => 3,
                    a => a,
                };
                if n_live < 3 || (action == 0 && n_live < 5) {
                    let id = format!("{tag}-host-{next_host}");
                    next_host += 1;
                    let h =
                        TestHost::start(&id, &url, Arc::clone(&store), |b| b.actor::<Counter>())
                            .await;
                    h.ready().await;
                    live.lock().unwrap().push(h);
                    events.push(format!("+{id}"));
                } else {
                    let victim = {
                        let mut l = live.lock().unwrap();
                        let i = rand::rng().random_range(0..l.len());
                        l.remove(i)
                    };
                    let id = victim.id.clone();
                    if action == 1 {
                        victim.stop().await;
                        events.push(format!("-{id}"));
                    } else if action != 3 {
                        victim.kill();
                        REGISTRY.host_died(&id);
                        kills += 1;
                        events.push(format!("!{id}"));
                    } else {
                        // Paused: no caller enters through it meanwhile (its process is
                        // frozen too), and its activations count as gone: it must not serve
                        // them when it resumes before placement says it owns them again.
                        let frozen = victim.freeze(PAUSE).await;
                        REGISTRY.host_died(&id);
                        frozen.resumed().await;
                        live.lock().unwrap().push(victim);
                        pauses += 1;
                        events.push(format!("~{id}"));
                    }
                }
            }
            churned.store(true, Ordering::SeqCst);
            (events, kills, pauses)
        })
    };

    for c in callers {
        c.await.unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let (events, kills, pauses) = chaos.await.unwrap();
    let elapsed = started.elapsed();

    let entry = handles(&live)[0].clone();
    let (acked, failed) = (
        acked.lock().unwrap().clone(),
        failed.lock().unwrap().clone(),
    );
    let mut total_acked = 0;
    let mut wrong = Vec::new();
    for counter in 0..COUNTERS {
        let proxy = entry.actor::<Counter>(format!("{tag}-n{counter}"));
        let value = tokio::time::timeout(Duration::from_secs(15), proxy.get())
            .await
            .expect("final read in time")
            .expect("final read");
        let (a, f) = (
            acked.get(&counter).copied().unwrap_or(0),
            failed.get(&counter).copied().unwrap_or(0),
        );
        total_acked += a;
        // What a caller reads, and what is committed (the two differ when a stale activation
        // answers the read).
        let stored = committed_count(&store, &format!("{tag}-n{counter}")).await;
        if value < a || value > a + f || stored < a || stored > a + f {
            wrong.push(format!(
                "{tag}-n{counter} reads {value}, {stored} committed: not within [{a} \
                 acknowledged, {a} + {f} failed]"
            ));
        }
    }
    let total_failed: u64 = failed.values().sum();
    let acked_reqs = acked_reqs.lock().unwrap().clone();
    let turns = TURNS.of("Counter", &format!("{tag}-n"));
    let double: Vec<String> = REGISTRY
        .violations()
        .into_iter()
        .filter(|v| v.starts_with(&format!("Counter/{tag}-n")))
        .collect();
    let found = overlaps(&turns, &acked_reqs);
    eprintln!(
        "{tag}: {} events {events:?} ({kills} kills, {pauses} pauses) in {elapsed:?}; \
         {total_acked} acknowledged, {total_failed} failed calls; {} turns, overlapping pairs: \
         {} both acknowledged, {} with an unacknowledged turn",
        events.len(),
        turns.len(),
        found.acknowledged.len(),
        found.unacknowledged,
    );
    assert!(wrong.is_empty(), "{wrong:?}");
    assert!(
        events.len() >= 3,
        "the churn must really happen: {events:?}"
    );
    assert!(kills >= 1, "the churn must include a kill: {events:?}");
    assert!(
        pauses >= 1 || !with_pauses,
        "the churn must include a pause: {events:?}"
    );
    assert!(
        found.acknowledged.is_empty(),
        "acknowledged turns of one counter overlap: {:?}",
        found
            .acknowledged
            .iter()
            .take(5)
            .map(|(a, b)| format!(
                "{} req {} on {} and req {} on {}",
                a.actor, a.req, a.host, b.req, b.host
            ))
            .collect::<Vec<_>>()
    );
    // A correct cluster fails only the calls a disruptive event catches in flight — sent to a
    // host that dies before answering, or cut by a lease that lapsed mid-turn; calls that never
    // reached an owner are routed again, and a leave drains: at most the 8 callers' one call each
    // per event, at most 12 events, so at most 96 failures: 1% of 10,000 calls, under 5%
    // even if the time budget cut the run to 2,000. Runs fail 0.1% to 1.8%. A cluster that keeps
    // failing calls after a kill or a pause (fenced turns, calls bounced until their timeout)
    // drops below 95% at once.
    let share = total_acked as f64 / (total_acked + total_failed) as f64;
    assert!(
        share >= MIN_ACKNOWLEDGED,
        "only {:.1}% of the calls were acknowledged ({total_acked} of {})",
        share * 100.0,
        total_acked + total_failed
    );
    assert!(double.is_empty(), "double activations: {double:?}");
    let hosts = std::mem::take(&mut *live.lock().unwrap());
    for h in hosts {
        h.stop().await;
    }
    placement.stop().await;
}
