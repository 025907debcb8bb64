//! The cost of a service call through the whole fabric, and of each resiliency layer.
//!
//! # Group `invoke_service`
//!
//! A `backend` app instance (a host with an `echo` method that returns the request body) and a
//! `frontend` host that calls it by app id through a static resolver, each on its own 1-worker
//! tokio runtime, over loopback gRPC. Every call takes the full path: app-id parsing, resolver,
//! round-robin pick, the default retry policy, timeout, a new W3C trace context, the
//! `invoke.remote` span, the gRPC call, the callee's app/method checks and `invoke.serve` span,
//! the handler, and the reply.
//!
//! - `weft_service_call_1` / `weft_service_call_64`: 1 or 64 calls in flight, time per call.
//! - `raw_tonic_echo_1` / `raw_tonic_echo_64` (the baselines): a hand-written tonic unary echo
//!   service on its own 1-worker runtime and a client on another, as in `invoke_remote`.
//!
//! # Group `resiliency_layers`
//!
//! The layers alone, in process, around a service that answers at once (nothing fails): the
//! cost each adds per call when nothing goes wrong.
//!
//! - `bare`: the inner service through `oneshot`;
//! - `timeout`: `TimeoutLayer` (policy timeout 5 s);
//! - `breaker_timeout`: plus `BreakerLayer` (one instance's circuit, closed);
//! - `retry_breaker_timeout`: plus `RetryLayer` (3 retries), the full stack.

// `criterion_group!` generates an undocumented `pub fn` at the crate root.
#![allow(missing_docs)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::echo::EchoBaseline;
use common::service::{bench_service_calls, ServicePair};
use common::{runtime, IN_FLIGHT};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use tower::{service_fn, ServiceBuilder, ServiceExt};
use weft::layers::{BreakerLayer, BreakerRegistry, HasDeadline, RetryLayer, TimeoutLayer};
use weft::resiliency::{BreakerPolicy, RetryPolicy};
use weft::Error;

fn invoke_service(c: &mut Criterion) {
    let backend_rt = runtime("backend", 1);
    let frontend_rt = runtime("frontend", 1);
    let pair = ServicePair::start(&backend_rt, &frontend_rt, None);
    pair.warm_up(&frontend_rt);
    let handle = pair.frontend.handle();

    let baseline = EchoBaseline::start();

    let mut group = c.benchmark_group("invoke_service");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    for in_flight in [1, IN_FLIGHT] {
        bench_service_calls(
            &mut group,
            "weft_service_call",
            &frontend_rt,
            &handle,
            in_flight,
        );
        baseline.bench(&mut group, in_flight);
    }
    group.finish();
    baseline.shutdown();
    frontend_rt.shutdown_background();
    backend_rt.shutdown_background();
}

/// A request for the layer benches: a deadline and an instance key.
#[derive(Debug, Clone)]
struct Req {
    deadline: tokio::time::Instant,
}

impl HasDeadline for Req {
    fn deadline(&self) -> tokio::time::Instant {
        self.deadline
    }

    fn narrow_deadline(&mut self, deadline: tokio::time::Instant) {
        self.deadline = deadline;
    }
}

fn resiliency_layers(c: &mut Criterion) {
    let rt = runtime("layers", 1);
    let inner = service_fn(|_r: Req| async { Ok::<_, Error>(1u32) });
    let breakers = BreakerRegistry::new(Arc::new(BreakerPolicy::trip_after(5)));
    let retry = Arc::new(RetryPolicy::constant(Duration::from_millis(10)).max_retries(3));
    let timeout = Some(Duration::from_secs(5));

    let mut group = c.benchmark_group("resiliency_layers");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    /// Times `iters` calls through `svc` inside a task on `rt`.
    fn run<S>(rt: &tokio::runtime::Runtime, iters: u64, svc: S) -> Duration
    where
        S: tower::Service<Req, Response = u32, Error = Error> + Clone + Send + 'static,
        S::Future: Send,
    {
        rt.block_on(async move {
            tokio::spawn(async move {
                let start = Instant::now();
                for _ in 0..iters {
                    let req = Req {
                        deadline: tokio::time::Instant::now() + Duration::from_secs(10),
                    };
                    black_box(svc.clone().oneshot(req).await.expect("the call"));
                }
                start.elapsed()
            })
            .await
            .expect("the timing task ran")
        })
    }

    group.bench_function("bare", |b| b.iter_custom(|n| run(&rt, n, inner)));
    let timed_svc = ServiceBuilder::new()
        .layer(TimeoutLayer::new("app backend", timeout))
        .service(inner);
    group.bench_function("timeout", |b| {
        b.iter_custom(|n| run(&rt, n, timed_svc.clone()))
    });
    let breaker_svc = ServiceBuilder::new()
        .layer(BreakerLayer::new(breakers.clone(), |_r: &Req| {
            "backend/127.0.0.1:1".to_owned()
        }))
        .layer(TimeoutLayer::new("app backend", timeout))
        .service(inner);
    group.bench_function("breaker_timeout", |b| {
        b.iter_custom(|n| run(&rt, n, breaker_svc.clone()))
    });
    let full = ServiceBuilder::new()
        .layer(RetryLayer::new(retry))
        .layer(BreakerLayer::new(breakers, |_r: &Req| {
            "backend/127.0.0.1:1".to_owned()
        }))
        .layer(TimeoutLayer::new("app backend", timeout))
        .service(inner);
    group.bench_function("retry_breaker_timeout", |b| {
        b.iter_custom(|n| run(&rt, n, full.clone()))
    });
    group.finish();
}

criterion_group!(benches, invoke_service, resiliency_layers);
criterion_main!(benches);
