//! The placement registry: every host of the cluster with its app id, as placement last sent it,
//! and the [`NameResolver`] that answers from it.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use weft_placement::proto::Member;

use crate::error::Error;
use crate::resolve::{check_names, no_instances, Instance, NameResolver};

/// The cluster's hosts by app id, replaced whole on every `Members` message.
#[derive(Debug, Default)]
pub(crate) struct Members {
    /// By app id, then namespace: looked up per call without allocating.
    by_app: RwLock<Arc<ByApp>>,
}

type ByApp = HashMap<String, HashMap<String, Arc<[Instance]>>>;

impl Members {
    /// Replaces the member list with placement's latest.
    pub(crate) fn replace(&self, members: Vec<Member>) {
        let mut instances: Vec<Instance> = members
            .into_iter()
            .filter(|m| !m.app_id.is_empty() && !m.address.is_empty())
            .map(|m| Instance {
                app_id: m.app_id,
                namespace: m.namespace,
                address: m.address,
            })
            .collect();
        // Stable order, so round-robin positions mean the same instance between updates.
        instances.sort_by(|a, b| a.address.cmp(&b.address));
        let mut grouped: HashMap<(String, String), Vec<Instance>> = HashMap::new();
        for i in instances {
            grouped
                .entry((i.app_id.clone(), i.namespace.clone()))
                .or_default()
                .push(i);
        }
        let mut by_app = ByApp::new();
        for ((app, namespace), list) in grouped {
            by_app
                .entry(app)
                .or_default()
                .insert(namespace, Arc::from(list));
        }
        *self
            .by_app
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(by_app);
    }

    fn find(&self, app_id: &str, namespace: &str) -> Option<Arc<[Instance]>> {
        self.by_app
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(app_id)?
            .get(namespace)
            .cloned()
    }
}

/// Resolves app ids to the cluster's hosts registered with them: the default resolver of a
/// cluster host. New instances appear as soon as placement has seen them register; a host that
/// leaves (or dies and misses its heartbeats) disappears.
#[derive(Debug, Clone)]
pub(crate) struct PlacementResolver {
    members: Arc<Members>,
}

impl PlacementResolver {
    pub(crate) fn new(members: Arc<Members>) -> Self {
        Self { members }
    }

    /// The members serving `app_id` in `namespace`, from the latest view placement sent.
    fn lookup(&self, app_id: &str, namespace: &str) -> Result<Arc<[Instance]>, Error> {
        check_names(app_id, namespace)?;
        self.members
            .find(app_id, namespace)
            .filter(|found| !found.is_empty())
            .ok_or_else(|| no_instances(app_id, namespace))
    }
}

#[async_trait]
impl NameResolver for PlacementResolver {
    async fn resolve(&self, app_id: &str, namespace: &str) -> Result<Arc<[Instance]>, Error> {
        self.lookup(app_id, namespace)
    }

    fn resolve_now(&self, app_id: &str, namespace: &str) -> Option<Result<Arc<[Instance]>, Error>> {
        Some(self.lookup(app_id, namespace))
    }
}
