//! SPIFFE ids of workloads: `spiffe://<trust domain>/ns/<namespace>/<app id>`.

use std::fmt;
use std::str::FromStr;

/// A workload's identity, as carried in the URI SAN of its certificate:
/// `spiffe://<trust domain>/ns/<namespace>/<app id>` (the shape Dapr uses).
///
/// # Examples
/// ```
/// use weft_placement::sentry::SpiffeId;
///
/// let id: SpiffeId = "spiffe://cluster.local/ns/shop/cart".parse().unwrap();
/// assert_eq!(id.trust_domain(), "cluster.local");
/// assert_eq!(id.namespace(), "shop");
/// assert_eq!(id.app_id(), "cart");
/// assert_eq!(id.to_string(), "spiffe://cluster.local/ns/shop/cart");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SpiffeId {
    trust_domain: String,
    namespace: String,
    app_id: String,
}

/// Why a string is not a workload SPIFFE id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpiffeIdError(String);

impl fmt::Display for SpiffeIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SpiffeIdError {}

/// A trust domain, namespace or app id: 1 to 255 bytes of `[A-Za-z0-9._-]` (trust domains are
/// lower case, as SPIFFE requires).
fn check(what: &str, value: &str, lower: bool) -> Result<(), SpiffeIdError> {
    let ok_char = |c: char| {
        c.is_ascii_digit()
            || matches!(c, '.' | '-' | '_')
            || (c.is_ascii_lowercase() || (!lower && c.is_ascii_uppercase()))
    };
    if value.is_empty() || value.len() > 255 || !value.chars().all(ok_char) {
        let shown: String = value.chars().take(64).collect();
        return Err(SpiffeIdError(format!(
            "invalid {what} {shown:?}: must be 1 to 255 characters of {}",
            if lower {
                "a-z, 0-9, `.`, `-`, `_`"
            } else {
                "A-Z, a-z, 0-9, `.`, `-`, `_`"
            }
        )));
    }
    Ok(())
}

impl SpiffeId {
    /// The id of app `app_id` in `namespace` of `trust_domain`.
    ///
    /// # Errors
    /// When a part is empty, longer than 255 bytes, or has characters outside
    /// `[A-Za-z0-9._-]` (trust domain: lower case only).
    pub fn new(
        trust_domain: impl Into<String>,
        namespace: impl Into<String>,
        app_id: impl Into<String>,
    ) -> Result<Self, SpiffeIdError> {
        let id = SpiffeId {
            trust_domain: trust_domain.into(),
            namespace: namespace.into(),
            app_id: app_id.into(),
        };
        check("trust domain", &id.trust_domain, true)?;
        check("namespace", &id.namespace, false)?;
        check("app id", &id.app_id, false)?;
        Ok(id)
    }

    /// The trust domain (`cluster.local`).
    pub fn trust_domain(&self) -> &str {
        &self.trust_domain
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The app id.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }
}

impl fmt::Display for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "spiffe://{}/ns/{}/{}",
            self.trust_domain, self.namespace, self.app_id
        )
    }
}

impl FromStr for SpiffeId {
    type Err = SpiffeIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            let shown: String = s.chars().take(128).collect();
            SpiffeIdError(format!(
                "{shown:?} is not a workload SPIFFE id \
                 (spiffe://<trust domain>/ns/<namespace>/<app id>)"
            ))
        };
        let rest = s.strip_prefix("spiffe://").ok_or_else(bad)?;
        let mut parts = rest.split('/');
        let (Some(td), Some("ns"), Some(ns), Some(app), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(bad());
        };
        SpiffeId::new(td, ns, app)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_malformed_ones_do_not_parse() {
        let id = SpiffeId::new("example.org", "prod", "Cart_1").unwrap();
        assert_eq!(id.to_string().parse::<SpiffeId>().unwrap(), id);
        for bad in [
            "",
            "spiffe://",
            "http://a/ns/b/c",
            "spiffe://a/ns/b",
            "spiffe://a/ns/b/c/d",
            "spiffe://a/xx/b/c",
            "spiffe://A/ns/b/c",
            "spiffe://a/ns//c",
            "spiffe://a/ns/b/c d",
        ] {
            assert!(bad.parse::<SpiffeId>().is_err(), "{bad:?}");
        }
    }
}
