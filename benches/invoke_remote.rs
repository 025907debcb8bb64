//! The cost of one call to an actor on another host, and how long a dead host's actors stay
//! unreachable.
//!
//! # Group `invoke_remote`
//!
//! A real placement server and two hosts, `host-a` and `host-b`, in this process over loopback
//! gRPC. Each host runs on its own 1-worker tokio runtime, as in `tests/support`. The calls enter
//! at `host-a` and go to echo actors that the ring places on `host-b`, so every call is one
//! forwarded hop: route lookup, then a gRPC unary call to `host-b`, then the turn, then the
//! reply. The actors are activated before timing starts. Their turn only returns the 16-byte
//! payload (`&self`, no state), so nothing is committed.
//!
//! - `weft_remote_call_1`: one call in flight (a sequential loop) to one actor.
//! - `weft_remote_call_64`: 64 calls in flight (`buffer_unordered(64)`), spread over 64
//!   actors on `host-b` so the actors' turns do not serialise the calls. Time is per call.
//! - `raw_tonic_echo_1` / `raw_tonic_echo_64` (the baselines): a hand-written tonic unary echo
//!   service (prost message with one `bytes` field, no codegen) on its own 1-worker runtime,
//!   called over one `tonic::transport::Channel` with `TCP_NODELAY` on both sides (as Weft's
//!   peer channels), with the same payload and concurrency. The client also runs on its own
//!   1-worker runtime. This is the floor for a forwarded call.
//!
//! As in `invoke_local`, the timed loop runs inside a task on the caller's runtime
//! (`iter_custom`), so criterion's thread adds no cross-thread wake-up.
//!
//! # `host_death` (printed, not a criterion measurement)
//!
//! Three hosts with a durable `Counter` type; 50 counters owned by `host-c` are written once.
//! Then `host-c` is killed (its runtime dropped with `shutdown_background`: sockets close,
//! nothing says goodbye) and 50 concurrent `get` calls enter at `host-a`, each retrying until it
//! succeeds. Printed per repetition: the time until placement dropped the host (which tells
//! whether it noticed the closed stream or waited for `faulty_host_timeout`), and the time until
//! the first and the last of the 50 counters answered again. Five repetitions, each on a fresh
//! cluster; min and median are printed at the end.

// `criterion_group!` generates an undocumented `pub fn` at the crate root.
#![allow(missing_docs)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::echo::EchoBaseline;
use common::{runtime, timed, Echo, IN_FLIGHT, PAYLOAD};
use criterion::{criterion_group, criterion_main, Criterion};
use tokio::runtime::Runtime;
use weft::{
    ActorRegistration, ClusterConfig, ErrorKind, Host, HostBuilder, HostHandle, MemoryStore,
    StateStore,
};
use weft_placement::proto::HostEntry;
use weft_placement::ring::Ring;
use weft_placement::{PlacementConfig, RunningPlacement};

/// Placement's default replication factor, which the hosts' rings use.
const REPLICATION_FACTOR: u32 = 100;

/// How long setup steps (joining, activating) may take.
const SETUP_TIMEOUT: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------------------------
// The cluster: placement and hosts on their own runtimes.

/// Starts placement on a free loopback port, on `rt`.
fn start_placement(rt: &Runtime, config: PlacementConfig) -> RunningPlacement {
    let any = "127.0.0.1:0".parse().expect("a socket address");
    rt.block_on(weft_placement::start(config, any, None))
        .expect("start placement")
}

/// A host on its own 1-worker runtime; `kill` drops it abruptly, as a crashed process.
struct ClusterHost {
    handle: HostHandle,
    host: Option<Host>,
    rt: Option<Runtime>,
}

impl ClusterHost {
    fn start(
        id: &str,
        placement: &str,
        store: Arc<dyn StateStore>,
        actors: impl FnOnce(HostBuilder) -> HostBuilder + Send + 'static,
    ) -> ClusterHost {
        let rt = runtime(&format!("host-{id}"), 1);
        let config =
            ClusterConfig::new(id, placement).heartbeat_interval(Duration::from_millis(200));
        let host = rt
            .block_on(async move {
                // `start` spawns the host's tasks on the current runtime.
                tokio::spawn(async move {
                    actors(
                        Host::builder()
                            .app_id("bench")
                            .shared_store(store)
                            .cluster(config),
                    )
                    .start()
                })
                .await
            })
            .expect("host start task")
            .expect("host starts");
        ClusterHost {
            handle: host.handle(),
            host: Some(host),
            rt: Some(rt),
        }
    }

    fn rt(&self) -> &Runtime {
        self.rt.as_ref().expect("the host is running")
    }

    async fn ready(&self) {
        self.handle
            .wait_ready(SETUP_TIMEOUT)
            .await
            .expect("the host joins placement");
    }

    fn stop(mut self) {
        if let (Some(host), Some(rt)) = (self.host.take(), self.rt.as_ref()) {
            rt.block_on(host.shutdown()).expect("graceful shutdown");
        }
    }

    /// Abrupt death: the runtime is dropped with everything on it.
    fn kill(mut self) {
        if let Some(host) = self.host.take() {
            std::mem::forget(host); // a crash runs no Drop logic
        }
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl Drop for ClusterHost {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// The ring the hosts `hosts` build for a type they all serve.
fn ring(hosts: &[&str]) -> Ring {
    Ring::new(
        hosts.iter().map(|h| HostEntry {
            host_id: (*h).to_owned(),
            ..HostEntry::default()
        }),
        REPLICATION_FACTOR,
    )
}

/// `count` ids `{prefix}{i}` that the ring of `hosts` places on `owner`.
fn ids_owned_by(hosts: &[&str], owner: &str, prefix: &str, count: usize) -> Vec<String> {
    let ring = ring(hosts);
    (0..)
        .map(|i| format!("{prefix}{i}"))
        .filter(|id| ring.owner(id).is_some_and(|h| h.host_id == owner))
        .take(count)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Weft's side: an echo actor.

fn echo_actor(builder: HostBuilder) -> HostBuilder {
    builder.register(ActorRegistration::new("echo", |_id| Echo))
}

fn invoke_remote(c: &mut Criterion) {
    let placement_rt = runtime("placement", 1);
    let placement = start_placement(&placement_rt, PlacementConfig::default());
    let url = placement.grpc_uri();
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let host_a = ClusterHost::start("host-a", &url, Arc::clone(&store), echo_actor);
    let host_b = ClusterHost::start("host-b", &url, Arc::clone(&store), echo_actor);
    placement_rt.block_on(async {
        host_a.ready().await;
        host_b.ready().await;
    });

    // Actors the ring places on host-b, activated by one call each from host-a.
    let ids: Arc<Vec<String>> = Arc::new(ids_owned_by(
        &["host-a", "host-b"],
        "host-b",
        "echo-",
        IN_FLIGHT,
    ));
    let payload = Bytes::from_static(PAYLOAD);
    {
        let (handle, ids, payload) = (host_a.handle.clone(), Arc::clone(&ids), payload.clone());
        host_a.rt().block_on(async move {
            tokio::spawn(async move {
                for id in ids.iter() {
                    let reply = handle
                        .call("echo", id, "echo", payload.clone())
                        .await
                        .expect("warm-up call");
                    assert_eq!(reply, payload);
                }
            })
            .await
            .expect("the warm-up task ran");
        });
    }
    assert_eq!(
        host_a.handle.active_count("echo"),
        0,
        "no echo actor on host-a"
    );
    assert_eq!(
        host_b.handle.active_count("echo"),
        IN_FLIGHT,
        "every echo actor is active on host-b"
    );

    let baseline = EchoBaseline::start();

    let mut group = c.benchmark_group("invoke_remote");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));

    for in_flight in [1, IN_FLIGHT] {
        group.bench_function(format!("weft_remote_call_{in_flight}"), |b| {
            b.iter_custom(|iters| {
                let (handle, ids, payload) =
                    (host_a.handle.clone(), Arc::clone(&ids), payload.clone());
                timed(host_a.rt(), iters, in_flight, move |i| {
                    let (handle, ids, payload) =
                        (handle.clone(), Arc::clone(&ids), payload.clone());
                    async move {
                        // One actor when one call is in flight; 64 when 64 are.
                        let slot = usize::try_from(i).unwrap_or(0) % in_flight;
                        handle
                            .call("echo", &ids[slot], "echo", payload)
                            .await
                            .expect("call the echo actor on host-b")
                    }
                })
            });
        });
        baseline.bench(&mut group, in_flight);
    }
    group.finish();

    baseline.shutdown();
    host_a.stop();
    host_b.stop();
    placement_rt
        .block_on(placement.shutdown())
        .expect("placement shuts down");
}

// ---------------------------------------------------------------------------------------------
// Host death: how long a dead host's actors stay unreachable.

/// A durable counter.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Counter {
    n: u64,
}

#[weft::actor]
impl Counter {
    /// Adds one; returns the new count.
    pub async fn incr(&mut self) -> u64 {
        self.n += 1;
        self.n
    }

    /// The count.
    pub async fn get(&self) -> u64 {
        self.n
    }
}

/// Counters owned by the victim.
const VICTIM_ACTORS: usize = 50;

/// Repetitions of the host-death scenario.
const DEATH_REPETITIONS: usize = 5;

/// One host-death repetition's timings, from the kill.
#[derive(Debug, Clone)]
struct Death {
    /// Until placement's state no longer lists the victim.
    dropped_by_placement: Duration,
    /// Until the first counter answered from a survivor.
    first_callable: Duration,
    /// Until all counters answered from survivors.
    all_callable: Duration,
    /// Until all counters that moved to the entry host (`host-a`) answered.
    all_local: Duration,
    /// Until all counters that moved to the other survivor (`host-b`) answered.
    all_forwarded: Duration,
    /// The kinds of the failed calls that were retried.
    retried_errors: Vec<ErrorKind>,
}

fn host_death_once(placement_rt: &Runtime, config: &PlacementConfig) -> Death {
    let placement = start_placement(placement_rt, config.clone());
    let url = placement.grpc_uri();
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let names = ["host-a", "host-b", "host-c"];
    let mut hosts: Vec<ClusterHost> = names
        .iter()
        .map(|id| ClusterHost::start(id, &url, Arc::clone(&store), |b| b.actor::<Counter>()))
        .collect();
    placement_rt.block_on(async {
        for h in &hosts {
            h.ready().await;
        }
    });
    let ids = Arc::new(ids_owned_by(&names, "host-c", "counter-", VICTIM_ACTORS));
    let entry = hosts[0].handle.clone();
    {
        let (entry, ids) = (entry.clone(), Arc::clone(&ids));
        hosts[0].rt().block_on(async move {
            for id in ids.iter() {
                let n = entry
                    .actor::<Counter>(id.as_str())
                    .incr()
                    .await
                    .expect("warm-up incr");
                assert_eq!(n, 1);
            }
        });
    }
    assert_eq!(hosts[2].handle.active_count("Counter"), VICTIM_ACTORS);

    let victim = hosts.pop().expect("three hosts");
    let killed = Instant::now();
    victim.kill();
    let survivor_rt = hosts[0].rt();
    let calls: Vec<_> = ids
        .iter()
        .map(|id| {
            let (entry, id) = (entry.clone(), id.clone());
            survivor_rt.spawn(async move {
                let mut errors = Vec::new();
                loop {
                    match entry.actor::<Counter>(id.as_str()).get().await {
                        Ok(n) => {
                            assert_eq!(n, 1, "{id} kept its committed write");
                            return (killed.elapsed(), errors);
                        }
                        // A call cut off by the crash: `get` is safe to retry.
                        Err(e) if errors.len() < 100 => errors.push(e.kind()),
                        Err(e) => panic!("{id} still failing after 100 tries: {e}"),
                    }
                }
            })
        })
        .collect();
    let (dropped_by_placement, answered) = placement_rt.block_on(async {
        let dropped = tokio::time::timeout(
            Duration::from_secs(30),
            placement.wait_for_state(|s| s.host("host-c").is_none()),
        )
        .await
        .map(|_| killed.elapsed())
        .expect("placement drops the dead host");
        let mut answered = Vec::new();
        for call in calls {
            answered.push(call.await.expect("a call task ran"));
        }
        (dropped, answered)
    });
    let survivors = ring(&names[..2]);
    let latest = |local: bool| {
        ids.iter()
            .zip(&answered)
            .filter(|(id, _)| survivors.owner(id).is_some_and(|h| h.host_id == "host-a") == local)
            .map(|(_, a)| a.0)
            .max()
            .unwrap_or_default()
    };
    let death = Death {
        all_local: latest(true),
        all_forwarded: latest(false),
        dropped_by_placement,
        first_callable: answered.iter().map(|a| a.0).min().unwrap_or_default(),
        all_callable: answered.iter().map(|a| a.0).max().unwrap_or_default(),
        retried_errors: answered.iter().flat_map(|a| a.1.iter().copied()).collect(),
    };
    for h in hosts {
        h.stop();
    }
    placement_rt
        .block_on(placement.shutdown())
        .expect("placement shuts down");
    death
}

fn host_death(_c: &mut Criterion) {
    let config = PlacementConfig::default()
        .faulty_host_timeout(Duration::from_secs(2))
        .ack_timeout(Duration::from_secs(3))
        .lock_timeout(Duration::from_secs(5))
        .startup_grace(Duration::ZERO);
    let placement_rt = runtime("placement", 1);
    eprintln!(
        "host_death: 3 hosts, kill the owner of {VICTIM_ACTORS} counters, call them all via a \
         survivor; faulty_host_timeout = {:?}, heartbeat_interval = 200ms, coalesce_window = \
         {:?}",
        config.faulty_host_timeout, config.coalesce_window
    );
    let mut deaths = Vec::new();
    for repetition in 1..=DEATH_REPETITIONS {
        let death = host_death_once(&placement_rt, &config);
        let path = if death.dropped_by_placement < config.faulty_host_timeout {
            "stream closed"
        } else {
            "faulty_host_timeout"
        };
        eprintln!(
            "host_death #{repetition}: placement dropped the host after {:?} ({path}); first \
             counter callable after {:?}, all {VICTIM_ACTORS} after {:?} (those now on host-a after \
             {:?}, on host-b after {:?}); retried errors: {:?}",
            death.dropped_by_placement,
            death.first_callable,
            death.all_callable,
            death.all_local,
            death.all_forwarded,
            death.retried_errors
        );
        deaths.push(death);
    }
    let summary = |name: &str, mut values: Vec<Duration>| {
        values.sort_unstable();
        eprintln!(
            "host_death {name}: min {:?}, median {:?}, max {:?}",
            values[0],
            values[values.len() / 2],
            values[values.len() - 1]
        );
    };
    summary(
        "dropped_by_placement",
        deaths.iter().map(|d| d.dropped_by_placement).collect(),
    );
    summary(
        "all_callable",
        deaths.iter().map(|d| d.all_callable).collect(),
    );
}

criterion_group!(benches, invoke_remote, host_death);
criterion_main!(benches);
