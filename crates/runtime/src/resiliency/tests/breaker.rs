//! The circuit breaker state machine and layer, in paused time.

use std::sync::Arc;

use tokio::time::advance;
use tower::{Layer, Service};

use super::{call, secs, Mock, Req, Step};
use crate::error::{Error, ErrorKind};
use crate::layers::{Breaker, BreakerLayer, BreakerRegistry, BreakerState};
use crate::resiliency::BreakerPolicy;

const KEY: &str = "backend/1";

fn registry(trip: u32) -> BreakerRegistry {
    BreakerRegistry::new(Arc::new(
        BreakerPolicy::trip_after(trip).open_timeout(secs(10)),
    ))
}

fn breaker(reg: &BreakerRegistry, mock: &Mock) -> Breaker<Mock, fn(&Req) -> String> {
    let key: fn(&Req) -> String = |r| r.instance.clone();
    BreakerLayer::new(reg.clone(), key).layer(mock.clone())
}

fn fail(reg: &BreakerRegistry, key: &str, kind: ErrorKind) {
    let permit = reg.try_acquire(key).unwrap();
    permit.record::<()>(&Err(Error::new(kind, "boom")));
}

fn succeed(reg: &BreakerRegistry, key: &str) {
    reg.try_acquire(key).unwrap().record(&Ok(()));
}

#[tokio::test(start_paused = true)]
async fn trips_after_n_consecutive_failures_and_fails_fast_while_open() {
    let reg = registry(3);
    let mock = Mock::always(Step::Fail(ErrorKind::Unavailable));
    let mut svc = breaker(&reg, &mock);
    for n in 1..=3 {
        assert_eq!(reg.state(KEY), BreakerState::Closed, "before failure {n}");
        call(&mut svc, Req::within(secs(1))).await.unwrap_err();
    }
    assert_eq!(reg.state(KEY), BreakerState::Open);
    assert_eq!(reg.consecutive_failures(KEY), 3);

    advance(secs(4)).await;
    let err = call(&mut svc, Req::within(secs(1))).await.unwrap_err();
    assert_eq!(mock.calls(), 3, "an open circuit does not call the service");
    assert_eq!(err.kind(), ErrorKind::CircuitOpen);
    assert_eq!(
        err.message(),
        "circuit open for backend/1 (3 consecutive failures); retry after 6s"
    );
}

#[tokio::test(start_paused = true)]
async fn half_opens_after_the_open_timeout_and_lets_one_probe_through() {
    let reg = registry(2);
    fail(&reg, KEY, ErrorKind::Unavailable);
    fail(&reg, KEY, ErrorKind::DeadlineExceeded);
    assert_eq!(reg.state(KEY), BreakerState::Open);
    advance(secs(10)).await;
    assert_eq!(reg.state(KEY), BreakerState::HalfOpen);

    let probe = reg.try_acquire(KEY).unwrap();
    assert!(probe.is_probe());
    let second = reg.try_acquire(KEY).unwrap_err();
    assert_eq!(second.kind(), ErrorKind::CircuitOpen);
    assert!(
        second
            .message()
            .contains("half-open with 1 probe in flight"),
        "{second}"
    );
    drop(probe);
}

#[tokio::test(start_paused = true)]
async fn closes_when_the_probe_succeeds() {
    let reg = registry(2);
    let mock = Mock::failing(2, ErrorKind::Interrupted);
    let mut svc = breaker(&reg, &mock);
    for _ in 0..2 {
        call(&mut svc, Req::within(secs(1))).await.unwrap_err();
    }
    assert_eq!(reg.state(KEY), BreakerState::Open);
    advance(secs(10)).await;
    assert_eq!(
        call(&mut svc, Req::within(secs(1))).await.unwrap(),
        3,
        "the probe"
    );
    assert_eq!(reg.state(KEY), BreakerState::Closed);
    assert!(
        reg.states().is_empty(),
        "a recovered instance leaves no entry"
    );
    assert_eq!(call(&mut svc, Req::within(secs(1))).await.unwrap(), 4);
}

#[tokio::test(start_paused = true)]
async fn reopens_when_the_probe_fails() {
    let reg = registry(2);
    let mock = Mock::always(Step::Fail(ErrorKind::Unavailable));
    let mut svc = breaker(&reg, &mock);
    for _ in 0..2 {
        call(&mut svc, Req::within(secs(1))).await.unwrap_err();
    }
    advance(secs(10)).await;
    let err = call(&mut svc, Req::within(secs(1))).await.unwrap_err();
    assert_eq!(
        err.message(),
        "call 3 failed",
        "the probe reached the service"
    );
    assert_eq!(reg.state(KEY), BreakerState::Open);
    let err = call(&mut svc, Req::within(secs(1))).await.unwrap_err();
    assert_eq!(
        err.message(),
        "circuit open for backend/1 (3 consecutive failures); retry after 10s"
    );
    assert_eq!(mock.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn application_errors_do_not_trip_it() {
    let reg = registry(2);
    let mock = Mock::new(|n, _| match n % 3 {
        0 => Step::AppError,
        1 => Step::Fail(ErrorKind::NotFound),
        _ => Step::Fail(ErrorKind::InvalidArgument),
    });
    let mut svc = breaker(&reg, &mock);
    for _ in 0..10 {
        call(&mut svc, Req::within(secs(1))).await.unwrap_err();
    }
    assert_eq!(reg.state(KEY), BreakerState::Closed);
    assert_eq!(mock.calls(), 10);
}

#[tokio::test(start_paused = true)]
async fn an_answer_resets_the_consecutive_count() {
    let reg = registry(3);
    fail(&reg, KEY, ErrorKind::Unavailable);
    fail(&reg, KEY, ErrorKind::Unavailable);
    reg.try_acquire(KEY)
        .unwrap()
        .record::<()>(&Err(Error::new(ErrorKind::ActorFailed, "no")));
    assert_eq!(reg.consecutive_failures(KEY), 0);
    fail(&reg, KEY, ErrorKind::Unavailable);
    fail(&reg, KEY, ErrorKind::Unavailable);
    assert_eq!(reg.state(KEY), BreakerState::Closed);
    succeed(&reg, KEY);
    assert_eq!(reg.consecutive_failures(KEY), 0);
}

#[tokio::test(start_paused = true)]
async fn circuits_are_per_instance() {
    let reg = registry(1);
    let mock = Mock::new(|_, req| {
        if req.instance == "backend/1" {
            Step::Fail(ErrorKind::Unavailable)
        } else {
            Step::Reply
        }
    });
    let mut svc = breaker(&reg, &mock);
    call(&mut svc, Req::to("backend/1", secs(1)))
        .await
        .unwrap_err();
    assert_eq!(reg.state("backend/1"), BreakerState::Open);
    assert_eq!(reg.state("backend/2"), BreakerState::Closed);
    call(&mut svc, Req::to("backend/2", secs(1))).await.unwrap();
    assert_eq!(reg.states(), [("backend/1".to_owned(), BreakerState::Open)]);
}

#[tokio::test(start_paused = true)]
async fn the_interval_forgets_old_failures() {
    let reg = BreakerRegistry::new(Arc::new(BreakerPolicy::trip_after(3).interval(secs(60))));
    fail(&reg, KEY, ErrorKind::Unavailable);
    fail(&reg, KEY, ErrorKind::Unavailable);
    advance(secs(61)).await;
    fail(&reg, KEY, ErrorKind::Unavailable);
    assert_eq!(reg.consecutive_failures(KEY), 1);
    assert_eq!(reg.state(KEY), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn with_several_probes_all_must_succeed_to_close() {
    let reg = BreakerRegistry::new(Arc::new(
        BreakerPolicy::trip_after(1)
            .open_timeout(secs(1))
            .max_requests(2),
    ));
    fail(&reg, KEY, ErrorKind::Unavailable);
    advance(secs(1)).await;
    let a = reg.try_acquire(KEY).unwrap();
    let b = reg.try_acquire(KEY).unwrap();
    assert!(reg.try_acquire(KEY).is_err(), "only two probes");
    a.record(&Ok(()));
    assert_eq!(reg.state(KEY), BreakerState::HalfOpen);
    b.record(&Ok(()));
    assert_eq!(reg.state(KEY), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_probe_frees_its_slot() {
    let reg = registry(1);
    let mut svc = breaker(&reg, &Mock::always(Step::Hang));
    fail(&reg, KEY, ErrorKind::Unavailable);
    advance(secs(10)).await;
    std::future::poll_fn(|cx| svc.poll_ready(cx)).await.unwrap();
    let probe = svc.call(Req::within(secs(1)));
    assert!(reg.try_acquire(KEY).is_err(), "the probe is in flight");
    drop(probe);
    assert!(reg.try_acquire(KEY).unwrap().is_probe());
}

#[tokio::test(start_paused = true)]
async fn results_from_before_the_trip_are_ignored() {
    let reg = registry(1);
    let late = reg.try_acquire(KEY).unwrap();
    fail(&reg, KEY, ErrorKind::Unavailable);
    advance(secs(10)).await;
    let probe = reg.try_acquire(KEY).unwrap();
    late.record(&Ok(()));
    assert_eq!(
        reg.state(KEY),
        BreakerState::HalfOpen,
        "a stale success does not close it"
    );
    probe.record(&Ok(()));
    assert_eq!(reg.state(KEY), BreakerState::Closed);
}

#[test]
fn breaker_state_names_are_metric_labels() {
    assert_eq!(BreakerState::HalfOpen.to_string(), "half_open");
    assert_eq!(BreakerState::Open.as_str(), "open");
}

#[tokio::test(start_paused = true)]
async fn a_registry_trips_each_instance_on_its_own() {
    // The former doc example of `BreakerRegistry` (permits are crate-private now).
    let reg = registry(2);
    for _ in 0..2 {
        fail(&reg, "backend/1", ErrorKind::Unavailable);
    }
    assert_eq!(reg.state("backend/1"), BreakerState::Open);
    assert_eq!(
        reg.try_acquire("backend/1").unwrap_err().kind(),
        ErrorKind::CircuitOpen
    );
    assert_eq!(reg.state("backend/2"), BreakerState::Closed);
}
