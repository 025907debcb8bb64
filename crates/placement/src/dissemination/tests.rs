//! The engine driven by hand, with an explicit clock: rounds, deferral, departures, eviction.

use std::collections::BTreeMap;

use tokio::sync::{mpsc, watch};
use tokio::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tonic::{Code, Status};

use super::engine::Engine;
use super::Event;
use crate::config::PlacementConfig;
use crate::link::HostLink;
use crate::membership::{ConnId, Registration};
use crate::proto::placement_message::Body;
use crate::proto::{Order, Phase, PlacementMessage, Register, Snapshot};
use crate::state::PlacementState;

const WINDOW: Duration = Duration::from_millis(50);
const ACK: Duration = Duration::from_secs(1);
const TIMEOUT: Duration = Duration::from_secs(3);

struct Harness {
    engine: Engine,
    state: watch::Receiver<PlacementState>,
    now: Instant,
    token: CancellationToken,
    inboxes: BTreeMap<ConnId, mpsc::Receiver<Result<PlacementMessage, Status>>>,
    /// The last member list each host received (kept apart from the round traffic).
    members: BTreeMap<ConnId, Vec<String>>,
    /// Every lease received: (conn, heartbeat seq it answers).
    leases: Vec<(ConnId, u64)>,
}

/// What a host received, simplified.
#[derive(Debug, PartialEq)]
enum Got {
    Snapshot(Snapshot),
    Order(Order),
    Closed(Code),
}

impl Harness {
    fn new() -> Self {
        Self::with_config(PlacementConfig {
            coalesce_window: WINDOW,
            ack_timeout: ACK,
            faulty_host_timeout: TIMEOUT,
            startup_grace: Some(Duration::ZERO),
            ..PlacementConfig::default()
        })
    }

    fn with_config(config: PlacementConfig) -> Self {
        let (tx, state) = watch::channel(PlacementState::default());
        Harness {
            engine: Engine::new(config, tx),
            state,
            now: Instant::now(),
            token: CancellationToken::new(),
            inboxes: BTreeMap::new(),
            members: BTreeMap::new(),
            leases: Vec::new(),
        }
    }

    fn join(&mut self, conn: ConnId, host_id: &str, types: &[&str]) {
        let register = Register {
            host_id: host_id.into(),
            app_id: "app".into(),
            namespace: String::new(),
            address: format!("{host_id}:1"),
            actor_types: types.iter().map(|t| (*t).to_owned()).collect(),
        };
        let registration = Registration::try_from_register(
            register,
            crate::membership::RegisterRules {
                config: &crate::PlacementConfig::default(),
                identity: None,
            },
        )
        .unwrap();
        let (link, rx) = HostLink::new(&self.token);
        self.inboxes.insert(conn, rx);
        let event = Event::Register {
            conn,
            registration,
            link,
        };
        self.engine.handle(event, self.now);
    }

    fn send(&mut self, event: Event) {
        self.engine.handle(event, self.now);
    }

    fn ack(&mut self, conn: ConnId, order: &Order) {
        let phase = Phase::try_from(order.phase).unwrap();
        self.send(Event::Ack {
            conn,
            round: order.round,
            phase,
        });
    }

    fn elapse(&mut self, by: Duration) {
        self.now += by;
        self.engine.drive(self.now);
    }

    fn received(&mut self, conn: ConnId) -> Vec<Got> {
        let inbox = self.inboxes.get_mut(&conn).unwrap();
        let mut got = Vec::new();
        while let Ok(message) = inbox.try_recv() {
            got.push(match message {
                Ok(PlacementMessage {
                    body: Some(Body::Snapshot(s)),
                }) => Got::Snapshot(s),
                Ok(PlacementMessage {
                    body: Some(Body::Order(o)),
                }) => Got::Order(o),
                Ok(PlacementMessage {
                    body: Some(Body::Members(m)),
                }) => {
                    let mut ids: Vec<String> = m.members.into_iter().map(|m| m.host_id).collect();
                    ids.sort();
                    self.members.insert(conn, ids);
                    continue;
                }
                Ok(PlacementMessage {
                    body: Some(Body::Lease(lease)),
                }) => {
                    self.leases.push((conn, lease.heartbeat));
                    continue;
                }
                Ok(other) => panic!("unexpected {other:?}"),
                Err(status) => Got::Closed(status.code()),
            });
        }
        got
    }

    /// The single order `conn` received since the last look.
    fn order(&mut self, conn: ConnId, phase: Phase) -> Order {
        match self.received(conn).as_slice() {
            [Got::Order(order)] if order.phase == i32::from(phase) => order.clone(),
            other => panic!("conn {conn}: expected one {phase:?}, got {other:?}"),
        }
    }

    /// Runs a whole round with every one of `conns` acking; returns its UPDATE.
    fn complete_round(&mut self, conns: &[ConnId]) -> Order {
        let mut update = None;
        for phase in [Phase::Lock, Phase::Update, Phase::Unlock] {
            let orders: Vec<Order> = conns.iter().map(|c| self.order(*c, phase)).collect();
            if phase == Phase::Update {
                update = Some(orders[0].clone());
            }
            for (conn, order) in conns.iter().zip(&orders) {
                self.ack(*conn, order);
            }
        }
        update.unwrap()
    }

    /// Hosts `a` (conn 1) and `b` (conn 2) of `Cart` joined; their first round has started.
    fn two_cart_hosts_in_a_round(&mut self) {
        self.join(1, "a", &["Cart"]);
        self.join(2, "b", &["Cart"]);
        self.received(1);
        self.received(2);
        self.elapse(WINDOW);
    }

    fn hosts_of(&self, actor_type: &str) -> Vec<String> {
        let state = self.state.borrow();
        state
            .table("default", actor_type)
            .map(|t| t.hosts.clone())
            .unwrap_or_default()
    }
}

#[test]
fn changes_are_coalesced_until_the_window_closes() {
    let mut h = Harness::new();
    h.join(1, "a", &["Cart"]);
    h.elapse(WINDOW / 2);
    h.join(2, "b", &["Cart"]);
    assert!(matches!(h.received(1).as_slice(), [Got::Snapshot(_)]));
    assert!(matches!(h.received(2).as_slice(), [Got::Snapshot(_)]));
    assert_eq!(h.engine.next_deadline(), Some(h.now + WINDOW / 2));
    h.elapse(WINDOW / 2);
    let update = h.complete_round(&[1, 2]);
    assert_eq!(update.tables[0].hosts.len(), 2);
    assert_eq!(h.hosts_of("Cart"), ["a", "b"]);
    assert_eq!(h.engine.next_deadline(), None);
}

#[test]
fn a_host_registering_during_a_round_gets_its_snapshot_when_the_round_ends() {
    let mut h = Harness::new();
    h.join(1, "a", &["Cart"]);
    h.received(1);
    h.elapse(WINDOW);
    let lock = h.order(1, Phase::Lock);
    h.join(2, "b", &["Cart"]);
    assert!(h.received(2).is_empty(), "b waits for the round to end");
    h.ack(1, &lock);
    let update = h.order(1, Phase::Update);
    h.ack(1, &update);
    let unlock = h.order(1, Phase::Unlock);
    assert!(h.received(2).is_empty());
    h.ack(1, &unlock);
    // The round ended: b's snapshot holds its tables.
    let got = h.received(2);
    let [Got::Snapshot(snapshot)] = got.as_slice() else {
        panic!("expected a snapshot, got {got:?}");
    };
    assert_eq!(snapshot.tables[0].version, update.tables[0].version);
    // b's own registration is disseminated once its coalescing window closes.
    h.elapse(WINDOW);
    let next = h.complete_round(&[1, 2]);
    assert!(next.tables[0].version > update.tables[0].version);
    assert_eq!(h.hosts_of("Cart"), ["a", "b"]);
}

#[test]
fn a_participant_lost_before_it_drained_restarts_the_round_once_its_lease_ran_out() {
    let mut h = Harness::new();
    h.two_cart_hosts_in_a_round();
    let lock = h.order(1, Phase::Lock);
    h.order(2, Phase::Lock);
    h.ack(1, &lock);
    // b's stream breaks before it drained: it may still run actors this round would move.
    h.send(Event::Closed { conn: 2 });
    h.elapse(WINDOW);
    assert!(
        h.received(1).is_empty(),
        "no UPDATE while b may hold a lease"
    );
    h.elapse(TIMEOUT);
    let update = h.complete_round(&[1]);
    assert!(update.round > lock.round, "a restarted round");
    assert!(update.tables[0].version > lock.tables[0].version);
    assert_eq!(update.tables[0].hosts.len(), 1, "without b");
    assert_eq!(h.hosts_of("Cart"), ["a"]);
}

#[test]
fn a_participant_that_leaves_after_it_drained_is_not_waited_for() {
    let mut h = Harness::new();
    h.two_cart_hosts_in_a_round();
    let lock = h.order(1, Phase::Lock);
    h.order(2, Phase::Lock);
    h.ack(1, &lock);
    h.ack(2, &lock);
    let update = h.order(1, Phase::Update);
    h.order(2, Phase::Update);
    h.ack(2, &update);
    h.send(Event::Closed { conn: 2 });
    assert_eq!(update.tables[0].hosts.len(), 2, "this round still has b");
    h.ack(1, &update);
    let unlock = h.order(1, Phase::Unlock);
    h.ack(1, &unlock);
    h.elapse(WINDOW);
    assert!(
        h.received(1).is_empty(),
        "b's stream broke: it may hold a lease"
    );
    h.elapse(TIMEOUT);
    let next = h.complete_round(&[1]);
    assert_eq!(next.tables[0].hosts.len(), 1, "the next round drops b");
    assert_eq!(h.hosts_of("Cart"), ["a"]);
}

#[test]
fn a_late_host_is_evicted_and_the_round_restarts_with_higher_versions() {
    let mut h = Harness::new();
    h.join(1, "a", &["Cart", "Order"]);
    h.join(2, "b", &["Cart"]);
    h.received(1);
    h.received(2);
    h.elapse(WINDOW);
    let lock = h.order(1, Phase::Lock);
    h.order(2, Phase::Lock);
    h.ack(1, &lock);
    h.ack(2, &lock);
    let update = h.order(1, Phase::Update);
    h.order(2, Phase::Update);
    h.ack(1, &update);
    // b never acks UPDATE.
    h.elapse(ACK);
    assert_eq!(h.received(2), [Got::Closed(Code::Aborted)]);
    assert!(h.received(1).is_empty(), "b may still hold a lease");
    h.elapse(TIMEOUT - ACK);
    let restarted = h.order(1, Phase::Lock);
    assert!(restarted.round > update.round);
    for (old, new) in update.tables.iter().zip(&restarted.tables) {
        assert_eq!(old.actor_type, new.actor_type, "same scope");
        assert!(new.version > old.version);
    }
    h.ack(1, &restarted);
    let update = h.order(1, Phase::Update);
    assert!(update.tables.iter().all(|t| t.hosts.len() == 1));
    h.ack(1, &update);
    let unlock = h.order(1, Phase::Unlock);
    h.ack(1, &unlock);
    assert_eq!(h.hosts_of("Cart"), ["a"]);
    assert!(h.state.borrow().host("b").is_none());
    h.elapse(WINDOW);
    assert!(h.received(1).is_empty(), "the restart covered every change");
}

#[test]
fn a_silent_host_is_removed_and_its_stream_closed() {
    let mut h = Harness::new();
    h.join(1, "a", &[]);
    h.received(1);
    h.now += Duration::from_secs(2);
    h.engine.check_silent(h.now);
    assert!(h.received(1).is_empty(), "not silent for long enough");
    h.now += Duration::from_secs(2);
    h.engine.check_silent(h.now);
    assert_eq!(h.received(1), [Got::Closed(Code::Unavailable)]);
    assert!(h.state.borrow().host_list.is_empty());
}

#[test]
fn heartbeats_and_acks_keep_a_host_alive() {
    let mut h = Harness::new();
    h.join(1, "a", &[]);
    h.received(1);
    for _ in 0..4 {
        h.now += Duration::from_secs(2);
        h.send(Event::Heartbeat { conn: 1, seq: 1 });
        h.engine.check_silent(h.now);
    }
    assert!(h.received(1).is_empty());
    assert!(h.state.borrow().host("a").is_some());
}

#[test]
fn the_last_host_leaving_empties_the_table_without_a_round() {
    let mut h = Harness::new();
    h.join(1, "a", &["Cart"]);
    h.received(1);
    h.elapse(WINDOW);
    h.complete_round(&[1]);
    h.send(Event::Closed { conn: 1 });
    h.elapse(TIMEOUT);
    let state = h.state.borrow().clone();
    assert!(state.tables.is_empty());
    assert!(state.host_list.is_empty());
}

#[test]
fn shutdown_closes_every_stream() {
    let mut h = Harness::new();
    h.join(1, "a", &[]);
    h.join(2, "b", &[]);
    h.received(1);
    h.received(2);
    h.engine.shutdown();
    assert_eq!(h.received(1), [Got::Closed(Code::Unavailable)]);
    assert_eq!(h.received(2), [Got::Closed(Code::Unavailable)]);
}

#[test]
fn every_host_gets_the_member_list_when_hosts_join_and_leave() {
    let mut h = Harness::new();
    h.join(1, "a", &["cart"]);
    h.join(2, "b", &[]); // a service-only host is a member too
    let _ = h.received(1);
    let _ = h.received(2);
    assert_eq!(h.members[&1], ["a", "b"]);
    assert_eq!(h.members[&2], ["a", "b"]);
    h.send(Event::Closed { conn: 2 });
    let _ = h.received(1);
    assert_eq!(h.members[&1], ["a"]);
}

#[test]
fn every_register_and_heartbeat_is_answered_with_a_lease() {
    let mut h = Harness::new();
    h.join(1, "a", &["Cart"]);
    h.send(Event::Heartbeat { conn: 1, seq: 1 });
    h.send(Event::Heartbeat { conn: 1, seq: 2 });
    h.received(1);
    assert_eq!(h.leases, [(1, 0), (1, 1), (1, 2)]);
}

#[test]
fn a_broken_stream_moves_actors_only_after_the_hosts_lease_ran_out() {
    let mut h = Harness::new();
    h.two_cart_hosts_in_a_round();
    h.complete_round(&[1, 2]);
    // b's last lease: granted one second before its stream breaks.
    h.send(Event::Heartbeat { conn: 2, seq: 1 });
    h.elapse(Duration::from_secs(1));
    h.send(Event::Closed { conn: 2 });
    h.elapse(WINDOW);
    assert!(
        h.received(1).is_empty(),
        "b may still be serving on its lease"
    );
    assert_eq!(
        h.engine.next_deadline(),
        Some(h.now - WINDOW - Duration::from_secs(1) + TIMEOUT)
    );
    h.elapse(TIMEOUT - Duration::from_secs(1) - WINDOW);
    let update = h.complete_round(&[1]);
    assert_eq!(update.tables[0].hosts.len(), 1);
}

#[test]
fn a_host_that_leaves_releases_its_actors_at_once() {
    let mut h = Harness::new();
    h.two_cart_hosts_in_a_round();
    h.complete_round(&[1, 2]);
    h.send(Event::Leave { conn: 2 });
    h.send(Event::Closed { conn: 2 });
    h.elapse(WINDOW);
    let update = h.complete_round(&[1]);
    assert_eq!(update.tables[0].hosts.len(), 1);
}

#[test]
fn a_restarted_placement_waits_out_its_startup_grace_then_places_every_host_in_one_round() {
    let grace = Duration::from_secs(2);
    let config = PlacementConfig {
        coalesce_window: WINDOW,
        ack_timeout: ACK,
        faulty_host_timeout: TIMEOUT,
        startup_grace: Some(grace),
        ..PlacementConfig::default()
    };
    let mut h = Harness::with_config(config);
    h.join(1, "a", &["Cart"]);
    h.elapse(Duration::from_millis(700));
    h.join(2, "b", &["Cart"]);
    h.elapse(WINDOW);
    // Within the grace: leases (hosts keep serving with their last tables), no table at all.
    assert!(h.received(1).is_empty());
    assert!(h.received(2).is_empty());
    assert_eq!(h.leases, [(1, 0), (2, 0)]);
    h.elapse(grace);
    let update = h.complete_round(&[1, 2]);
    assert_eq!(
        update.tables[0].hosts.len(),
        2,
        "every host that re-registered"
    );
    for conn in [1, 2] {
        let got = h.received(conn);
        let [Got::Snapshot(snapshot)] = got.as_slice() else {
            panic!("conn {conn}: expected its snapshot after the first round, got {got:?}");
        };
        assert_eq!(snapshot.tables[0].version, update.tables[0].version);
    }
    // Later hosts get their snapshot at once again.
    h.join(3, "c", &["Cart"]);
    assert!(matches!(h.received(3).as_slice(), [Got::Snapshot(_)]));
}
