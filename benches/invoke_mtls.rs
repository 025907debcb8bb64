//! What mutual TLS costs a service call, and what a new connection's handshake costs.
//!
//! # Group `invoke_mtls`
//!
//! Two `backend`/`frontend` pairs as in `invoke_service` (each host on its own 1-worker tokio
//! runtime, a static resolver, loopback gRPC, a 16-byte echo), one plain text, one with
//! workload certificates from a Sentry (TLS 1.3, ECDSA P-256, ring) on every connection.
//! Connections are pooled, so this is the steady-state cost: record encryption and the TLS
//! layer in the I/O path.
//!
//! - `plain_1` / `mtls_1`: one call in flight, time per call;
//! - `plain_64` / `mtls_64`: 64 calls in flight.
//!
//! # Group `handshake`
//!
//! One call on a brand-new connection, per iteration: TCP connect, (TLS handshake with both
//! certificates verified,) HTTP/2 preface, the call. The difference between the two is the
//! handshake's cost per new connection.
//!
//! - `plain_new_connection`, `mtls_new_connection`.

// `criterion_group!` generates an undocumented `pub fn` at the crate root.
#![allow(missing_docs)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::service::{bench_service_calls, ServicePair};
use common::{runtime, timed, IN_FLIGHT};
use criterion::{criterion_group, criterion_main, Criterion};
use tokio::runtime::Runtime;
use weft::security::{SecurityConfig, WorkloadIdentity};
use weft::testing::RawClient;
use weft_placement::sentry::{CertificateAuthority, JoinToken, Sentry};

const TOKEN: &str = "bench-join-token-0123456789";

/// Makes a client with a connection of its own.
type NewClient = Arc<dyn Fn() -> RawClient + Send + Sync>;

fn invoke_mtls(c: &mut Criterion) {
    let sentry_rt = runtime("sentry", 1);
    let (sentry, config) = sentry_rt.block_on(async {
        let ca = CertificateAuthority::generate().expect("a CA");
        let bundle = ca.trust_bundle_pem().to_owned();
        let sentry = Sentry::builder(ca, JoinToken::new(TOKEN).expect("a token"))
            .listen("127.0.0.1:0".parse().expect("an address"))
            .start()
            .await
            .expect("start the sentry");
        let config = SecurityConfig::new(sentry.local_addr().to_string(), bundle, TOKEN);
        (sentry, config)
    });
    let fetch = |rt: &Runtime, app: &str| {
        rt.block_on(WorkloadIdentity::fetch(&config, "default", app))
            .expect("a workload certificate")
    };
    let backend_rt = runtime("backend", 1);
    let frontend_rt = runtime("frontend", 1);
    let tls_backend_rt = runtime("tls-backend", 1);
    let tls_frontend_rt = runtime("tls-frontend", 1);
    let ids = (
        fetch(&tls_backend_rt, "backend"),
        fetch(&tls_frontend_rt, "frontend"),
    );
    let frontend_identity = ids.1.clone();
    let plain = ServicePair::start(&backend_rt, &frontend_rt, None);
    let mtls = ServicePair::start(&tls_backend_rt, &tls_frontend_rt, Some(ids));
    plain.warm_up(&frontend_rt);
    mtls.warm_up(&tls_frontend_rt);

    let mut group = c.benchmark_group("invoke_mtls");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for in_flight in [1, IN_FLIGHT] {
        bench_service_calls(
            &mut group,
            "plain",
            &frontend_rt,
            &plain.frontend.handle(),
            in_flight,
        );
        bench_service_calls(
            &mut group,
            "mtls",
            &tls_frontend_rt,
            &mtls.frontend.handle(),
            in_flight,
        );
    }
    group.finish();

    let mut group = c.benchmark_group("handshake");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    let clients: [(&str, &Runtime, NewClient, String); 2] = [
        (
            "plain_new_connection",
            &frontend_rt,
            Arc::new(RawClient::plain),
            plain.address.clone(),
        ),
        (
            "mtls_new_connection",
            &tls_frontend_rt,
            Arc::new(move || RawClient::tls(&frontend_identity)),
            mtls.address.clone(),
        ),
    ];
    for (name, rt, client, address) in clients {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let (client, address) = (Arc::clone(&client), address.clone());
                timed(rt, iters, 1, move |_| {
                    let (client, address) = (client(), address.clone());
                    async move {
                        client
                            .call(&address, "backend", "default", "echo", "frontend", &[])
                            .await
                            .expect("a call on a new connection")
                            .into_body()
                    }
                })
            });
        });
    }
    group.finish();

    drop((plain, mtls));
    for rt in [backend_rt, frontend_rt, tls_backend_rt, tls_frontend_rt] {
        rt.shutdown_background();
    }
    sentry_rt.block_on(sentry.shutdown());
    sentry_rt.shutdown_background();
}

criterion_group!(benches, invoke_mtls);
criterion_main!(benches);
