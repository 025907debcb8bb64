//! A resolver over DNS: every A/AAAA record of an app's name is an instance.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use hickory_resolver::config::{
    ConnectionConfig, LookupIpStrategy, NameServerConfig, ResolveHosts, ResolverConfig,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::NetError;
use hickory_resolver::proto::rr::{Name, RecordType};
use hickory_resolver::TokioResolver;

use super::{check_names, no_instances, Instance, NameResolver};
use crate::error::{Error, ErrorKind};

/// The default name template: the bare app id, as Azure Container Apps' internal DNS uses.
pub const DEFAULT_TEMPLATE: &str = "{app}";
/// The default cap on how long an answer is cached, whatever the records' TTL.
pub const DEFAULT_MAX_TTL: Duration = Duration::from_secs(5);
/// The default timeout of one DNS query.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// The default number of query attempts per name server.
pub const DEFAULT_ATTEMPTS: usize = 2;

/// A [`NameResolver`] over DNS.
///
/// An app's name comes from a template (`{app}` by default; `{app}.{namespace}.svc.cluster.local`
/// for Kubernetes services) and resolves to **all** its A and AAAA records, each an [`Instance`]
/// at `ip:port` with the configured port. It queries only the name servers it is given: the hosts
/// file and the system's resolver configuration are not used.
///
/// Answers are cached for the records' TTL, capped at [`DnsResolverBuilder::max_ttl`]
/// ([`DEFAULT_MAX_TTL`] by default), so new instances are picked up without restarts. Failures are
/// not cached.
///
/// Errors: a name that does not exist (NXDOMAIN) or has no address records is
/// [`ErrorKind::NotFound`]; a timeout or an unreachable or failing name server is
/// [`ErrorKind::Unavailable`].
///
/// # Examples
/// ```
/// # #[tokio::main] async fn main() -> Result<(), weft_runtime::Error> {
/// use std::net::{Ipv4Addr, SocketAddr};
/// use weft_runtime::resolve::DnsResolver;
/// let resolver = DnsResolver::builder()
///     .nameserver(SocketAddr::from((Ipv4Addr::new(10, 96, 0, 10), 53)))
///     .template("{app}.{namespace}.svc.cluster.local")
///     .port(50001)
///     .build()?;
/// # drop(resolver); Ok(()) }
/// ```
pub struct DnsResolver {
    resolver: TokioResolver,
    template: String,
    port: u16,
    max_ttl: Duration,
    /// Bounds one whole lookup, all attempts included.
    lookup_timeout: Duration,
    cache: Mutex<HashMap<(String, String), CacheEntry>>,
}

struct CacheEntry {
    instances: Arc<[Instance]>,
    expires: Instant,
}

impl fmt::Debug for DnsResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DnsResolver")
            .field("template", &self.template)
            .field("port", &self.port)
            .field("max_ttl", &self.max_ttl)
            .finish_non_exhaustive()
    }
}

/// Builds a [`DnsResolver`]; see [`DnsResolver::builder`].
#[derive(Debug, Clone)]
pub struct DnsResolverBuilder {
    nameservers: Vec<SocketAddr>,
    template: String,
    port: u16,
    max_ttl: Duration,
    timeout: Duration,
    attempts: usize,
}

impl DnsResolver {
    /// A builder with the defaults: template [`DEFAULT_TEMPLATE`], port 50001, TTL cap
    /// [`DEFAULT_MAX_TTL`], and no name server (add at least one).
    pub fn builder() -> DnsResolverBuilder {
        DnsResolverBuilder {
            nameservers: Vec::new(),
            template: DEFAULT_TEMPLATE.to_owned(),
            port: 50001,
            max_ttl: DEFAULT_MAX_TTL,
            timeout: DEFAULT_TIMEOUT,
            attempts: DEFAULT_ATTEMPTS,
        }
    }

    /// The DNS name queried for `app_id` in `namespace`, fully qualified.
    fn name_for(&self, app_id: &str, namespace: &str) -> Result<Name, Error> {
        let mut host = self
            .template
            .replace("{app}", app_id)
            .replace("{namespace}", namespace);
        if !host.ends_with('.') {
            host.push('.');
        }
        Name::from_ascii(&host).map_err(|e| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "app `{app_id}` in namespace `{namespace}` is not a valid DNS name `{host}`"
                ),
            )
            .with_source(e)
        })
    }

    fn cached(&self, key: &(String, String), now: Instant) -> Option<Arc<[Instance]>> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(key)
            .filter(|e| e.expires > now)
            .map(|e| e.instances.clone())
    }
}

impl DnsResolverBuilder {
    /// Adds a name server to query (UDP, falling back to TCP), e.g. `10.96.0.10:53`.
    pub fn nameserver(mut self, address: SocketAddr) -> Self {
        self.nameservers.push(address);
        self
    }

    /// The name template: `{app}` and `{namespace}` are replaced by the app id and namespace.
    /// Must contain `{app}`.
    pub fn template(mut self, template: impl Into<String>) -> Self {
        self.template = template.into();
        self
    }

    /// The port every instance listens on.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// The longest an answer is cached, whatever its records' TTL.
    pub fn max_ttl(mut self, max_ttl: Duration) -> Self {
        self.max_ttl = max_ttl;
        self
    }

    /// The timeout of one DNS query.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The number of attempts per query (at least 1).
    pub fn attempts(mut self, attempts: usize) -> Self {
        self.attempts = attempts;
        self
    }

    /// Builds the resolver.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] with no name server, a template without `{app}`, a zero
    /// timeout or zero attempts.
    pub fn build(self) -> Result<DnsResolver, Error> {
        let invalid = |msg: &'static str| Err(Error::new(ErrorKind::InvalidArgument, msg));
        if self.nameservers.is_empty() {
            return invalid("DNS resolver: no name server configured");
        }
        if !self.template.contains("{app}") {
            return invalid("DNS resolver: the name template must contain `{app}`");
        }
        if self.timeout.is_zero() || self.attempts == 0 {
            return invalid("DNS resolver: timeout and attempts must be positive");
        }
        let name_servers = self
            .nameservers
            .iter()
            .map(|addr| {
                let connections = [ConnectionConfig::udp(), ConnectionConfig::tcp()]
                    .into_iter()
                    .map(|mut c| {
                        c.port = addr.port();
                        c
                    })
                    .collect();
                NameServerConfig::new(addr.ip(), true, connections)
            })
            .collect();
        let config = ResolverConfig::from_parts(None, vec![], name_servers);
        let mut builder =
            TokioResolver::builder_with_config(config, TokioRuntimeProvider::default());
        let opts = builder.options_mut();
        opts.use_hosts_file = ResolveHosts::Never;
        opts.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
        opts.timeout = self.timeout;
        opts.attempts = self.attempts;
        opts.ndots = 0;
        let resolver = builder.build().map_err(|e| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!("DNS resolver: bad configuration: {e}"),
            )
            .with_source(e)
        })?;
        // Every server, every attempt, plus slack: a bound on one lookup whatever hickory does.
        let servers = u32::try_from(self.nameservers.len()).unwrap_or(u32::MAX);
        let attempts = u32::try_from(self.attempts).unwrap_or(u32::MAX);
        let lookup_timeout = self
            .timeout
            .saturating_mul(servers.saturating_mul(attempts).saturating_add(1));
        Ok(DnsResolver {
            resolver,
            template: self.template,
            port: self.port,
            max_ttl: self.max_ttl,
            lookup_timeout,
            cache: Mutex::new(HashMap::new()),
        })
    }
}

#[async_trait]
impl NameResolver for DnsResolver {
    async fn resolve(&self, app_id: &str, namespace: &str) -> Result<Arc<[Instance]>, Error> {
        check_names(app_id, namespace)?;
        let key = (app_id.to_owned(), namespace.to_owned());
        if let Some(instances) = self.cached(&key, Instant::now()) {
            return Ok(instances);
        }
        let name = self.name_for(app_id, namespace)?;
        // Our cache missed or expired: make hickory's cache (which holds answers for their full
        // TTL, not our cap) ask the server again too.
        self.resolver
            .clear_lookup_cache(name.clone(), RecordType::A);
        self.resolver
            .clear_lookup_cache(name.clone(), RecordType::AAAA);
        let lookup = tokio::time::timeout(self.lookup_timeout, self.resolver.lookup_ip(name))
            .await
            .map_err(|_| {
                Error::new(
                    ErrorKind::Unavailable,
                    format!(
                        "DNS lookup for app `{app_id}` in namespace `{namespace}` timed out \
                         after {:?}",
                        self.lookup_timeout
                    ),
                )
            })?
            .map_err(|e| lookup_error(app_id, namespace, e))?;

        let mut ips: Vec<IpAddr> = Vec::new();
        for ip in lookup.iter() {
            if !ips.contains(&ip) {
                ips.push(ip);
            }
        }
        if ips.is_empty() {
            return Err(no_instances(app_id, namespace));
        }
        let instances: Arc<[Instance]> = ips
            .into_iter()
            .map(|ip| Instance {
                app_id: app_id.to_owned(),
                namespace: namespace.to_owned(),
                address: SocketAddr::new(ip, self.port).to_string(),
            })
            .collect();

        let now = Instant::now();
        let ttl = lookup
            .valid_until()
            .saturating_duration_since(now)
            .min(self.max_ttl);
        if !ttl.is_zero() {
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            cache.retain(|_, e| e.expires > now);
            cache.insert(
                key,
                CacheEntry {
                    instances: instances.clone(),
                    expires: now + ttl,
                },
            );
        }
        Ok(instances)
    }
}

/// Maps a hickory lookup error to ours.
fn lookup_error(app_id: &str, namespace: &str, e: NetError) -> Error {
    if e.is_nx_domain() || e.is_no_records_found() {
        return no_instances(app_id, namespace).with_source(e);
    }
    let what = if matches!(e, NetError::Timeout) {
        "timed out"
    } else {
        "failed"
    };
    Error::new(
        ErrorKind::Unavailable,
        format!("DNS lookup for app `{app_id}` in namespace `{namespace}` {what}: {e}"),
    )
    .with_source(e)
}
