//! Typed handles: [`ActorRef<A>`] and the [`Caller`] it calls as.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::time::Instant;

use super::{ActorId, CallChain, Deadline, TypedActor};
use crate::codec::Codec;
use crate::error::{Error, ErrorKind};
use crate::host::{HostHandle, Request};

/// Who makes a call: a host, and — for calls made inside a turn — that turn's call chain and
/// deadline, so cycles are detected and deadlines propagate.
#[derive(Clone)]
pub struct Caller {
    host: HostHandle,
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

/// A typed reference to actor `id` of type `A`. `#[actor]` wraps it in a proxy with one method
/// per actor method; this type offers the untyped and generic calls underneath.
pub struct ActorRef<A> {
    caller: Caller,
    id: ActorId,
    _actor: PhantomData<fn() -> A>,
}

impl<A> Clone for ActorRef<A> {
    fn clone(&self) -> Self {
        Self {
            caller: self.caller.clone(),
            id: self.id.clone(),
            _actor: PhantomData,
        }
    }
}

impl<A: TypedActor> fmt::Debug for ActorRef<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ActorRef({}/{})", A::ACTOR_TYPE, self.id)
    }
}

impl<A: TypedActor> ActorRef<A> {
    /// A reference to actor `id`, calling as `caller`.
    pub fn new(caller: Caller, id: impl Into<ActorId>) -> Self {
        Self {
            caller,
            id: id.into(),
            _actor: PhantomData,
        }
    }

    /// The actor's id.
    pub fn id(&self) -> &ActorId {
        &self.id
    }

    /// Calls `method` with an already encoded payload in `codec`; the reply is in the same codec.
    ///
    /// # Errors
    /// As [`HostHandle::call`].
    pub async fn call_raw(
        &self,
        method: impl Into<Cow<'static, str>>,
        payload: Bytes,
        codec: Codec,
    ) -> Result<Bytes, Error> {
        let request = self.caller.request(method.into(), payload, codec);
        self.caller
            .host
            .send_actor(A::ACTOR_TYPE, self.id.as_str(), request)?
            .await
    }

    /// Calls a method whose result is `R`, with arguments `args` (`()`, one value, or a tuple).
    ///
    /// # Errors
    /// As [`HostHandle::call`]; [`ErrorKind::InvalidArgument`] when the reply does not decode.
    pub async fn invoke<Args, R>(&self, method: &'static str, args: &Args) -> Result<R, Error>
    where
        Args: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let codec = Codec::Binary;
        let reply = self.call_raw(method, codec.encode(args)?, codec).await?;
        codec.decode(&reply)
    }

    /// Calls a method that returns `Result<T, E>`: the actor's own error comes back as `Ok(Err(e))`,
    /// typed; failures of the call itself as `Err`.
    ///
    /// # Errors
    /// As [`ActorRef::invoke`].
    pub async fn invoke_fallible<Args, T, E>(
        &self,
        method: &'static str,
        args: &Args,
    ) -> Result<Result<T, E>, Error>
    where
        Args: Serialize + ?Sized,
        T: DeserializeOwned,
        E: DeserializeOwned,
    {
        let codec = Codec::Binary;
        match self.call_raw(method, codec.encode(args)?, codec).await {
            Ok(reply) => Ok(Ok(codec.decode(&reply)?)),
            Err(e) if e.kind() == ErrorKind::ActorFailed => match e.app_error() {
                Some(app) => Ok(Err(codec.decode(app)?)),
                None => Err(e),
            },
            Err(e) => Err(e),
        }
    }
}
