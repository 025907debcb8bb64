//! The response future of [`Timeout`](super::Timeout): the call raced against a sleep.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

use super::error::{elapsed, Limit};
use crate::error::Error;

pin_project! {
    /// The response future of [`Timeout`](super::Timeout).
    pub struct TimeoutFuture<F> {
        #[pin]
        state: State<F>,
        target: Arc<str>,
        limit: Limit,
        started: Instant,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Running { #[pin] future: F, #[pin] sleep: Sleep },
        Expired,
    }
}

impl<F> TimeoutFuture<F> {
    pub(super) fn running(
        future: F,
        deadline: Instant,
        target: Arc<str>,
        limit: Limit,
        started: Instant,
    ) -> Self {
        Self {
            state: State::Running {
                future,
                sleep: tokio::time::sleep_until(deadline),
            },
            target,
            limit,
            started,
        }
    }

    pub(super) fn expired(target: Arc<str>, limit: Limit) -> Self {
        Self {
            state: State::Expired,
            target,
            limit,
            started: Instant::now(),
        }
    }
}

impl<F> fmt::Debug for TimeoutFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeoutFuture")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl<F, T> Future for TimeoutFuture<F>
where
    F: Future<Output = Result<T, Error>>,
{
    type Output = Result<T, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match this.state.project() {
            StateProj::Running { future, sleep } => {
                if let Poll::Ready(outcome) = future.poll(cx) {
                    return Poll::Ready(outcome);
                }
                if sleep.poll(cx).is_pending() {
                    return Poll::Pending;
                }
                let took = this.started.elapsed();
                Poll::Ready(Err(elapsed(this.target, *this.limit, took)))
            }
            StateProj::Expired => {
                Poll::Ready(Err(elapsed(this.target, *this.limit, Duration::ZERO)))
            }
        }
    }
}
