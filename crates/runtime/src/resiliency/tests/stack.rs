//! The three layers stacked as the runtime will use them: retry, breaker, timeout.

use tokio::time::Instant;
use tower::ServiceBuilder;

use super::{call, ms, secs, Mock, Req, Step};
use crate::error::ErrorKind;
use crate::resiliency::{
    BreakerLayer, BreakerPolicy, BreakerRegistry, BreakerState, Resiliency, RetryLayer,
    RetryPolicy, Target, TargetPolicy, TimeoutLayer,
};

fn spec(idempotent: bool) -> Resiliency {
    let retry = RetryPolicy::constant(ms(100)).max_retries(3).jitter(0.0);
    let retry = if idempotent {
        retry.idempotent()
    } else {
        retry
    };
    Resiliency::builder()
        .timeout("short", secs(1))
        .retry("retry", retry)
        .circuit_breaker("cb", BreakerPolicy::trip_after(2).open_timeout(secs(30)))
        .app(
            "backend",
            TargetPolicy::default()
                .timeout("short")
                .retry("retry")
                .circuit_breaker("cb"),
        )
        .build()
        .unwrap()
}

/// retry(breaker(timeout(mock))) from the resolved policy of `backend`.
fn stack(
    spec: &Resiliency,
    mock: &Mock,
) -> (
    impl tower::Service<Req, Response = u32, Error = crate::Error>,
    BreakerRegistry,
) {
    let resolved = spec.resolve(Target::App("backend"), "get");
    let (_, cb) = resolved.breaker.unwrap();
    let registry = BreakerRegistry::new(cb);
    let svc = ServiceBuilder::new()
        .layer(RetryLayer::new(resolved.retry.unwrap()))
        .layer(BreakerLayer::new(registry.clone(), |r: &Req| {
            r.instance.clone()
        }))
        .layer(TimeoutLayer::new("app backend", resolved.timeout))
        .service(mock.clone());
    (svc, registry)
}

#[tokio::test(start_paused = true)]
async fn a_hanging_handler_runs_once_and_the_caller_gets_a_deadline_error_on_time() {
    let mock = Mock::always(Step::Hang);
    let (mut svc, _) = stack(&spec(false), &mock);
    let start = Instant::now();
    let err = call(&mut svc, Req::within(secs(10))).await.unwrap_err();
    assert_eq!(start.elapsed(), secs(1));
    assert_eq!(mock.calls(), 1, "a call that may have run is not retried");
    assert_eq!(err.kind(), ErrorKind::DeadlineExceeded);
    assert_eq!(
        err.message(),
        "call to app backend timed out after 1s (resiliency timeout)"
    );
}

#[tokio::test(start_paused = true)]
async fn an_idempotent_method_is_retried_after_a_timeout() {
    let mock = Mock::new(|n, _| if n == 1 { Step::Hang } else { Step::Reply });
    let (mut svc, registry) = stack(&spec(true), &mock);
    let start = Instant::now();
    assert_eq!(call(&mut svc, Req::within(secs(10))).await.unwrap(), 2);
    assert_eq!(start.elapsed(), ms(1100), "a 1 s timeout and a 100 ms wait");
    assert_eq!(registry.state("backend/1"), BreakerState::Closed);
    assert_eq!(
        registry.consecutive_failures("backend/1"),
        0,
        "the success reset it"
    );
}

#[tokio::test(start_paused = true)]
async fn an_open_circuit_fails_retries_fast_with_a_clear_error() {
    let mock = Mock::always(Step::Fail(ErrorKind::Unavailable));
    let (mut svc, registry) = stack(&spec(false), &mock);
    let err = call(&mut svc, Req::within(secs(10))).await.unwrap_err();
    assert_eq!(mock.calls(), 2, "the circuit opened after two failures");
    assert_eq!(registry.state("backend/1"), BreakerState::Open);
    assert_eq!(err.kind(), ErrorKind::CircuitOpen);
    assert!(
        err.message().starts_with(
            "circuit open for backend/1 (2 consecutive failures); retry after 29s 800ms"
        ),
        "{err}"
    );
    assert!(
        err.message()
            .ends_with("gave up after 4 attempts (retries exhausted)"),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_retry_within_the_deadline_recovers_from_unavailable() {
    let mock = Mock::failing(1, ErrorKind::Unavailable);
    let (mut svc, registry) = stack(&spec(false), &mock);
    assert_eq!(call(&mut svc, Req::within(secs(10))).await.unwrap(), 2);
    assert_eq!(registry.consecutive_failures("backend/1"), 0);
}
