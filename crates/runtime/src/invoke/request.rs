//! The bottom of the call path: a [`Request`] on its way to an actor, the [`Reply`] it gets, and
//! the one seam ([`Dispatch`]) through which everything above (handles, contexts, reminders,
//! the invoke server) sends calls without knowing how they are routed.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{self, Poll};

use bytes::Bytes;
use futures::future::BoxFuture;
use tokio::sync::oneshot;

use crate::actor::call::CallOrigin;
use crate::actor::chain::CallChain;
use crate::actor::deadline::Deadline;
use crate::codec::Codec;
use crate::error::{Error, ErrorKind};

/// One call on its way in, before it has found its actor.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) method: Cow<'static, str>,
    pub(crate) payload: Bytes,
    pub(crate) codec: Codec,
    /// Fixed (an instant) as soon as a timer or another host needs it; see [`Deadline`].
    pub(crate) deadline: Deadline,
    pub(crate) chain: Option<CallChain>,
    /// How many hosts forwarded this call already (at most one).
    pub(crate) hop_count: u32,
}

/// The reply to a call that [`Dispatch::send`] sent (or is sending).
pub(crate) enum Reply<'a> {
    /// The call is in the active actor's mailbox; its activation answers on `reply`, by the
    /// call's deadline.
    Mailbox {
        reply: oneshot::Receiver<Result<Bytes, Error>>,
        actor_type: &'a str,
        id: &'a str,
    },
    /// A slow path (activation, a full mailbox, placement, another host) that sends the call
    /// and waits for its reply, within the call's deadline.
    Waiting(BoxFuture<'a, Result<Bytes, Error>>),
}

impl Future for Reply<'_> {
    type Output = Result<Bytes, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut task::Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            Reply::Mailbox {
                reply,
                actor_type,
                id,
            } => Pin::new(reply)
                .poll(cx)
                .map(|reply| reply.unwrap_or_else(|_| Err(ended(actor_type, id)))),
            Reply::Waiting(waiting) => waiting.as_mut().poll(cx),
        }
    }
}

/// The error of a call whose activation went away without answering.
pub(crate) fn ended(actor_type: &str, id: &str) -> Error {
    Error::new(
        ErrorKind::Internal,
        format!("the activation of {actor_type}/{id} ended without replying"),
    )
}

/// How calls reach actors. Implemented by the host's router (`invoke::router`): handles,
/// contexts, reminders and the invoke server depend on this trait, never on the router.
pub(crate) trait Dispatch: Send + Sync + fmt::Debug {
    /// Sends a call to actor `actor_type`/`id` wherever it lives (this host or its owner), under
    /// the host's actor policies, and gives back the future of its reply. Calls stay lazy: the
    /// caller's future holds only the small [`Reply`], not the request.
    fn send<'a>(
        &'a self,
        actor_type: &'a str,
        id: &'a str,
        request: Request,
    ) -> Result<Reply<'a>, Error>;

    /// Sends a turn of `origin` (`None`: a call) to an actor of this host, without routing.
    fn send_local<'a>(
        &'a self,
        actor_type: &'a str,
        id: &'a str,
        request: Request,
        origin: Option<Box<CallOrigin>>,
    ) -> Result<Reply<'a>, Error>;
}
