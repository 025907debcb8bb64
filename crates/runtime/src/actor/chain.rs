//! Call chains: which actors are waiting on the current call, for reentrancy and cycle detection.

use std::sync::Arc;

use super::ActorKey;

/// The actors whose turns are waiting, in order, for the call being made; and the chain's id.
///
/// A turn started by a plain host call has no chain. When a turn calls another actor, the call
/// carries the turn's chain plus the calling actor. A call whose target is already in its chain
/// is a cycle: it re-enters a waiting actor.
#[derive(Debug, Clone)]
pub(crate) struct CallChain {
    id: u64,
    path: Arc<[ActorKey]>,
}

impl CallChain {
    /// The chain of a call made by a turn of `caller` whose own chain was `incoming`.
    pub(crate) fn extend(incoming: Option<&CallChain>, caller: &ActorKey) -> CallChain {
        match incoming {
            Some(c) => {
                let mut path = Vec::with_capacity(c.path.len() + 1);
                path.extend(c.path.iter().cloned());
                path.push(caller.clone());
                CallChain {
                    id: c.id,
                    path: path.into(),
                }
            }
            None => CallChain {
                id: rand::random(),
                path: Arc::from(vec![caller.clone()]),
            },
        }
    }

    /// A chain as it arrives from another host.
    pub(crate) fn from_parts(id: u64, path: Vec<ActorKey>) -> CallChain {
        CallChain {
            id,
            path: path.into(),
        }
    }

    /// The actors waiting in the chain, outermost first.
    pub(crate) fn path(&self) -> &[ActorKey] {
        &self.path
    }

    /// The chain's id (the same for every hop of one chain).
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// How many actors are waiting in the chain.
    pub(crate) fn depth(&self) -> usize {
        self.path.len()
    }

    /// Whether `actor_type`/`id` is waiting in the chain.
    pub(crate) fn contains(&self, actor_type: &str, id: &str) -> bool {
        self.path.iter().any(|k| k.is(actor_type, id))
    }

    /// The chain as text, `a/1 -> b/2 -> a/1`, with `next` appended.
    pub(crate) fn describe_with(&self, actor_type: &str, id: &str) -> String {
        let mut s = String::new();
        for k in self.path.iter() {
            s.push_str(&k.to_string());
            s.push_str(" -> ");
        }
        s.push_str(actor_type);
        s.push('/');
        s.push_str(id);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actor::{ActorId, ActorType};

    fn key(t: &str, i: &str) -> ActorKey {
        ActorKey::new(ActorType::from(t), ActorId::from(i))
    }

    #[test]
    fn extending_keeps_the_id_and_appends_the_caller() {
        let a = CallChain::extend(None, &key("a", "1"));
        let b = CallChain::extend(Some(&a), &key("b", "2"));
        assert_eq!(a.id(), b.id());
        assert_eq!(b.depth(), 2);
        assert!(b.contains("a", "1") && b.contains("b", "2"));
        assert!(!b.contains("a", "2"));
        assert_eq!(b.describe_with("a", "1"), "a/1 -> b/2 -> a/1");
    }
}
