//! Versioned dissemination: LOCK → UPDATE → UNLOCK rounds, scoped to the actor types whose
//! ring changed, acknowledged by every host at every phase.
//!
//! # Why one loop
//!
//! Membership, tables and rounds change together (a host leaving mid-round changes all three),
//! so one task owns them all and receives every input as an [`Event`] over a channel, as Dapr's
//! placement does. Stream tasks never touch the state; the loop never waits on a host: sends
//! are non-blocking and a host that does not read is dropped.
//!
//! # Rules
//!
//! - Changes in a namespace are coalesced for `coalesce_window` after the first one, then
//!   disseminated in one round scoped to the types whose host list changed.
//! - Changes during a round wait for the next round.
//! - A host that misses a phase's `ack_timeout` is evicted; the round restarts from LOCK,
//!   recomputed without it, with new versions.
//! - A host that registers during a round of its namespace gets its `Snapshot` when the round
//!   ends, then takes part in later rounds.
//! - Every `Register` and `Heartbeat` is answered with a `Lease`. A host that leaves without
//!   `Leave` (silence, a broken stream, an eviction) may still hold one: its namespace's next
//!   round waits until `faulty_host_timeout` after its last grant (see
//!   [`PlacementConfig::lease_duration`] for the arithmetic).
//!   A stream that ends is followed by a probe of the host's address: a refused connection
//!   means its process is gone (its listener closed with it), so its actors move at once.
//! - A freshly started placement disseminates nothing for `startup_grace`: leases granted by a
//!   previous placement process run out, and the hosts re-register meanwhile (serving with
//!   their last tables). Then one round places every registered host, and each gets its
//!   `Snapshot` when it ends.

mod engine;
mod round;
mod tables;
#[cfg(test)]
mod tests;
mod view;

use std::future;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::{self, Duration, Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::config::PlacementConfig;
use crate::error::Error;
use crate::link::HostLink;
use crate::membership::{ConnId, Registration};
use crate::proto::Phase;
use crate::state::PlacementState;

use engine::Engine;

/// Inputs to the dissemination loop, sent by the host stream tasks.
#[derive(Debug)]
pub(crate) enum Event {
    /// A stream's valid `Register`.
    Register {
        conn: ConnId,
        registration: Registration,
        link: HostLink,
    },
    /// A heartbeat: the host is alive; answered with a lease.
    Heartbeat { conn: ConnId, seq: u64 },
    /// The host stopped serving and leaves: no need to wait for its lease.
    Leave { conn: ConnId },
    /// An acknowledgement of `phase` of `round`.
    Ack {
        conn: ConnId,
        round: u64,
        phase: Phase,
    },
    /// The stream ended (closed by the host, broken, or rejected after registering).
    Closed { conn: ConnId },
    /// The host of `conn`, whose stream ended, refuses connections at its address: its process
    /// is gone (or stopped serving), so it holds no lease to wait for.
    Refused { conn: ConnId, namespace: String },
}

/// Events queued before stream tasks wait for the loop.
const EVENT_CAPACITY: usize = 1024;

/// Starts the dissemination loop on `tasks`; it runs until `shutdown` fires, then closes every
/// host stream.
pub(crate) fn spawn(
    config: PlacementConfig,
    shutdown: CancellationToken,
    tasks: &mut JoinSet<Result<(), Error>>,
) -> (mpsc::Sender<Event>, watch::Receiver<PlacementState>) {
    let (events_tx, events_rx) = mpsc::channel(EVENT_CAPACITY);
    let (state_tx, state_rx) = watch::channel(PlacementState::default());
    let probes = events_tx.clone();
    tasks.spawn(async move {
        run(config, events_rx, probes, state_tx, shutdown).await;
        Ok(())
    });
    (events_tx, state_rx)
}

async fn run(
    config: PlacementConfig,
    mut events: mpsc::Receiver<Event>,
    probes: mpsc::Sender<Event>,
    state: watch::Sender<PlacementState>,
    shutdown: CancellationToken,
) {
    // Checking four times per timeout removes a silent host within 1.25 timeouts.
    let period = (config.faulty_host_timeout / 4).max(Duration::from_millis(10));
    let mut silence_check = time::interval(period);
    silence_check.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut engine = Engine::new(config, state).with_probes(probes);
    loop {
        let deadline = engine.next_deadline();
        let wake = async move {
            match deadline {
                Some(at) => time::sleep_until(at).await,
                None => future::pending().await,
            }
        };
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            event = events.recv() => match event {
                Some(event) => engine.handle(event, Instant::now()),
                None => break,
            },
            () = wake => engine.drive(Instant::now()),
            _ = silence_check.tick() => engine.check_silent(Instant::now()),
        }
    }
    engine.shutdown();
}
