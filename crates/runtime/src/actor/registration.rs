//! Registering actor types with a host.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;

use super::activation::{lifecycle, Spawner};
use super::entry::TypeEntry;
use super::{Actor, ActorCell, ActorId, ActorType, TypedActor};
use crate::config::{ActorTypeConfig, HostConfig, Reentrancy};
use crate::error::Error;

/// An actor type to register with a host: its name, how to create an instance, and its
/// settings (which default to the host's).
///
/// # Examples
/// ```
/// use bytes::Bytes;
/// use weft_runtime::{Actor, ActorRegistration, Call, Context, Error};
///
/// struct Echo;
/// impl Actor for Echo {
///     async fn handle(&self, _ctx: &Context, call: Call) -> Result<Bytes, Error> {
///         Ok(call.into_payload())
///     }
/// }
/// let reg = ActorRegistration::new("echo", |_id| Echo);
/// assert_eq!(reg.actor_type().as_str(), "echo");
/// ```
pub struct ActorRegistration {
    actor_type: ActorType,
    config: ActorTypeConfig,
    spawner: Spawner,
}

impl fmt::Debug for ActorRegistration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActorRegistration")
            .field("actor_type", &self.actor_type)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl ActorRegistration {
    /// Registers type `actor_type`, whose instances `factory` creates from their id.
    pub fn new<A, F>(actor_type: impl Into<ActorType>, factory: F) -> Self
    where
        A: Actor,
        F: Fn(&ActorId) -> A + Send + Sync + 'static,
    {
        let factory: Arc<dyn Fn(&ActorId) -> A + Send + Sync> = Arc::new(factory);
        let spawner: Spawner = Arc::new(move |start| {
            let factory = Arc::clone(&factory);
            Box::pin(lifecycle::run::<A>(factory, start))
        });
        Self {
            actor_type: actor_type.into(),
            config: ActorTypeConfig::default(),
            spawner,
        }
    }

    /// Registers the `#[weft::actor]` type `A` under its type name. Instances start from
    /// `A::default()` and load their state on activation.
    pub fn typed<A: TypedActor>() -> Self {
        Self::new(A::ACTOR_TYPE, |_id: &ActorId| ActorCell::<A>::default())
    }

    /// The type's name.
    pub fn actor_type(&self) -> &ActorType {
        &self.actor_type
    }

    /// Idle time after which an actor of this type is deactivated. Default: the host's.
    pub fn idle_timeout(mut self, idle_timeout: Duration) -> Self {
        self.config.idle_timeout = Some(idle_timeout);
        self
    }

    /// How often this type's idle actors are looked for. Default: the host's.
    pub fn scan_interval(mut self, scan_interval: Duration) -> Self {
        self.config.scan_interval = Some(scan_interval);
        self
    }

    /// Reentrancy of this type. Default: the host's (off).
    pub fn reentrancy(mut self, reentrancy: Reentrancy) -> Self {
        self.config.reentrancy = Some(reentrancy);
        self
    }

    /// The running type's entry, and how its activations are spawned.
    pub(crate) fn into_entry(self, host: &HostConfig) -> Result<(TypeEntry, Spawner), Error> {
        super::names::check_actor_type(self.actor_type.as_str())?;
        let entry = TypeEntry {
            config: self.config.resolve(host)?,
            name: self.actor_type,
            table: DashMap::with_hasher(foldhash::fast::RandomState::default()),
        };
        Ok((entry, self.spawner))
    }
}
