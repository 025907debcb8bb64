//! The placement → host half of a host's stream, shared by its stream task and the
//! dissemination loop.

use tokio::sync::mpsc::{self, error::TrySendError};
use tokio_util::sync::CancellationToken;
use tonic::Status;

use crate::proto::placement_message::Body;
use crate::proto::{PlacementMessage, Rejected};

/// Messages queued per host before it counts as not reading. A round queues at most three
/// orders, so only a host that stopped reading fills it.
pub(crate) const CAPACITY: usize = 64;

/// Why a message could not be queued for a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SendFailure {
    /// The host does not read its stream.
    Full,
    /// The stream is gone.
    Closed,
}

/// Sends to one host's stream and closes it; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct HostLink {
    tx: mpsc::Sender<Result<PlacementMessage, Status>>,
    closed: CancellationToken,
}

impl HostLink {
    /// A link and the receiving end that becomes the gRPC response stream.
    pub(crate) fn new(
        shutdown: &CancellationToken,
    ) -> (Self, mpsc::Receiver<Result<PlacementMessage, Status>>) {
        let (tx, rx) = mpsc::channel(CAPACITY);
        let link = HostLink {
            tx,
            closed: shutdown.child_token(),
        };
        (link, rx)
    }

    /// Queues `body` without waiting: the dissemination loop never blocks on a slow host.
    pub(crate) fn send(&self, body: Body) -> Result<(), SendFailure> {
        let message = PlacementMessage { body: Some(body) };
        self.tx.try_send(Ok(message)).map_err(|e| match e {
            TrySendError::Full(_) => SendFailure::Full,
            TrySendError::Closed(_) => SendFailure::Closed,
        })
    }

    /// Ends the stream with `status` and stops reading from the host.
    pub(crate) fn close(&self, status: Status) {
        // Best effort: a full queue still ends, because the stream task stops and drops its
        // sender once `closed` fires.
        let _ = self.tx.try_send(Err(status));
        self.closed.cancel();
    }

    /// Replies `Rejected { reason }` and closes the stream with `INVALID_ARGUMENT`.
    pub(crate) fn reject(&self, reason: &str) {
        tracing::warn!(reason, "rejecting host stream");
        let _ = self.send(Body::Rejected(Rejected {
            reason: reason.to_owned(),
        }));
        self.close(Status::invalid_argument(reason));
    }

    /// Resolves once [`close`](Self::close) ran or placement shuts down.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub(crate) async fn closed(&self) {
        self.closed.cancelled().await;
    }
}
