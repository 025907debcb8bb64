//! A resolver over a fixed list of instances.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{check_names, no_instances, Instance, NameResolver, DEFAULT_NAMESPACE};
use crate::error::{Error, ErrorKind};

/// A [`NameResolver`] over a fixed map of `(app id, namespace)` to instance addresses.
///
/// # Examples
/// ```
/// # #[tokio::main] async fn main() -> Result<(), weft_runtime::Error> {
/// use weft_runtime::resolve::{NameResolver, StaticResolver};
/// let r = StaticResolver::from_pairs([
///     (("backend", "default"), "127.0.0.1:50001"),
///     (("backend", "default"), "127.0.0.1:50002"),
/// ])?;
/// assert_eq!(r.resolve("backend", "default").await?.len(), 2);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct StaticResolver {
    /// The instances by app id, then namespace (looked up without allocating a key).
    apps: HashMap<String, HashMap<String, Arc<[Instance]>>>,
}

/// The serialized form of a [`StaticResolver`]:
///
/// ```yaml
/// apps:
///   - appId: backend
///     namespace: prod        # optional, defaults to "default"
///     addresses: ["10.0.0.1:50001", "10.0.0.2:50001"]
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticResolverConfig {
    /// The apps and their instances.
    #[serde(default)]
    pub apps: Vec<StaticApp>,
}

/// One app's entry in a [`StaticResolverConfig`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StaticApp {
    /// The app id.
    pub app_id: String,
    /// The app's namespace; [`DEFAULT_NAMESPACE`] when left out.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// The instances' addresses, `host:port` each.
    pub addresses: Vec<String>,
}

fn default_namespace() -> String {
    DEFAULT_NAMESPACE.to_owned()
}

impl StaticResolver {
    /// A resolver over `apps`, a map of `(app id, namespace)` to `host:port` addresses.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] for an empty app id or namespace, or an address that is
    /// not `host:port`.
    pub fn new(apps: HashMap<(String, String), Vec<String>>) -> Result<Self, Error> {
        let mut by_app: HashMap<String, HashMap<String, Arc<[Instance]>>> = HashMap::new();
        for ((app_id, namespace), addresses) in apps {
            check_names(&app_id, &namespace)?;
            for address in &addresses {
                check_address(address)?;
            }
            let instances: Arc<[Instance]> = addresses
                .into_iter()
                .map(|address| Instance {
                    app_id: app_id.clone(),
                    namespace: namespace.clone(),
                    address,
                })
                .collect();
            by_app
                .entry(app_id)
                .or_default()
                .insert(namespace, instances);
        }
        Ok(Self { apps: by_app })
    }

    /// A resolver from `((app id, namespace), address)` pairs, one per instance.
    ///
    /// # Errors
    /// As [`StaticResolver::new`].
    pub fn from_pairs<A, N, S>(pairs: impl IntoIterator<Item = ((A, N), S)>) -> Result<Self, Error>
    where
        A: Into<String>,
        N: Into<String>,
        S: Into<String>,
    {
        let mut apps: HashMap<(String, String), Vec<String>> = HashMap::new();
        for ((app_id, namespace), address) in pairs {
            apps.entry((app_id.into(), namespace.into()))
                .or_default()
                .push(address.into());
        }
        Self::new(apps)
    }

    /// A resolver from its configuration.
    ///
    /// # Errors
    /// As [`StaticResolver::new`].
    pub fn from_config(config: StaticResolverConfig) -> Result<Self, Error> {
        let mut apps: HashMap<(String, String), Vec<String>> = HashMap::new();
        for app in config.apps {
            apps.entry((app.app_id, app.namespace))
                .or_default()
                .extend(app.addresses);
        }
        Self::new(apps)
    }

    /// A resolver from a YAML (or JSON, which is YAML) [`StaticResolverConfig`] document.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] when the document does not parse, or as
    /// [`StaticResolver::new`].
    pub fn from_yaml(document: &str) -> Result<Self, Error> {
        let config: StaticResolverConfig = serde_yaml_ng::from_str(document).map_err(|e| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!("bad static resolver config: {e}"),
            )
            .with_source(e)
        })?;
        Self::from_config(config)
    }
}

#[async_trait]
impl NameResolver for StaticResolver {
    async fn resolve(&self, app_id: &str, namespace: &str) -> Result<Arc<[Instance]>, Error> {
        self.lookup(app_id, namespace)
    }

    fn resolve_now(&self, app_id: &str, namespace: &str) -> Option<Result<Arc<[Instance]>, Error>> {
        Some(self.lookup(app_id, namespace))
    }
}

impl StaticResolver {
    fn lookup(&self, app_id: &str, namespace: &str) -> Result<Arc<[Instance]>, Error> {
        self.apps
            .get(app_id)
            .and_then(|namespaces| namespaces.get(namespace))
            .filter(|instances| !instances.is_empty())
            .cloned()
            .ok_or_else(|| no_instances(app_id, namespace))
    }
}

/// Checks that `address` is `host:port` with a non-empty host and a numeric port.
fn check_address(address: &str) -> Result<(), Error> {
    let ok = address
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if ok {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("bad instance address `{address}`: expected `host:port`"),
        ))
    }
}
