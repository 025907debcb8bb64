//! The [`Caller`] a call is made as: a host, and for calls made inside a turn, that turn's
//! call chain and deadline.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use tokio::time::Instant;

use super::chain::CallChain;
use super::deadline::Deadline;
use crate::codec::Codec;
use crate::host::handle::HostHandle;
use crate::invoke::request::Request;

/// Who makes a call: a host, and — for calls made inside a turn — that turn's call chain and
/// deadline, so cycles are detected and deadlines propagate.
#[derive(Clone)]
pub struct Caller {
    pub(super) host: HostHandle,
    chain: Option<CallChain>,
    deadline: Option<Instant>,
}

impl fmt::Debug for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Caller")
            .field("in_chain", &self.chain.is_some())
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl Caller {
    /// A caller outside any turn: each call starts a new chain with the host's default timeout.
    pub fn host(host: HostHandle) -> Self {
        Self {
            host,
            chain: None,
            deadline: None,
        }
    }

    pub(crate) fn in_chain(host: HostHandle, chain: CallChain, deadline: Instant) -> Self {
        Self {
            host,
            chain: Some(chain),
            deadline: Some(deadline),
        }
    }

    /// The host calls go through.
    pub fn host_handle(&self) -> &HostHandle {
        &self.host
    }

    pub(crate) fn request(
        &self,
        method: Cow<'static, str>,
        payload: Bytes,
        codec: Codec,
    ) -> Request {
        let timeout = self.host.config().call_timeout;
        let deadline = match self.deadline {
            // Outside a turn: the clock is read only if the deadline is needed (see `Deadline`).
            None => Deadline::After(timeout),
            Some(turn) => Deadline::At(turn.min(Instant::now() + timeout)),
        };
        Request {
            method,
            payload,
            codec,
            deadline,
            chain: self.chain.clone(),
            hop_count: 0,
        }
    }
}
