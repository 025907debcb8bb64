//! The response future of [`Retry`](super::Retry): call, wait, ready, call again.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};
use tower::Service;

use super::error::{gave_up, GiveUp};
use crate::error::Error;
use crate::resiliency::deadline::HasDeadline;
use crate::resiliency::policy::RetryPolicy;

pin_project! {
    /// The response future of [`Retry`](super::Retry).
    pub struct RetryFuture<S, Req>
    where
        S: Service<Req>,
    {
        service: S,
        request: Req,
        policy: Arc<RetryPolicy>,
        attempt: u32,
        #[pin]
        state: State<S::Future>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        // An attempt is running.
        Called { #[pin] future: F },
        // Waiting out the backoff before the next attempt.
        Sleeping { #[pin] sleep: Sleep },
        // Waiting for the service to be ready for the next attempt.
        Readying,
    }
}

impl<S: Service<Req>, Req> RetryFuture<S, Req> {
    pub(super) fn new(
        future: S::Future,
        service: S,
        request: Req,
        policy: Arc<RetryPolicy>,
    ) -> Self {
        record_attempt(1);
        Self {
            service,
            request,
            policy,
            attempt: 1,
            state: State::Called { future },
        }
    }
}

impl<S: Service<Req>, Req> fmt::Debug for RetryFuture<S, Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryFuture")
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

enum Decision {
    Retry(Duration),
    GiveUp(GiveUp),
    Return,
}

impl<S, Req> Future for RetryFuture<S, Req>
where
    S: Service<Req, Error = Error>,
    Req: Clone + HasDeadline,
{
    type Output = Result<S::Response, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Called { future } => {
                    let error = match ready!(future.poll(cx)) {
                        Ok(response) => return Poll::Ready(Ok(response)),
                        Err(error) => error,
                    };
                    let attempt = *this.attempt;
                    match decide(this.policy, &error, attempt, this.request.deadline()) {
                        Decision::Retry(wait) => {
                            tracing::debug!(attempt, kind = %error.kind(), ?wait, "retrying");
                            let sleep = tokio::time::sleep(wait);
                            this.state.set(State::Sleeping { sleep });
                        }
                        Decision::GiveUp(why) => {
                            tracing::debug!(attempt, kind = %error.kind(), ?why, "not retrying");
                            // A first attempt under a policy allowing no retries: nothing to add.
                            let untouched = attempt == 1 && why == GiveUp::Exhausted;
                            let error = if untouched {
                                error
                            } else {
                                gave_up(error, attempt, why)
                            };
                            return Poll::Ready(Err(error));
                        }
                        Decision::Return => return Poll::Ready(Err(error)),
                    }
                }
                StateProj::Sleeping { sleep } => {
                    ready!(sleep.poll(cx));
                    this.state.set(State::Readying);
                }
                StateProj::Readying => {
                    ready!(this.service.poll_ready(cx))?;
                    *this.attempt += 1;
                    record_attempt(*this.attempt);
                    let future = this.service.call(this.request.clone());
                    this.state.set(State::Called { future });
                }
            }
        }
    }
}

fn decide(policy: &RetryPolicy, error: &Error, attempt: u32, deadline: Instant) -> Decision {
    if !policy.matching.is_retriable(error.kind()) {
        return Decision::Return;
    }
    match super::should_retry(policy, error, attempt) {
        None => Decision::GiveUp(GiveUp::Exhausted),
        Some(wait) => match Instant::now().checked_add(wait) {
            Some(start) if start < deadline => Decision::Retry(wait),
            _ => Decision::GiveUp(GiveUp::Deadline),
        },
    }
}

/// Records the attempt number on the current span (a no-op if it has no `attempt` field).
fn record_attempt(attempt: u32) {
    tracing::Span::current().record("attempt", attempt);
}
