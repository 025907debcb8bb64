//! The dissemination state machine: membership changes in, rounds out. Owned by one task.

use std::collections::{BTreeMap, BTreeSet};

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tonic::Status;
use tracing::{debug, info, info_span, warn};

use super::round::{AckOutcome, Round};
use super::tables::Tables;
use super::{view, Event};
use crate::config::PlacementConfig;
use crate::link::{HostLink, SendFailure};
use crate::membership::{ConnId, Member as Host, Membership, Registration};
use crate::proto::placement_message::Body;
use crate::proto::{Lease, Member, Members, Phase, Snapshot};
use crate::spans;
use crate::state::PlacementState;

/// Everything placement knows, and the rounds in flight.
#[derive(Debug)]
pub(crate) struct Engine {
    config: PlacementConfig,
    members: Membership,
    tables: Tables,
    /// At most one round per namespace.
    rounds: BTreeMap<String, Round>,
    /// Namespaces with changes not yet disseminated, and when their coalescing window closes.
    dirty: BTreeMap<String, Instant>,
    /// Streams to drop, with the status that closes them.
    doomed: Vec<(ConnId, Status)>,
    last_round: u64,
    state: watch::Sender<PlacementState>,
    /// The published state is out of date.
    changed: bool,
    /// The member list the hosts have is out of date (see [`Engine::send_members`]).
    members_changed: bool,
    /// Namespaces whose next round must wait: a host left without `Leave` and may hold a lease
    /// until then.
    holds: BTreeMap<String, BTreeMap<ConnId, Instant>>,
    /// Where probes of departed hosts report (`None`: no probes, as in unit tests).
    probes: Option<mpsc::Sender<Event>>,
    /// Types an abandoned round touched, which its restart must issue anew.
    restart_types: BTreeMap<String, BTreeSet<String>>,
    /// No table is disseminated before this (the startup grace).
    ready_at: Instant,
    /// Still within the startup grace (cleared by the first `drive` after `ready_at`).
    warming: bool,
}

/// How long a probe of a departed host's address may take before it counts as "maybe alive".
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);

/// How a host left, which decides whether its actors must wait for its lease to run out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Departure {
    /// It said `Leave`, or re-registered under the same id: it holds no lease of its own.
    Released,
    /// Silence, a broken stream, an eviction: it may still hold a lease.
    Lost,
}

impl Engine {
    pub(crate) fn new(config: PlacementConfig, state: watch::Sender<PlacementState>) -> Self {
        let grace = config.effective_startup_grace();
        Engine {
            holds: BTreeMap::new(),
            probes: None,
            restart_types: BTreeMap::new(),
            ready_at: Instant::now() + grace,
            warming: !grace.is_zero(),
            tables: Tables::new(config.replication_factor),
            config,
            members: Membership::default(),
            rounds: BTreeMap::new(),
            dirty: BTreeMap::new(),
            doomed: Vec::new(),
            last_round: 0,
            state,
            changed: false,
            members_changed: false,
        }
    }

    /// Probes the address of every host whose stream ends and reports refusals to `probes`.
    pub(crate) fn with_probes(mut self, probes: mpsc::Sender<Event>) -> Self {
        self.probes = Some(probes);
        self
    }

    /// Applies one event, then does whatever became due.
    pub(crate) fn handle(&mut self, event: Event, now: Instant) {
        match event {
            Event::Register {
                conn,
                registration,
                link,
            } => {
                self.register(conn, registration, link, now);
                self.grant(conn, 0, now);
            }
            Event::Heartbeat { conn, seq } => {
                if let Some(member) = self.members.get_mut(conn) {
                    member.last_seen = now;
                }
                self.grant(conn, seq, now);
            }
            Event::Ack { conn, round, phase } => self.ack(conn, round, phase, now),
            Event::Leave { conn } => {
                if let Some(member) = self.members.remove(conn) {
                    info!(host.id = %member.registration.host_id, conn, "host left");
                    self.departed(&member, Departure::Released, now);
                }
            }
            Event::Closed { conn } => {
                if let Some(member) = self.members.remove(conn) {
                    info!(host.id = %member.registration.host_id, conn, "host stream closed");
                    self.departed(&member, Departure::Lost, now);
                    self.probe(&member);
                }
            }
            Event::Refused { conn, namespace } => {
                if let Some(holds) = self.holds.get_mut(&namespace) {
                    if holds.remove(&conn).is_some() {
                        info!(
                            conn,
                            namespace,
                            "departed host refuses connections: not waiting for its lease"
                        );
                    }
                }
            }
        }
        self.drive(now);
    }

    /// Drops the hosts silent for longer than `faulty_host_timeout`.
    pub(crate) fn check_silent(&mut self, now: Instant) {
        let timeout = self.config.faulty_host_timeout;
        for conn in self.members.silent_since(now, timeout) {
            if let Some(member) = self.members.get(conn) {
                let host_id = &member.registration.host_id;
                warn!(host.id = %host_id, conn, ?timeout, "host silent; removing it");
            }
            let reason = format!(
                "no message within faulty_host_timeout ({})",
                humantime::format_duration(timeout)
            );
            self.doomed.push((conn, Status::unavailable(reason)));
        }
        self.drive(now);
    }

    /// When [`drive`](Self::drive) next has something to do: a phase times out or a
    /// coalescing window closes.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let acks = self
            .rounds
            .values()
            .filter(|r| !r.is_phase_done())
            .map(|r| r.deadline);
        let windows = self
            .dirty
            .iter()
            .filter(|(ns, _)| !self.rounds.contains_key(*ns))
            .map(|(ns, at)| self.round_due(ns, *at));
        let warm = self.warming.then_some(self.ready_at);
        acks.chain(windows).chain(warm).min()
    }

    /// When a round of `namespace` whose coalescing window closes at `window` may start: not
    /// during the startup grace, nor while a departed host may still hold a lease.
    fn round_due(&self, namespace: &str, window: Instant) -> Instant {
        let held = self
            .holds
            .get(namespace)
            .and_then(|h| h.values().max().copied())
            .unwrap_or(window);
        window.max(held).max(self.ready_at)
    }

    /// Answers heartbeat `seq` of `conn` with a lease (placement's clock: granted `now`).
    fn grant(&mut self, conn: ConnId, seq: u64, now: Instant) {
        let duration_ms =
            u64::try_from(self.config.lease_duration().as_millis()).unwrap_or(u64::MAX);
        let Some(member) = self.members.get_mut(conn) else {
            return;
        };
        member.lease_granted = now;
        let lease = Body::Lease(Lease {
            heartbeat: seq,
            duration_ms,
        });
        if let Err(failure) = member.link.send(lease) {
            self.doomed.push((conn, send_failure_status(failure)));
        }
    }

    /// Closes every host stream: placement is going away.
    pub(crate) fn shutdown(&mut self) {
        for member in self.members.iter() {
            member
                .link
                .close(Status::unavailable("placement is shutting down"));
        }
    }

    /// Removes doomed hosts, advances finished phases, evicts hosts that missed an ack deadline,
    /// starts rounds whose window closed; repeats until nothing changes, then publishes.
    pub(crate) fn drive(&mut self, now: Instant) {
        loop {
            let mut progressed = false;
            while let Some((conn, status)) = self.doomed.pop() {
                if let Some(member) = self.members.remove(conn) {
                    member.link.close(status);
                    self.departed(&member, Departure::Lost, now);
                }
            }
            if self.warming && now >= self.ready_at {
                self.end_startup_grace();
                progressed = true;
            }
            let late: Vec<String> = self
                .rounds
                .values()
                .filter(|r| !r.is_phase_done() && r.deadline <= now)
                .map(|r| r.namespace.clone())
                .collect();
            for namespace in late {
                self.evict_laggards(namespace, now);
                progressed = true;
            }
            let done: Vec<String> = self
                .rounds
                .values()
                .filter(|r| r.is_phase_done())
                .map(|r| r.namespace.clone())
                .collect();
            for namespace in done {
                self.advance(namespace, now);
                progressed = true;
            }
            let due: Vec<String> = self
                .dirty
                .iter()
                .filter(|(ns, at)| {
                    self.round_due(ns, **at) <= now && !self.rounds.contains_key(*ns)
                })
                .map(|(ns, _)| ns.clone())
                .collect();
            for namespace in due {
                self.dirty.remove(&namespace);
                self.holds.remove(&namespace);
                self.start_round(namespace, now);
                progressed = true;
            }
            if !progressed && self.doomed.is_empty() {
                break;
            }
        }
        if std::mem::take(&mut self.members_changed) {
            self.send_members();
        }
        if std::mem::take(&mut self.changed) {
            self.state
                .send_replace(view::state(&self.members, &self.tables));
        }
    }

    fn register(&mut self, conn: ConnId, registration: Registration, link: HostLink, now: Instant) {
        // With mTLS, only the identity that registered a host id may replace its stream: a
        // valid certificate of another app must not take over (or cut off) a host.
        if let Some(existing) = self.members.by_host_id(&registration.host_id) {
            if existing.registration.identity != registration.identity {
                warn!(target: "weft::audit", host_id = %registration.host_id,
                    existing = ?existing.registration.identity, claimed = ?registration.identity,
                    "Register under another identity's host id refused");
                link.reject(&format!(
                    "host id {:?} is registered by another identity; only that identity may \
                     replace its stream",
                    registration.host_id
                ));
                return;
            }
        }
        let namespace = registration.namespace.clone();
        let types = shown_types(&registration.actor_types);
        info!(host.id = %registration.host_id, conn, namespace, types = %types, "host registered");
        if let Some(old) = self.members.insert(Host::new(conn, registration, link)) {
            let host_id = &old.registration.host_id;
            info!(host.id = %host_id, old.conn, conn, "host reconnected; closing older stream");
            old.link.close(Status::aborted(
                "replaced by a newer stream of the same host id",
            ));
            // The same host (or its restart, whose activations died with it): no lease to wait
            // for, and its actors stay on its id.
            self.departed(&old, Departure::Released, now);
        }
        // During a round the snapshot waits for its end, so it already holds the new tables;
        // during the startup grace it waits for the first round.
        if !self.rounds.contains_key(&namespace) && !self.warming {
            self.send_snapshot(conn);
        }
        self.mark_dirty(&namespace, now);
        self.changed = true;
        self.members_changed = true;
    }

    fn ack(&mut self, conn: ConnId, round_id: u64, phase: Phase, now: Instant) {
        let Some(member) = self.members.get_mut(conn) else {
            debug!(
                conn,
                round = round_id,
                "ack from a stream that left; ignored"
            );
            return;
        };
        member.last_seen = now;
        let host_id = &member.registration.host_id;
        match self.rounds.get_mut(member.namespace()) {
            Some(round) if round.id == round_id => match round.ack(conn, phase) {
                AckOutcome::Counted => {
                    debug!(parent: &round.span, host.id = %host_id, ?phase, "ack");
                }
                AckOutcome::Duplicate => {
                    debug!(parent: &round.span, host.id = %host_id, ?phase, "repeated ack");
                }
                AckOutcome::WrongPhase => {
                    let current = round.phase;
                    warn!(parent: &round.span, host.id = %host_id, ?phase, ?current, "ack for another phase");
                }
            },
            _ => {
                let round = round_id;
                warn!(host.id = %host_id, round, ?phase, "ack for an unknown round; ignored");
            }
        }
    }

    /// `member` is gone: stop waiting for it and disseminate its absence — once its lease has
    /// run out, unless it released it.
    fn departed(&mut self, member: &Host, how: Departure, now: Instant) {
        let namespace = member.namespace();
        // A host lost before it drained may still run actors the round moves: the round must
        // not hand them over; it restarts (without it) once its lease ran out.
        let undrained = how == Departure::Lost
            && self
                .rounds
                .get(namespace)
                .is_some_and(|r| r.is_undrained(member.conn));
        if let Some(round) = self.rounds.get_mut(namespace) {
            round.forget(member.conn);
        }
        if how == Departure::Lost {
            self.hold(namespace, member.conn, member.lease_granted, now);
        }
        if undrained {
            if let Some(round) = self.rounds.remove(namespace) {
                self.restart(round, now);
            }
        }
        self.mark_dirty(namespace, now);
        self.changed = true;
        self.members_changed = true;
    }

    /// Holds `namespace`'s next round until a lease granted at `granted` has surely run out.
    fn hold(&mut self, namespace: &str, conn: ConnId, granted: Instant, now: Instant) {
        let until = granted + self.config.faulty_host_timeout;
        if until > now {
            let holds = self.holds.entry(namespace.to_owned()).or_default();
            holds.insert(conn, until);
            debug!(namespace, wait = ?until - now, "next round waits for a departed host's lease");
        }
    }

    /// Connects to a departed host's address: refused at once means nothing listens there any
    /// more (the process died, and its listener with it; a paused or partitioned host still
    /// accepts, or times out), so there is no lease to wait for. Placement's loop never waits
    /// for it: the answer comes back as an event.
    fn probe(&self, member: &Host) {
        let Some(probes) = self.probes.clone() else {
            return;
        };
        let conn = member.conn;
        let namespace = member.namespace().to_owned();
        let address = member.registration.address.clone();
        tokio::spawn(async move {
            let attempt = tokio::net::TcpStream::connect(address.as_str());
            let refused = matches!(
                tokio::time::timeout(PROBE_TIMEOUT, attempt).await,
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused
            );
            if refused {
                let _ = probes.send(Event::Refused { conn, namespace }).await;
            }
        });
    }

    /// The startup grace is over: every host that registered meanwhile takes part in the first
    /// round, and gets its snapshot when that round ends.
    fn end_startup_grace(&mut self) {
        self.warming = false;
        let mut namespaces = BTreeSet::new();
        for member in self.members.iter_mut() {
            if !member.ready {
                member.ready = true;
                member.snapshot_due = true;
            }
            namespaces.insert(member.namespace().to_owned());
        }
        info!(hosts = self.members.iter().count(), "startup grace over");
        for namespace in namespaces {
            self.dirty.entry(namespace).or_insert(self.ready_at);
        }
    }

    fn mark_dirty(&mut self, namespace: &str, now: Instant) {
        if !self.dirty.contains_key(namespace) {
            let at = now + self.config.coalesce_window;
            self.dirty.insert(namespace.to_owned(), at);
        }
    }

    /// Sends every host the full member list (all namespaces: a call may name `app.namespace`).
    /// Not a round: service calls need no exclusivity, only a current list. A host whose
    /// stream is full is dropped at the next drive, as for any other message.
    fn send_members(&mut self) {
        let members: Vec<Member> = self
            .members
            .iter()
            .map(|m| Member {
                host_id: m.registration.host_id.clone(),
                app_id: m.registration.app_id.clone(),
                namespace: m.registration.namespace.clone(),
                address: m.registration.address.clone(),
            })
            .collect();
        for member in self.members.iter() {
            let body = Body::Members(Members {
                members: members.clone(),
            });
            if let Err(failure) = member.link.send(body) {
                self.doomed
                    .push((member.conn, send_failure_status(failure)));
            }
        }
    }

    fn send_snapshot(&mut self, conn: ConnId) {
        let Some(member) = self.members.get_mut(conn) else {
            return;
        };
        let tables = self.tables.snapshot(member.namespace());
        match member.link.send(Body::Snapshot(Snapshot { tables })) {
            Ok(()) => {
                member.ready = true;
                member.snapshot_due = false;
            }
            Err(failure) => self.doomed.push((conn, send_failure_status(failure))),
        }
    }

    /// Starts a round for `namespace` over the types whose hosts changed, plus those an
    /// abandoned round touched.
    fn start_round(&mut self, namespace: String, now: Instant) {
        let desired = self.members.desired_tables(&namespace);
        let mut types = self.tables.changed(&namespace, &desired);
        types.extend(self.restart_types.remove(&namespace).unwrap_or_default());
        if types.is_empty() {
            self.send_deferred_snapshots(&namespace);
            return;
        }
        let tables = self.tables.issue(&namespace, &types, &desired);
        let participants: BTreeSet<ConnId> = self
            .members
            .in_namespace(&namespace)
            .filter(|m| m.ready)
            .map(|m| m.conn)
            .collect();
        self.last_round += 1;
        let id = self.last_round;
        if participants.is_empty() {
            info!(
                round = id,
                namespace,
                ?types,
                "no host to tell; tables committed"
            );
            self.tables.commit(&tables);
            self.changed = true;
            self.send_deferred_snapshots(&namespace);
            return;
        }
        let span = info_span!(parent: None, spans::ROUND, round = id, namespace = %namespace);
        let versions: Vec<(&str, u64)> = tables
            .iter()
            .take(LOGGED_TYPES)
            .map(|t| (t.actor_type.as_str(), t.version))
            .collect();
        info!(parent: &span, hosts = participants.len(), tables = tables.len(), ?versions,
            "round started");
        let mut round = Round::new(id, namespace.clone(), tables, participants, span);
        self.send_phase(&mut round, now);
        self.rounds.insert(namespace, round);
    }

    /// Sends the round's current phase to its participants and waits for their acks.
    fn send_phase(&mut self, round: &mut Round, now: Instant) {
        let order = round.order(self.config.lock_timeout_ms());
        let mut sent = BTreeSet::new();
        let mut gone = Vec::new();
        for conn in round.participants() {
            let Some(member) = self.members.get(conn) else {
                gone.push(conn);
                continue;
            };
            match member.link.send(Body::Order(order.clone())) {
                Ok(()) => {
                    sent.insert(conn);
                }
                Err(failure) => {
                    gone.push(conn);
                    self.doomed.push((conn, send_failure_status(failure)));
                }
            }
        }
        for conn in gone {
            round.forget(conn);
        }
        debug!(parent: &round.span, phase = ?round.phase, hosts = sent.len(), "phase sent");
        round.await_acks(sent, now + self.config.ack_timeout);
    }

    /// Every participant acknowledged the current phase: commit after UPDATE, send the next
    /// phase, or finish the round after UNLOCK.
    fn advance(&mut self, namespace: String, now: Instant) {
        let Some(mut round) = self.rounds.remove(&namespace) else {
            return;
        };
        if round.phase == Phase::Update {
            self.tables.commit(&round.tables);
            self.changed = true;
        }
        if round.advance() {
            self.send_phase(&mut round, now);
            self.rounds.insert(namespace, round);
        } else {
            info!(parent: &round.span, "round complete");
            self.send_deferred_snapshots(&namespace);
        }
    }

    /// A phase timed out: evict the hosts that did not ack and restart the round from LOCK,
    /// recomputed without them, with fresh versions for every type the old round touched.
    fn evict_laggards(&mut self, namespace: String, now: Instant) {
        let Some(round) = self.rounds.remove(&namespace) else {
            return;
        };
        let timeout = humantime::format_duration(self.config.ack_timeout);
        for conn in round.pending() {
            if let Some(member) = self.members.remove(conn) {
                // Evicted while perhaps alive and serving: its actors wait for its lease.
                self.hold(&namespace, member.conn, member.lease_granted, now);
                self.members_changed = true;
                let host_id = &member.registration.host_id;
                let phase = round.phase;
                warn!(parent: &round.span, host.id = %host_id, ?phase, "no ack in time; evicting");
                member.link.close(Status::aborted(format!(
                    "evicted: no ack of round {} {} within ack_timeout ({timeout})",
                    round.id,
                    round.phase.as_str_name()
                )));
                self.changed = true;
            }
        }
        self.restart(round, now);
    }

    /// Abandons `round` (already out of `rounds`) and restarts it from LOCK, recomputed, with
    /// fresh versions for every type it touched.
    fn restart(&mut self, round: Round, now: Instant) {
        info!(parent: &round.span, "round abandoned; restarting");
        let namespace = round.namespace.clone();
        self.send_deferred_snapshots(&namespace);
        // The restart recomputes everything, so it also covers the changes that were waiting;
        // it starts at once, or when departed hosts' leases have run out.
        self.restart_types
            .entry(namespace.clone())
            .or_default()
            .extend(round.types());
        self.dirty.insert(namespace, now);
    }

    /// Hosts that registered during the round that just ended (or during the startup grace)
    /// get their snapshot now.
    fn send_deferred_snapshots(&mut self, namespace: &str) {
        for conn in self.members.unready(namespace) {
            self.send_snapshot(conn);
        }
    }
}

fn send_failure_status(failure: SendFailure) -> Status {
    match failure {
        SendFailure::Full => Status::resource_exhausted("host does not read its placement stream"),
        SendFailure::Closed => Status::cancelled("placement stream closed"),
    }
}

/// How many actor types a log line names at most.
const LOGGED_TYPES: usize = 16;

/// Up to [`LOGGED_TYPES`] actor type names, each cut to 64 characters, and how many there are
/// in all: a log line stays short whatever a host registers.
fn shown_types(types: &std::collections::BTreeSet<String>) -> String {
    let mut out = format!("{} [", types.len());
    for (i, t) in types.iter().take(LOGGED_TYPES).enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.extend(t.chars().take(64));
    }
    if types.len() > LOGGED_TYPES {
        out.push_str(", ...");
    }
    out.push(']');
    out
}

#[cfg(test)]
mod log_tests {
    use super::*;

    #[test]
    fn a_log_line_names_few_types_however_many_a_host_registers() {
        let many: std::collections::BTreeSet<String> = (0..20_000)
            .map(|i| format!("{i:05}{}", "x".repeat(1000)))
            .collect();
        let shown = shown_types(&many);
        assert!(shown.starts_with("20000 ["), "{shown}");
        assert!(
            shown.len() < LOGGED_TYPES * 70 + 32,
            "{} bytes",
            shown.len()
        );
        assert!(shown.ends_with(", ...]"));
    }
}
