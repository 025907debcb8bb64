//! The timeout layer, in paused time.

use tokio::time::Instant;
use tower::Layer;

use super::{call, ms, secs, Mock, Req, Step};
use crate::error::ErrorKind;
use crate::resiliency::TimeoutLayer;

#[tokio::test(start_paused = true)]
async fn a_slow_call_fails_at_the_policy_timeout_naming_the_target() {
    let mock = Mock::always(Step::Hang);
    let mut svc = TimeoutLayer::new("app backend", Some(secs(2))).layer(mock.clone());
    let start = Instant::now();
    let err = call(&mut svc, Req::within(secs(30))).await.unwrap_err();
    assert_eq!(start.elapsed(), secs(2));
    assert_eq!(err.kind(), ErrorKind::DeadlineExceeded);
    assert_eq!(
        err.message(),
        "call to app backend timed out after 2s (resiliency timeout)"
    );
}

#[tokio::test(start_paused = true)]
async fn the_request_deadline_wins_when_it_is_earlier() {
    let mock = Mock::always(Step::Hang);
    let mut svc = TimeoutLayer::new("app backend", Some(secs(5))).layer(mock.clone());
    let start = Instant::now();
    let err = call(&mut svc, Req::within(ms(1500))).await.unwrap_err();
    assert_eq!(start.elapsed(), ms(1500));
    assert_eq!(
        err.message(),
        "call to app backend passed its deadline after 1s 500ms"
    );
    assert_eq!(
        mock.log()[0].1.narrowed,
        None,
        "the request's own deadline stands"
    );
}

#[tokio::test(start_paused = true)]
async fn the_request_is_told_the_narrower_deadline() {
    let mock = Mock::always(Step::Reply);
    let mut svc = TimeoutLayer::new("actor cart", Some(secs(1))).layer(mock.clone());
    let start = Instant::now();
    call(&mut svc, Req::within(secs(30))).await.unwrap();
    assert_eq!(mock.log()[0].1.narrowed, Some(start + secs(1)));
}

#[tokio::test(start_paused = true)]
async fn a_call_in_time_passes_through() {
    let mock = Mock::always(Step::Slow(ms(900)));
    let mut svc = TimeoutLayer::new("app backend", Some(secs(1))).layer(mock.clone());
    assert_eq!(call(&mut svc, Req::within(secs(30))).await.unwrap(), 1);
    let mut no_policy = TimeoutLayer::new("app backend", None).layer(mock.clone());
    assert_eq!(call(&mut no_policy, Req::within(secs(1))).await.unwrap(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_call_past_its_deadline_is_not_sent() {
    let mock = Mock::always(Step::Reply);
    let mut svc = TimeoutLayer::new("app backend", Some(secs(1))).layer(mock.clone());
    let req = Req::within(ms(0));
    let err = call(&mut svc, req).await.unwrap_err();
    assert_eq!(mock.calls(), 0);
    assert_eq!(err.kind(), ErrorKind::DeadlineExceeded);
    assert_eq!(
        err.message(),
        "call to app backend not sent: its deadline had already passed"
    );
}
