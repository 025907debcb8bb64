//! Chaos: 10,000 state-changing calls while hosts join, leave gracefully and die abruptly at
//! random moments. Never is one actor active on two hosts, and every acknowledged increment is
//! in the final counts.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use support::{Counter, TestHost, TestPlacement, REGISTRY};
use weft::{HostHandle, MemoryStore, StateStore};

const CALLS: usize = 10_000;
const COUNTERS: usize = 40;
const CALLERS: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_double_activation_and_no_lost_increment_under_churn() {
    let placement = TestPlacement::start().await;
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let live: Arc<Mutex<Vec<TestHost>>> = Arc::default();
    let mut next_host = 0usize;
    for _ in 0..3 {
        let id = format!("host-{next_host}");
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
    let issued = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let handles = |live: &Arc<Mutex<Vec<TestHost>>>| -> Vec<HostHandle> {
        live.lock()
            .unwrap()
            .iter()
            .map(|h| h.handle.clone())
            .collect()
    };

    let mut callers = Vec::new();
    for _ in 0..CALLERS {
        let (live, acked, failed, issued) =
            (live.clone(), acked.clone(), failed.clone(), issued.clone());
        callers.push(tokio::spawn(async move {
            while issued.fetch_add(1, Ordering::SeqCst) < CALLS {
                let (counter, entry) = {
                    let hs = handles(&live);
                    let mut rng = rand::rng();
                    (
                        rng.random_range(0..COUNTERS),
                        hs[rng.random_range(0..hs.len())].clone(),
                    )
                };
                let proxy = entry.actor::<Counter>(format!("n{counter}"));
                match tokio::time::timeout(Duration::from_secs(30), proxy.incr()).await {
                    Ok(Ok(_)) => *acked.lock().unwrap().entry(counter).or_default() += 1,
                    _ => *failed.lock().unwrap().entry(counter).or_default() += 1,
                }
            }
        }));
    }

    // Churn until the callers are done (bounded: at most 60 events).
    let chaos = {
        let (live, done, store, url) = (
            live.clone(),
            done.clone(),
            store.clone(),
            placement.url.clone(),
        );
        tokio::spawn(async move {
            let mut events = Vec::new();
            for _ in 0..60 {
                let pause = rand::rng().random_range(150..500);
                tokio::time::sleep(Duration::from_millis(pause)).await;
                if done.load(Ordering::SeqCst) {
                    break;
                }
                let n_live = live.lock().unwrap().len();
                let action = rand::rng().random_range(0..3);
                if n_live < 3 || (action == 0 && n_live < 5) {
                    let id = format!("host-{next_host}");
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
                    } else {
                        victim.kill();
                        REGISTRY.host_died(&id);
                        events.push(format!("!{id}"));
                    }
                }
            }
            events
        })
    };

    for c in callers {
        c.await.unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let events = chaos.await.unwrap();

    let entry = handles(&live)[0].clone();
    let (acked, failed) = (
        acked.lock().unwrap().clone(),
        failed.lock().unwrap().clone(),
    );
    let mut total_acked = 0;
    for counter in 0..COUNTERS {
        let proxy = entry.actor::<Counter>(format!("n{counter}"));
        let value = tokio::time::timeout(Duration::from_secs(30), proxy.get())
            .await
            .expect("final read in time")
            .expect("final read");
        let (a, f) = (
            acked.get(&counter).copied().unwrap_or(0),
            failed.get(&counter).copied().unwrap_or(0),
        );
        total_acked += a;
        assert!(
            value >= a,
            "n{counter}: {value} < {a} acknowledged increments"
        );
        assert!(
            value <= a + f,
            "n{counter}: {value} > {a} acknowledged + {f} failed"
        );
    }
    let total_failed: u64 = failed.values().sum();
    eprintln!(
        "chaos: {} events {events:?}; {total_acked} acknowledged, {total_failed} failed calls",
        events.len()
    );
    assert!(
        events.len() >= 3,
        "the churn must really happen: {events:?}"
    );
    assert!(
        REGISTRY.violations().is_empty(),
        "double activations: {:?}",
        REGISTRY.violations()
    );
    let hosts = std::mem::take(&mut *live.lock().unwrap());
    for h in hosts {
        h.stop().await;
    }
    placement.stop().await;
}
