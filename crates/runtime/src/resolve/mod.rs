//! Name resolution: turning an app id (and namespace) into the addresses of its instances.
//!
//! Callers reach apps by app id, never by a hard-coded address. A [`NameResolver`] answers "where
//! do the instances of app `x` in namespace `y` run right now?"; the invocation layer balances
//! across the answer. Resolvers:
//!
//! | resolver | source |
//! | --- | --- |
//! | [`StaticResolver`] | a fixed list, built in code or loaded from YAML/JSON |
//! | [`DnsResolver`] | DNS: every A/AAAA record of a name such as `{app}.{namespace}.svc.cluster.local` |
//!
//! Targets use Dapr's `app-id.namespace` form to reach another namespace; see [`split_app_id`].

use std::fmt::Debug;

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind};

#[cfg(feature = "dns")]
mod dns;
mod static_resolver;
#[cfg(test)]
mod tests;

#[cfg(feature = "dns")]
pub use dns::{
    DnsResolver, DnsResolverBuilder, DEFAULT_ATTEMPTS, DEFAULT_MAX_TTL, DEFAULT_TEMPLATE,
    DEFAULT_TIMEOUT,
};
pub use static_resolver::{StaticApp, StaticResolver, StaticResolverConfig};

/// The namespace used when a configuration does not name one (Dapr's default).
pub const DEFAULT_NAMESPACE: &str = "default";

/// One running instance of an app: where to send its calls.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Instance {
    /// The app id the instance serves.
    pub app_id: String,
    /// The namespace the app lives in.
    pub namespace: String,
    /// The instance's address, `host:port` (IPv6 hosts in brackets: `[::1]:50001`).
    pub address: String,
}

/// Finds the instances of an app.
///
/// Implementations answer from their current view and may cache; an answer may change from one
/// call to the next as instances come and go, so callers resolve again rather than keep a list.
#[async_trait]
pub trait NameResolver: Send + Sync + Debug + 'static {
    /// The instances of `app_id` in `namespace`.
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`] when the app has no instances, [`ErrorKind::Unavailable`] when
    /// the source of truth cannot be reached (try again later), [`ErrorKind::InvalidArgument`]
    /// for an app id or namespace the resolver cannot express.
    async fn resolve(&self, app_id: &str, namespace: &str) -> Result<Arc<[Instance]>, Error>;

    /// The answer [`NameResolver::resolve`] would give, when the resolver has it at hand without
    /// waiting (a fixed list, a membership view, a fresh cache entry); `None` sends the caller
    /// to `resolve`. Callers use it to skip the boxed future of `resolve` on every call; the
    /// default always answers `None`.
    fn resolve_now(&self, app_id: &str, namespace: &str) -> Option<Result<Arc<[Instance]>, Error>> {
        let _ = (app_id, namespace);
        None
    }
}

/// `NameResolver` must stay usable as `dyn NameResolver`.
fn _object_safe(_: &dyn NameResolver) {}

/// Splits a call target into `(app_id, namespace)`, Dapr style.
///
/// A target is either `app-id`, which lives in `default_namespace`, or `app-id.namespace`. The
/// **last** dot separates the namespace; app ids and namespaces may not contain dots otherwise,
/// so `a.b.c` is rejected rather than guessed at.
///
/// # Errors
/// [`ErrorKind::InvalidArgument`] when the target, its app id or its namespace is empty (`""`,
/// `".ns"`, `"app."`, or `"app"` with an empty default namespace), or when the app id contains a
/// dot.
///
/// # Examples
/// ```
/// use weft_runtime::resolve::split_app_id;
/// assert_eq!(split_app_id("backend", "default").unwrap(), ("backend", "default"));
/// assert_eq!(split_app_id("backend.prod", "default").unwrap(), ("backend", "prod"));
/// assert!(split_app_id("backend.", "default").is_err());
/// ```
pub fn split_app_id<'a>(
    target: &'a str,
    default_namespace: &'a str,
) -> Result<(&'a str, &'a str), Error> {
    if target.is_empty() {
        return Err(Error::new(ErrorKind::InvalidArgument, "empty app id"));
    }
    let (app, namespace) = match target.rsplit_once('.') {
        Some((app, namespace)) => (app, namespace),
        None => (target, default_namespace),
    };
    if app.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("empty app id in target `{target}`"),
        ));
    }
    if namespace.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("empty namespace in target `{target}`"),
        ));
    }
    if app.contains('.') {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "invalid target `{target}`: expected `app-id` or `app-id.namespace`, \
                 and app ids may not contain dots"
            ),
        ));
    }
    Ok((app, namespace))
}

/// The error every resolver returns for an app without instances.
pub(crate) fn no_instances(app_id: &str, namespace: &str) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!("no instances of app `{app_id}` in namespace `{namespace}`"),
    )
}

/// Checks that an app id and namespace are non-empty.
pub(crate) fn check_names(app_id: &str, namespace: &str) -> Result<(), Error> {
    if app_id.is_empty() {
        return Err(Error::new(ErrorKind::InvalidArgument, "empty app id"));
    }
    if namespace.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("empty namespace for app `{app_id}`"),
        ));
    }
    Ok(())
}
