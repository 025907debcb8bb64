//! Security test harness: an in-memory CA with a running Sentry on loopback, identities
//! fetched from it or forged from the CA directly, and TLS app instances.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use weft::security::{SecurityConfig, SpiffeId, WorkloadIdentity};
use weft_placement::sentry::{CertificateAuthority, JoinToken, Sentry};

pub const TOKEN: &str = "test-join-token-0123456789";
pub const TRUST_DOMAIN: &str = "weft.test";

/// A CA and the Sentry serving it.
pub struct Pki {
    pub ca: Arc<CertificateAuthority>,
    pub bundle_pem: String,
    pub sentry: Option<Sentry>,
    pub address: String,
    pub trust_domain: String,
}

impl Pki {
    /// A fresh CA and a Sentry issuing certificates of `ttl` for `trust_domain`.
    pub async fn start(trust_domain: &str, ttl: Duration) -> Pki {
        let ca = Arc::new(CertificateAuthority::generate().expect("CA"));
        let bundle_pem = ca.trust_bundle_pem().to_owned();
        let sentry = Sentry::builder(Arc::clone(&ca), JoinToken::new(TOKEN).unwrap())
            .trust_domain(trust_domain)
            .ttl(ttl)
            .listen("127.0.0.1:0".parse().unwrap())
            .start()
            .await
            .expect("sentry starts");
        Pki {
            address: sentry.local_addr().to_string(),
            ca,
            bundle_pem,
            sentry: Some(sentry),
            trust_domain: trust_domain.to_owned(),
        }
    }

    pub fn config(&self) -> SecurityConfig {
        SecurityConfig::new(&self.address, &self.bundle_pem, TOKEN).trust_domain(&self.trust_domain)
    }

    /// An identity for `app_id` in `default`, from the Sentry.
    pub async fn identity(&self, app_id: &str) -> WorkloadIdentity {
        self.identity_in("default", app_id).await
    }

    /// An identity for `app_id` in `namespace`, from the Sentry.
    pub async fn identity_in(&self, namespace: &str, app_id: &str) -> WorkloadIdentity {
        WorkloadIdentity::fetch(&self.config(), namespace, app_id)
            .await
            .unwrap_or_else(|e| panic!("identity for {app_id}: {e}"))
    }

    /// A certificate for `id` signed by this CA directly, valid between the two times, used
    /// by a client of trust domain `client_trust_domain` that trusts `bundle_pem`.
    pub fn forged(
        &self,
        id: &str,
        not_before: SystemTime,
        not_after: SystemTime,
        bundle_pem: &str,
        client_trust_domain: &str,
    ) -> WorkloadIdentity {
        let id: SpiffeId = id.parse().unwrap();
        let (cert, key) = self
            .ca
            .issue_key_and_cert_between(&id, not_before, not_after)
            .unwrap();
        WorkloadIdentity::from_pem(&cert, &key, bundle_pem, client_trust_domain).unwrap()
    }
}

/// Counts calls per method.
#[derive(Debug, Default)]
pub struct Counter(std::sync::Mutex<std::collections::HashMap<String, usize>>);

impl Counter {
    pub fn count(&self, method: &str) -> usize {
        self.0.lock().unwrap().get(method).copied().unwrap_or(0)
    }

    pub fn total(&self) -> usize {
        self.0.lock().unwrap().values().sum()
    }

    fn record(&self, method: &str) {
        *self.0.lock().unwrap().entry(method.to_owned()).or_default() += 1;
    }
}

/// The methods of the secure `backend`: `whoami` answers
/// `<caller()>|<caller_app_id()>|<x-caller-app-id header>`; `api/items`, `api/items/42`,
/// `admin/reset` answer "ok". Every call is counted.
pub fn backend(builder: weft::HostBuilder, counter: Arc<Counter>) -> weft::HostBuilder {
    let c = Arc::clone(&counter);
    let mut builder = builder
        .app_id("backend")
        .method("whoami", move |r: weft::ServiceRequest| {
            c.record("whoami");
            let answer = format!(
                "{}|{}|{}",
                r.caller().map(ToString::to_string).unwrap_or_default(),
                r.caller_app_id().unwrap_or_default(),
                r.header("x-caller-app-id").unwrap_or_default()
            );
            async move { Ok::<_, weft::Error>(weft::ServiceResponse::ok(answer)) }
        });
    for method in ["api/items", "api/items/42", "admin/reset"] {
        let c = Arc::clone(&counter);
        builder = builder.method(method, move |_r| {
            c.record(method);
            async { Ok::<_, weft::Error>(weft::ServiceResponse::ok("ok")) }
        });
    }
    builder
}

/// The secure `backend` (see [`backend`]) with its own certificate and the access-control
/// `policy` (Dapr's YAML), listening on a free loopback port. Returns the host and its address.
pub async fn guarded_backend(
    pki: &Pki,
    counter: Arc<Counter>,
    policy: &str,
) -> (weft::Host, String) {
    let server = backend(weft::Host::builder(), counter)
        .security(pki.identity("backend").await)
        .access_control(weft::security::AccessControl::from_yaml(policy).expect("policy parses"))
        .listen("127.0.0.1:0".parse().unwrap())
        .start()
        .expect("backend starts");
    let address = server.handle().address().unwrap().to_owned();
    (server, address)
}

/// A frontend-like caller host of app `app_id` that finds `backend` at `address`.
pub fn caller(app_id: &str, identity: Option<WorkloadIdentity>, address: &str) -> weft::Host {
    let resolver =
        weft::resolve::StaticResolver::from_pairs([(("backend", "default"), address.to_owned())])
            .unwrap();
    let mut builder = weft::Host::builder().app_id(app_id).resolver(resolver);
    if let Some(identity) = identity {
        builder = builder.security(identity);
    }
    builder.start().expect("caller starts")
}
