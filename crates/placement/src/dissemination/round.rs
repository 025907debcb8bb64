//! One dissemination round: LOCK → UPDATE → UNLOCK, each phase acknowledged by every participant.

use std::collections::BTreeSet;

use tokio::time::Instant;
use tracing::Span;

use crate::membership::ConnId;
use crate::proto::{Order, Phase, TypeTable};

/// What an acknowledgement did to its round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AckOutcome {
    /// Counted for the current phase.
    Counted,
    /// This stream already acknowledged the current phase, or is not a participant.
    Duplicate,
    /// The ack names another phase than the current one.
    WrongPhase,
}

/// A round in flight for one namespace.
#[derive(Debug)]
pub(crate) struct Round {
    pub(crate) id: u64,
    pub(crate) namespace: String,
    pub(crate) phase: Phase,
    /// The round's new tables, versions assigned.
    pub(crate) tables: Vec<TypeTable>,
    /// Streams taking part; one that leaves is dropped from it.
    participants: BTreeSet<ConnId>,
    /// Participants yet to acknowledge the current phase.
    pending: BTreeSet<ConnId>,
    /// When the current phase times out.
    pub(crate) deadline: Instant,
    /// The `placement.round` span; entered while the round is worked on.
    pub(crate) span: Span,
}

impl Round {
    /// A round at LOCK that has sent nothing yet.
    pub(crate) fn new(
        id: u64,
        namespace: String,
        tables: Vec<TypeTable>,
        participants: BTreeSet<ConnId>,
        span: Span,
    ) -> Self {
        Round {
            id,
            namespace,
            phase: Phase::Lock,
            tables,
            participants,
            pending: BTreeSet::new(),
            deadline: Instant::now(),
            span,
        }
    }

    /// The actor types the round changes.
    pub(crate) fn types(&self) -> BTreeSet<String> {
        self.tables.iter().map(|t| t.actor_type.clone()).collect()
    }

    /// Streams taking part.
    pub(crate) fn participants(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.participants.iter().copied()
    }

    /// Streams yet to acknowledge the current phase.
    pub(crate) fn pending(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.pending.iter().copied()
    }

    /// The order for the current phase: LOCK and UNLOCK name the tables (versions, no hosts),
    /// UPDATE carries them whole.
    pub(crate) fn order(&self, lock_timeout_ms: u64) -> Order {
        let tables = match self.phase {
            Phase::Update => self.tables.clone(),
            _ => self
                .tables
                .iter()
                .map(|t| TypeTable {
                    hosts: Vec::new(),
                    ..t.clone()
                })
                .collect(),
        };
        Order {
            round: self.id,
            phase: self.phase.into(),
            tables,
            lock_timeout_ms: if self.phase == Phase::Lock {
                lock_timeout_ms
            } else {
                0
            },
        }
    }

    /// The current phase was sent to `sent`; wait for their acks until `deadline`.
    pub(crate) fn await_acks(&mut self, sent: BTreeSet<ConnId>, deadline: Instant) {
        self.pending = sent;
        self.deadline = deadline;
    }

    /// Counts `conn`'s ack of `phase`.
    pub(crate) fn ack(&mut self, conn: ConnId, phase: Phase) -> AckOutcome {
        if phase != self.phase {
            AckOutcome::WrongPhase
        } else if self.pending.remove(&conn) {
            AckOutcome::Counted
        } else {
            AckOutcome::Duplicate
        }
    }

    /// Whether `conn` takes part and has not yet acknowledged UPDATE, so it may still run
    /// actors this round moves elsewhere (it drains them before that ack).
    pub(crate) fn is_undrained(&self, conn: ConnId) -> bool {
        self.participants.contains(&conn)
            && match self.phase {
                Phase::Unspecified | Phase::Lock => true,
                Phase::Update => self.pending.contains(&conn),
                Phase::Unlock => false,
            }
    }

    /// `conn` left: it takes no further part and is no longer waited for.
    pub(crate) fn forget(&mut self, conn: ConnId) {
        self.participants.remove(&conn);
        self.pending.remove(&conn);
    }

    /// Every participant acknowledged the current phase.
    pub(crate) fn is_phase_done(&self) -> bool {
        self.pending.is_empty()
    }

    /// Moves to the next phase; `false` when UNLOCK was the last.
    pub(crate) fn advance(&mut self) -> bool {
        self.phase = match self.phase {
            Phase::Unspecified | Phase::Lock => Phase::Update,
            Phase::Update => Phase::Unlock,
            Phase::Unlock => return false,
        };
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::HostEntry;

    fn round() -> Round {
        let table = TypeTable {
            namespace: "ns".into(),
            actor_type: "A".into(),
            version: 7,
            replication_factor: 3,
            hosts: vec![HostEntry {
                host_id: "h".into(),
                address: "h:1".into(),
                app_id: String::new(),
            }],
        };
        Round::new(1, "ns".into(), vec![table], [10, 11].into(), Span::none())
    }

    #[test]
    fn lock_and_unlock_name_tables_without_hosts_update_carries_them() {
        let mut round = round();
        let lock = round.order(500);
        assert_eq!(lock.phase, i32::from(Phase::Lock));
        assert_eq!(lock.lock_timeout_ms, 500);
        assert_eq!(lock.tables[0].version, 7);
        assert!(lock.tables[0].hosts.is_empty());
        assert!(round.advance());
        let update = round.order(500);
        assert_eq!(update.tables[0].hosts.len(), 1);
        assert_eq!(update.lock_timeout_ms, 0);
        assert!(round.advance());
        assert!(round.order(500).tables[0].hosts.is_empty());
        assert!(!round.advance());
    }

    #[test]
    fn a_phase_is_done_when_every_pending_stream_acked_or_left() {
        let mut round = round();
        round.await_acks([10, 11].into(), Instant::now());
        assert_eq!(round.ack(10, Phase::Update), AckOutcome::WrongPhase);
        assert_eq!(round.ack(10, Phase::Lock), AckOutcome::Counted);
        assert_eq!(round.ack(10, Phase::Lock), AckOutcome::Duplicate);
        assert!(!round.is_phase_done());
        round.forget(11);
        assert!(round.is_phase_done());
        assert_eq!(round.participants().collect::<Vec<_>>(), [10]);
    }
}
