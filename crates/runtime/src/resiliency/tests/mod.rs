//! Tests of the resiliency module, one file per concept, with a scripted service and a request
//! that carries a deadline. Time is paused (`start_paused`): sleeps advance the clock, never
//! the wall.

mod breaker;
mod policy;
mod retry;
mod stack;
mod timeout;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;
use tower::Service;

use super::HasDeadline;
use crate::error::{Error, ErrorKind};

/// A call: which instance it goes to and until when the caller waits.
#[derive(Debug, Clone)]
pub(super) struct Req {
    pub(super) instance: String,
    pub(super) deadline: Instant,
    /// The deadline the timeout layer narrowed this attempt to, if it did.
    pub(super) narrowed: Option<Instant>,
}

impl Req {
    /// A call to `backend/1` whose caller waits `within`.
    pub(super) fn within(within: Duration) -> Self {
        Self::to("backend/1", within)
    }

    pub(super) fn to(instance: &str, within: Duration) -> Self {
        Self {
            instance: instance.to_owned(),
            deadline: Instant::now() + within,
            narrowed: None,
        }
    }
}

impl HasDeadline for Req {
    fn deadline(&self) -> Instant {
        self.deadline
    }

    fn narrow_deadline(&mut self, deadline: Instant) {
        self.narrowed = Some(deadline);
    }
}

/// What the scripted service does on one call.
#[derive(Debug, Clone)]
pub(super) enum Step {
    /// Answers with the call's number (1-based).
    Reply,
    /// Fails with an error of this kind.
    Fail(ErrorKind),
    /// Fails with an application error carrying a payload.
    AppError,
    /// Answers after this long.
    Slow(Duration),
    /// Never answers.
    Hang,
}

type Script = dyn Fn(u32, &Req) -> Step + Send + Sync;

/// A hand-written mock service (tower-test style): each call runs the script with the call's
/// number; clones share the call log.
#[derive(Clone)]
pub(super) struct Mock {
    script: Arc<Script>,
    calls: Arc<AtomicU32>,
    log: Arc<Mutex<Vec<(Instant, Req)>>>,
}

impl std::fmt::Debug for Mock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mock")
            .field("calls", &self.calls())
            .finish()
    }
}

impl Mock {
    pub(super) fn new(script: impl Fn(u32, &Req) -> Step + Send + Sync + 'static) -> Self {
        Self {
            script: Arc::new(script),
            calls: Arc::new(AtomicU32::new(0)),
            log: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Fails the first `times` calls with `kind`, then replies.
    pub(super) fn failing(times: u32, kind: ErrorKind) -> Self {
        Self::new(move |n, _| {
            if n <= times {
                Step::Fail(kind)
            } else {
                Step::Reply
            }
        })
    }

    /// Always does `step`.
    pub(super) fn always(step: Step) -> Self {
        Self::new(move |_, _| step.clone())
    }

    pub(super) fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }

    /// When each call arrived, and its request.
    pub(super) fn log(&self) -> Vec<(Instant, Req)> {
        self.log.lock().unwrap().clone()
    }

    /// The gaps between consecutive calls.
    pub(super) fn gaps(&self) -> Vec<Duration> {
        let log = self.log();
        log.windows(2).map(|w| w[1].0 - w[0].0).collect()
    }
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<u32, Error>> + Send>>;

impl Service<Req> for Mock {
    type Response = u32;
    type Error = Error;
    type Future = BoxFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> BoxFuture {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let step = (self.script)(n, &req);
        self.log.lock().unwrap().push((Instant::now(), req));
        Box::pin(async move {
            match step {
                Step::Reply => Ok(n),
                Step::Fail(kind) => Err(Error::new(kind, format!("call {n} failed"))),
                Step::AppError => Err(Error::app(
                    bytes::Bytes::from_static(b"out of stock"),
                    format!("call {n}: out of stock"),
                )),
                Step::Slow(d) => {
                    tokio::time::sleep(d).await;
                    Ok(n)
                }
                Step::Hang => std::future::pending().await,
            }
        })
    }
}

/// Readies `svc` and calls it once.
pub(super) async fn call<S: Service<Req>>(svc: &mut S, req: Req) -> Result<S::Response, S::Error> {
    std::future::poll_fn(|cx| svc.poll_ready(cx)).await?;
    svc.call(req).await
}

pub(super) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub(super) fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}
