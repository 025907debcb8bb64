//! The retry layer against a scripted service, in paused time.

use std::error::Error as _;
use std::sync::Arc;

use tokio::time::Instant;
use tower::Layer;

use super::{call, ms, secs, Mock, Req, Step};
use crate::error::{Error, ErrorKind};
use crate::resiliency::{RetryLayer, RetryPolicy};

/// A constant 100 ms policy without jitter, allowing `retries` retries.
fn constant(retries: u32) -> RetryLayer {
    RetryLayer::new(Arc::new(
        RetryPolicy::constant(ms(100))
            .max_retries(retries)
            .jitter(0.0),
    ))
}

fn idempotent(retries: u32) -> RetryLayer {
    RetryLayer::new(Arc::new(
        RetryPolicy::constant(ms(100))
            .max_retries(retries)
            .jitter(0.0)
            .idempotent(),
    ))
}

#[tokio::test(start_paused = true)]
async fn unavailable_is_retried_until_it_succeeds() {
    let mock = Mock::failing(2, ErrorKind::Unavailable);
    let mut svc = constant(3).layer(mock.clone());
    let start = Instant::now();
    assert_eq!(call(&mut svc, Req::within(secs(10))).await.unwrap(), 3);
    assert_eq!(mock.calls(), 3);
    assert_eq!(mock.gaps(), [ms(100), ms(100)]);
    assert_eq!(start.elapsed(), ms(200));
}

#[tokio::test(start_paused = true)]
async fn moved_is_retried() {
    let mock = Mock::failing(1, ErrorKind::Moved);
    let mut svc = constant(3).layer(mock.clone());
    assert_eq!(call(&mut svc, Req::within(secs(10))).await.unwrap(), 2);
}

#[tokio::test(start_paused = true)]
async fn unavailable_is_retried_up_to_max_retries_then_the_last_error_is_reported() {
    let mock = Mock::always(Step::Fail(ErrorKind::Unavailable));
    let mut svc = constant(3).layer(mock.clone());
    let err = call(&mut svc, Req::within(secs(10))).await.unwrap_err();
    assert_eq!(mock.calls(), 4, "one call and three retries");
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert_eq!(
        err.message(),
        "call 4 failed; gave up after 4 attempts (retries exhausted)"
    );
    let source = err.source().unwrap().downcast_ref::<Error>().unwrap();
    assert_eq!(source.message(), "call 4 failed");
}

#[tokio::test(start_paused = true)]
async fn errors_that_may_have_run_are_not_retried_by_default() {
    for kind in [
        ErrorKind::Interrupted,
        ErrorKind::DeadlineExceeded,
        ErrorKind::ActorFailed,
        ErrorKind::NotFound,
        ErrorKind::InvalidArgument,
    ] {
        let mock = Mock::failing(1, kind);
        let mut svc = constant(3).layer(mock.clone());
        let err = call(&mut svc, Req::within(secs(10))).await.unwrap_err();
        assert_eq!(mock.calls(), 1, "{kind} was retried");
        assert_eq!(
            (err.kind(), err.message()),
            (kind, "call 1 failed"),
            "unchanged"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn idempotent_policies_also_retry_interrupted_and_deadline_exceeded() {
    for kind in [ErrorKind::Interrupted, ErrorKind::DeadlineExceeded] {
        let mock = Mock::failing(2, kind);
        let mut svc = idempotent(3).layer(mock.clone());
        assert_eq!(
            call(&mut svc, Req::within(secs(10))).await.unwrap(),
            3,
            "{kind}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn application_errors_are_never_retried_and_keep_their_payload() {
    let mock = Mock::always(Step::AppError);
    let mut svc = idempotent(3).layer(mock.clone());
    let err = call(&mut svc, Req::within(secs(10))).await.unwrap_err();
    assert_eq!(mock.calls(), 1);
    assert_eq!(err.kind(), ErrorKind::ActorFailed);
    assert_eq!(err.app_error().map(|b| &b[..]), Some(&b"out of stock"[..]));
}

#[tokio::test(start_paused = true)]
async fn a_non_retriable_error_after_retries_is_returned_unchanged() {
    let mock = Mock::new(|n, _| {
        if n == 1 {
            Step::Fail(ErrorKind::Unavailable)
        } else {
            Step::AppError
        }
    });
    let mut svc = constant(3).layer(mock.clone());
    let err = call(&mut svc, Req::within(secs(10))).await.unwrap_err();
    assert_eq!(mock.calls(), 2);
    assert_eq!(
        (err.kind(), err.message()),
        (ErrorKind::ActorFailed, "call 2: out of stock")
    );
    assert!(err.app_error().is_some());
}

#[tokio::test(start_paused = true)]
async fn retries_stop_at_the_request_deadline() {
    let mock = Mock::always(Step::Fail(ErrorKind::Unavailable));
    let layer = RetryLayer::new(Arc::new(
        RetryPolicy::constant(secs(1)).max_retries(10).jitter(0.0),
    ));
    let mut svc = layer.layer(mock.clone());
    let start = Instant::now();
    let err = call(&mut svc, Req::within(ms(2500))).await.unwrap_err();
    // Calls at 0 s, 1 s and 2 s; a retry at 3 s would start past the 2.5 s deadline.
    assert_eq!(mock.calls(), 3);
    assert_eq!(
        start.elapsed(),
        secs(2),
        "gave up without sleeping past the deadline"
    );
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(
        err.message()
            .ends_with("gave up after 3 attempts (no time left before the deadline for another)"),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn exponential_policies_wait_longer_each_time() {
    let mock = Mock::failing(4, ErrorKind::Unavailable);
    let policy = RetryPolicy::exponential(ms(100), ms(300))
        .multiplier(2.0)
        .max_retries(5)
        .jitter(0.0);
    let mut svc = RetryLayer::new(Arc::new(policy)).layer(mock.clone());
    assert_eq!(call(&mut svc, Req::within(secs(10))).await.unwrap(), 5);
    assert_eq!(mock.gaps(), [ms(100), ms(200), ms(300), ms(300)]);
}

#[tokio::test(start_paused = true)]
async fn jittered_waits_stay_within_bounds() {
    let mock = Mock::failing(5, ErrorKind::Unavailable);
    let policy = RetryPolicy::constant(ms(1000)).max_retries(5).jitter(0.5);
    let mut svc = RetryLayer::new(Arc::new(policy)).layer(mock.clone());
    call(&mut svc, Req::within(secs(60))).await.unwrap();
    for gap in mock.gaps() {
        assert!(gap >= ms(500) && gap <= ms(1000), "{gap:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn no_retries_allowed_returns_the_first_error_untouched() {
    let mock = Mock::always(Step::Fail(ErrorKind::Unavailable));
    let mut svc = constant(0).layer(mock.clone());
    let err = call(&mut svc, Req::within(secs(10))).await.unwrap_err();
    assert_eq!(mock.calls(), 1);
    assert_eq!(err.message(), "call 1 failed");
}

#[tokio::test(start_paused = true)]
async fn every_attempt_sends_the_same_request() {
    let mock = Mock::failing(2, ErrorKind::Unavailable);
    let mut svc = constant(3).layer(mock.clone());
    let req = Req::to("backend/7", secs(10));
    let deadline = req.deadline;
    call(&mut svc, req).await.unwrap();
    for (_, sent) in mock.log() {
        assert_eq!(
            (sent.instance.as_str(), sent.deadline),
            ("backend/7", deadline)
        );
    }
}

#[test]
fn retry_futures_are_send_and_layers_are_shareable() {
    fn send<T: Send>(_: &T) {}
    fn shareable<T: Send + Sync + Clone>() {}
    shareable::<RetryLayer>();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let mut svc = constant(1).layer(Mock::always(Step::Reply));
    let fut = tower::Service::call(&mut svc, Req::within(secs(1)));
    send(&fut);
}

#[test]
fn should_retry_waits_the_backoff_for_retriable_errors_while_retries_are_left() {
    // The former doc example of `should_retry` (crate-private now).
    use crate::resiliency::retry::should_retry;
    let policy = RetryPolicy::constant(ms(100)).max_retries(2).jitter(0.0);
    let unavailable = Error::new(ErrorKind::Unavailable, "connection refused");
    assert_eq!(should_retry(&policy, &unavailable, 1), Some(ms(100)));
    assert_eq!(
        should_retry(&policy, &unavailable, 3),
        None,
        "two retries used"
    );
    let app = Error::new(ErrorKind::ActorFailed, "out of stock");
    assert_eq!(should_retry(&policy, &app, 1), None);
}
