//! The response future of [`Breaker`](super::Breaker): the call, then its outcome reported.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use pin_project_lite::pin_project;

use super::registry::Permit;
use crate::error::{Error, ErrorKind};

pin_project! {
    /// The response future of [`Breaker`](super::Breaker).
    pub struct BreakerFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Running { #[pin] future: F, permit: Option<Permit> },
        Refused { error: Option<Error> },
    }
}

impl<F> BreakerFuture<F> {
    pub(super) fn running(future: F, permit: Permit) -> Self {
        Self {
            state: State::Running {
                future,
                permit: Some(permit),
            },
        }
    }

    pub(super) fn refused(error: Error) -> Self {
        Self {
            state: State::Refused { error: Some(error) },
        }
    }
}

impl<F> fmt::Debug for BreakerFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Running { .. } => "running",
            State::Refused { .. } => "refused",
        };
        f.debug_struct("BreakerFuture")
            .field("state", &state)
            .finish()
    }
}

impl<F, T> Future for BreakerFuture<F>
where
    F: Future<Output = Result<T, Error>>,
{
    type Output = Result<T, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Running { future, permit } => {
                let outcome = ready!(future.poll(cx));
                if let Some(permit) = permit.take() {
                    permit.record(&outcome);
                }
                Poll::Ready(outcome)
            }
            StateProj::Refused { error } => Poll::Ready(Err(error.take().unwrap_or_else(|| {
                Error::new(
                    ErrorKind::Internal,
                    "breaker future polled after completion",
                )
            }))),
        }
    }
}
