//! Who is connected: hosts by id, derived only from live streams (nothing is persisted).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::time::{Duration, Instant};

use crate::link::HostLink;
use crate::proto::{HostEntry, Register};
use crate::sentry::SpiffeId;

/// Identifies one stream (one connection of a host), unique for the server's life.
pub(crate) type ConnId = u64;

/// Namespace of hosts that register with an empty one.
pub(crate) const DEFAULT_NAMESPACE: &str = "default";

/// Longest accepted host id, in bytes.
const MAX_HOST_ID_BYTES: usize = 256;

/// What a `Register` may carry: placement's bounds, and who sent it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RegisterRules<'a> {
    pub(crate) config: &'a crate::PlacementConfig,
    /// The SPIFFE id of the stream's verified client certificate (mTLS), if any.
    pub(crate) identity: Option<&'a SpiffeId>,
}

/// A `Register` that passed validation, normalized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Registration {
    pub(crate) host_id: String,
    pub(crate) app_id: String,
    pub(crate) namespace: String,
    pub(crate) address: String,
    pub(crate) actor_types: BTreeSet<String>,
    /// The SPIFFE id it registered with (mTLS); only the same identity may replace its host id.
    pub(crate) identity: Option<String>,
}

/// `value` (a field of a `Register`) for an error message: at most 64 characters.
fn shown(value: &str) -> String {
    let mut short: String = value.chars().take(64).collect();
    if short.len() < value.len() {
        short.push_str("...");
    }
    format!("{short:?}")
}

impl Registration {
    /// Validates `register` against the protocol's rules, placement's bounds and, with mTLS,
    /// the sender's identity: a host registers only under the app id and namespace its
    /// certificate names.
    ///
    /// # Errors
    ///
    /// The reason to send back in `Rejected` (bounded in length: it quotes at most 64
    /// characters of any field).
    pub(crate) fn try_from_register(
        register: Register,
        rules: RegisterRules<'_>,
    ) -> Result<Self, String> {
        let config = rules.config;
        if register.host_id.is_empty() {
            return Err("register.host_id is empty".to_owned());
        }
        let max_host_id = MAX_HOST_ID_BYTES.min(config.max_name_bytes);
        if register.host_id.len() > max_host_id {
            return Err(format!(
                "register.host_id is {} bytes; at most {max_host_id} allowed",
                register.host_id.len()
            ));
        }
        if register.address.is_empty() {
            return Err("register.address is empty".to_owned());
        }
        if register.address.len() > config.max_address_bytes {
            return Err(format!(
                "register.address is {} bytes; at most {} allowed (--max-address-bytes)",
                register.address.len(),
                config.max_address_bytes
            ));
        }
        for (field, value) in [
            ("app_id", &register.app_id),
            ("namespace", &register.namespace),
        ] {
            if value.len() > config.max_name_bytes {
                return Err(format!(
                    "register.{field} is {} bytes; at most {} allowed (--max-name-bytes)",
                    value.len(),
                    config.max_name_bytes
                ));
            }
        }
        if register.actor_types.len() > config.max_actor_types_per_host {
            return Err(format!(
                "register.actor_types has {} types; at most {} per host allowed \
                 (--max-actor-types-per-host)",
                register.actor_types.len(),
                config.max_actor_types_per_host
            ));
        }
        if register.actor_types.iter().any(String::is_empty) {
            return Err("register.actor_types contains an empty name".to_owned());
        }
        if let Some(long) = register
            .actor_types
            .iter()
            .find(|t| t.len() > config.max_name_bytes)
        {
            return Err(format!(
                "register.actor_types has a {}-byte name ({}); at most {} allowed \
                 (--max-name-bytes)",
                long.len(),
                shown(long),
                config.max_name_bytes
            ));
        }
        let namespace = if register.namespace.is_empty() {
            DEFAULT_NAMESPACE.to_owned()
        } else {
            register.namespace
        };
        if let Some(id) = rules.identity {
            if id.app_id() != register.app_id || id.namespace() != namespace {
                return Err(format!(
                    "the client certificate is {id}: it may register app {} in namespace {} \
                     only, not app {} in namespace {}",
                    shown(id.app_id()),
                    shown(id.namespace()),
                    shown(&register.app_id),
                    shown(&namespace)
                ));
            }
        }
        Ok(Registration {
            host_id: register.host_id,
            app_id: register.app_id,
            namespace,
            address: register.address,
            actor_types: register.actor_types.into_iter().collect(),
            identity: rules.identity.map(ToString::to_string),
        })
    }

    /// This host as a table entry.
    pub(crate) fn entry(&self) -> HostEntry {
        HostEntry {
            host_id: self.host_id.clone(),
            address: self.address.clone(),
            app_id: self.app_id.clone(),
        }
    }
}

/// A connected host.
#[derive(Debug)]
pub(crate) struct Member {
    pub(crate) conn: ConnId,
    pub(crate) registration: Registration,
    pub(crate) link: HostLink,
    /// When it registered on this stream, in milliseconds since the Unix epoch.
    pub(crate) registered_at_ms: u64,
    /// When placement last heard anything from it.
    pub(crate) last_seen: Instant,
    /// False until it got its `Snapshot`; only ready hosts take part in rounds.
    pub(crate) ready: bool,
    /// Takes part in rounds already, but its `Snapshot` is still to come (it registered during
    /// the startup grace: it gets it when the first round ends).
    pub(crate) snapshot_due: bool,
    /// When placement last granted it a lease.
    pub(crate) lease_granted: Instant,
}

impl Member {
    pub(crate) fn new(conn: ConnId, registration: Registration, link: HostLink) -> Self {
        let registered_at_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Member {
            conn,
            registration,
            link,
            registered_at_ms,
            last_seen: Instant::now(),
            ready: false,
            snapshot_due: false,
            lease_granted: Instant::now(),
        }
    }

    pub(crate) fn namespace(&self) -> &str {
        &self.registration.namespace
    }
}

/// Connected hosts, by host id and by stream.
#[derive(Debug, Default)]
pub(crate) struct Membership {
    by_host: BTreeMap<String, Member>,
    by_conn: HashMap<ConnId, String>,
}

impl Membership {
    /// Adds `member`, returning the member it replaces (same host id, older stream).
    pub(crate) fn insert(&mut self, member: Member) -> Option<Member> {
        let host_id = member.registration.host_id.clone();
        self.by_conn.insert(member.conn, host_id.clone());
        let replaced = self.by_host.insert(host_id, member);
        if let Some(old) = &replaced {
            self.by_conn.remove(&old.conn);
        }
        replaced
    }

    /// The member registered under `host_id`.
    pub(crate) fn by_host_id(&self, host_id: &str) -> Option<&Member> {
        self.by_host.get(host_id)
    }

    /// Removes the host connected through `conn`; `None` if that stream is not (or no longer)
    /// a member.
    pub(crate) fn remove(&mut self, conn: ConnId) -> Option<Member> {
        let host_id = self.by_conn.remove(&conn)?;
        self.by_host.remove(&host_id)
    }

    pub(crate) fn get(&self, conn: ConnId) -> Option<&Member> {
        self.by_host.get(self.by_conn.get(&conn)?)
    }

    pub(crate) fn get_mut(&mut self, conn: ConnId) -> Option<&mut Member> {
        self.by_host.get_mut(self.by_conn.get(&conn)?)
    }

    /// Every member, sorted by host id.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Member> {
        self.by_host.values()
    }

    /// Members of `namespace`, sorted by host id.
    pub(crate) fn in_namespace<'a>(
        &'a self,
        namespace: &'a str,
    ) -> impl Iterator<Item = &'a Member> + 'a {
        self.by_host
            .values()
            .filter(move |m| m.namespace() == namespace)
    }

    /// Every member, sorted by host id, to change.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Member> {
        self.by_host.values_mut()
    }

    /// Members of `namespace` still waiting for their `Snapshot`.
    pub(crate) fn unready(&self, namespace: &str) -> Vec<ConnId> {
        self.in_namespace(namespace)
            .filter(|m| !m.ready || m.snapshot_due)
            .map(|m| m.conn)
            .collect()
    }

    /// The host set each actor type of `namespace` should have now, hosts sorted by id.
    pub(crate) fn desired_tables(&self, namespace: &str) -> BTreeMap<String, Vec<HostEntry>> {
        let mut tables: BTreeMap<String, Vec<HostEntry>> = BTreeMap::new();
        for member in self.in_namespace(namespace) {
            for actor_type in &member.registration.actor_types {
                let hosts = tables.entry(actor_type.clone()).or_default();
                hosts.push(member.registration.entry());
            }
        }
        tables
    }

    /// Streams silent for longer than `timeout` at `now`.
    pub(crate) fn silent_since(&self, now: Instant, timeout: Duration) -> Vec<ConnId> {
        self.iter()
            .filter(|m| now.saturating_duration_since(m.last_seen) > timeout)
            .map(|m| m.conn)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> RegisterRules<'static> {
        static CONFIG: std::sync::LazyLock<crate::PlacementConfig> =
            std::sync::LazyLock::new(crate::PlacementConfig::default);
        RegisterRules {
            config: &CONFIG,
            identity: None,
        }
    }

    fn register(host_id: &str, address: &str, types: &[&str]) -> Register {
        Register {
            host_id: host_id.into(),
            app_id: "app".into(),
            namespace: String::new(),
            address: address.into(),
            actor_types: types.iter().map(|t| (*t).to_owned()).collect(),
        }
    }

    #[test]
    fn empty_namespace_means_default_and_types_are_deduplicated() {
        let reg = Registration::try_from_register(register("h", "a:1", &["B", "A", "B"]), rules());
        let reg = reg.unwrap();
        assert_eq!(reg.namespace, DEFAULT_NAMESPACE);
        assert_eq!(reg.actor_types.into_iter().collect::<Vec<_>>(), ["A", "B"]);
    }

    #[test]
    fn invalid_registers_name_the_field() {
        let cases = [
            (register("", "a:1", &[]), "host_id is empty"),
            (register(&"x".repeat(257), "a:1", &[]), "at most 256"),
            (register("h", "", &[]), "address is empty"),
            (register("h", "a:1", &["A", ""]), "empty name"),
        ];
        for (register, expected) in cases {
            let err = Registration::try_from_register(register, rules()).unwrap_err();
            assert!(err.contains(expected), "{err}");
        }
    }
}
