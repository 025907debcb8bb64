//! Identifiers: [`ActorType`], [`ActorId`] and the pair that names one actor.

use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Wraps a name.
            pub fn new(name: impl Into<Arc<str>>) -> Self {
                Self(name.into())
            }

            /// The name as a string.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), &*self.0)
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(Arc::from(s))
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(Arc::from(s))
            }
        }
    };
}

name_type!(
    /// The name of an actor type, such as `"cart"`.
    ActorType
);
name_type!(
    /// The id of one actor within its type, such as `"u42"`.
    ActorId
);

/// One actor: its type and id.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ActorKey {
    /// The actor's type.
    pub actor_type: ActorType,
    /// The actor's id.
    pub id: ActorId,
}

impl ActorKey {
    /// The key of actor `id` of type `actor_type`.
    pub fn new(actor_type: ActorType, id: ActorId) -> Self {
        Self { actor_type, id }
    }

    pub(crate) fn is(&self, actor_type: &str, id: &str) -> bool {
        self.actor_type.as_str() == actor_type && self.id.as_str() == id
    }
}

impl fmt::Display for ActorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.actor_type, self.id)
    }
}

impl fmt::Debug for ActorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ActorKey({self})")
    }
}
