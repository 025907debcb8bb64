//! A probe actor for the runtime's tests: it counts, records overlap and lifecycle events, and
//! can fail, panic, sleep, call other actors and run timers on request.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{watch, Barrier};
use weft_runtime::{Actor, ActorId, ActorRegistration, Call, Context, Error, ErrorKind, Timer};

pub fn enc(n: u64) -> Bytes {
    Bytes::copy_from_slice(&n.to_be_bytes())
}

pub fn dec(b: &[u8]) -> u64 {
    u64::from_be_bytes(b.try_into().expect("8 bytes"))
}

/// What every probe of one registration reports.
#[derive(Debug)]
pub struct Stats {
    pub activations: AtomicUsize,
    pub deactivations: watch::Sender<usize>,
    pub in_turn: Mutex<HashMap<String, usize>>,
    pub overlaps: AtomicUsize,
    pub max_parallel_actors: AtomicUsize,
    pub ticks: AtomicUsize,
    pub barrier: Barrier,
}

impl Stats {
    pub fn new(barrier_size: usize) -> Arc<Self> {
        Arc::new(Self {
            activations: AtomicUsize::new(0),
            deactivations: watch::channel(0).0,
            in_turn: Mutex::new(HashMap::new()),
            overlaps: AtomicUsize::new(0),
            max_parallel_actors: AtomicUsize::new(0),
            ticks: AtomicUsize::new(0),
            barrier: Barrier::new(barrier_size.max(1)),
        })
    }

    pub fn activations(&self) -> usize {
        self.activations.load(Ordering::SeqCst)
    }

    pub fn deactivations(&self) -> usize {
        *self.deactivations.borrow()
    }

    pub fn ticks(&self) -> usize {
        self.ticks.load(Ordering::SeqCst)
    }

    /// Waits (at most 10 s) until at least `n` deactivations happened.
    pub async fn wait_deactivations(&self, n: usize) {
        let mut rx = self.deactivations.subscribe();
        tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|d| *d >= n))
            .await
            .expect("deactivations did not happen within 10s")
            .expect("stats dropped");
    }

    fn enter(&self, id: &str) {
        let mut m = self.in_turn.lock().unwrap();
        let c = m.entry(id.to_owned()).or_insert(0);
        *c += 1;
        if *c > 1 {
            self.overlaps.fetch_add(1, Ordering::SeqCst);
        }
        let busy = m.values().filter(|c| **c > 0).count();
        self.max_parallel_actors.fetch_max(busy, Ordering::SeqCst);
    }

    fn leave(&self, id: &str) {
        let mut m = self.in_turn.lock().unwrap();
        if let Some(c) = m.get_mut(id) {
            *c -= 1;
        }
    }
}

pub struct Probe {
    stats: Arc<Stats>,
}

pub fn probe(name: &str, stats: &Arc<Stats>) -> ActorRegistration {
    let stats = Arc::clone(stats);
    ActorRegistration::new(name, move |_id: &ActorId| Probe {
        stats: Arc::clone(&stats),
    })
}

async fn count(ctx: &Context) -> Result<u64, Error> {
    Ok(ctx.state().get("n").await?.map_or(0, |b| dec(&b)))
}

/// Calls the first hop of `route` ("t/i/m;t/i/m;…"), passing it the rest as its payload,
/// within the turn's call chain; returns the reply.
pub async fn call_route(ctx: &Context, route: &[u8]) -> Result<Bytes, Error> {
    let route = std::str::from_utf8(route)
        .map_err(|_| Error::new(ErrorKind::InvalidArgument, "route must be UTF-8"))?;
    let (hop, rest) = route.split_once(';').unwrap_or((route, ""));
    let mut parts = hop.splitn(3, '/');
    let (t, i, m) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default().to_owned(),
    );
    ctx.call(t, i, m, Bytes::copy_from_slice(rest.as_bytes()))
        .await
}

impl Actor for Probe {
    async fn on_activate(&self, _ctx: &Context) -> Result<(), Error> {
        self.stats.activations.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    async fn on_deactivate(&self, ctx: &Context) -> Result<(), Error> {
        // State written here is committed as the activation's last turn.
        let n = ctx.state().get("deactivated").await?.map_or(0, |b| dec(&b));
        ctx.state().set("deactivated", enc(n + 1));
        self.stats.deactivations.send_modify(|d| *d += 1);
        Ok(())
    }

    async fn handle(&self, ctx: &Context, call: Call) -> Result<Bytes, Error> {
        let id = ctx.id().as_str().to_owned();
        match call.method() {
            "get" => Ok(enc(count(ctx).await?)),
            "incr" => {
                let n = count(ctx).await? + 1;
                ctx.state().set("n", enc(n));
                Ok(enc(n))
            }
            "exclusive_incr" => {
                self.stats.enter(&id);
                // Give another turn every chance to sneak in.
                tokio::task::yield_now().await;
                tokio::time::sleep(Duration::from_micros(50)).await;
                let n = count(ctx).await? + 1;
                ctx.state().set("n", enc(n));
                self.stats.leave(&id);
                Ok(enc(n))
            }
            "rendezvous" => {
                self.stats.enter(&id);
                self.stats.barrier.wait().await;
                self.stats.leave(&id);
                Ok(Bytes::new())
            }
            "fail_after_write" => {
                ctx.state().set("n", enc(999));
                Err(Error::new(ErrorKind::ActorFailed, "refused on purpose"))
            }
            "panic_after_write" => {
                ctx.state().set("n", enc(777));
                panic!("probe panics on purpose");
            }
            "sleep_ms" => {
                tokio::time::sleep(Duration::from_millis(dec(call.payload()))).await;
                Ok(Bytes::new())
            }
            // payload: "t/i/m;t/i/m;…": calls the first hop, passing it the rest as its payload,
            // within this turn's call chain; returns the reply.
            "call" => call_route(ctx, call.payload()).await,
            // As `call`, after writing n + 1: the write commits only if the whole route answers.
            "incr_then_call" => {
                let n = count(ctx).await? + 1;
                ctx.state().set("n", enc(n));
                call_route(ctx, call.payload()).await
            }
            // Calls itself until the chain is refused.
            "recurse" => {
                let (t, i) = (ctx.actor_type().clone(), ctx.id().clone());
                ctx.call(t.as_str(), i.as_str(), "recurse", Bytes::new())
                    .await
            }
            // payload: period in ms.
            "start_timer" => {
                let period = Duration::from_millis(dec(call.payload()));
                ctx.register_timer(Timer::new("t", "tick").due(period).period(period))?;
                Ok(Bytes::new())
            }
            "stop_timer" => Ok(enc(u64::from(ctx.unregister_timer("t")))),
            "tick" => {
                self.stats.ticks.fetch_add(1, Ordering::SeqCst);
                Ok(Bytes::new())
            }
            other => Err(Error::new(
                ErrorKind::NotFound,
                format!("probe has no method `{other}`"),
            )),
        }
    }
}
