//! Actor calls through the same resiliency layers as service calls: placement routing is the
//! actor's resolver, so the stack is retry → breaker (per actor, Dapr's default `id` scope) →
//! timeout → route.
//!
//! # Why a separate, policed path
//!
//! Most hosts configure no actor policies and keep no metrics; their actor calls take the direct
//! path and pay nothing for this one (a call to an active local actor costs a few hundred
//! nanoseconds, and building a tower stack per call would be a large part of that). Hosts that
//! do configure them get every actor call counted, timed and governed.

use std::sync::Arc;

use bytes::Bytes;
use tokio::time::Instant;
use tower::util::ServiceExt;
use tower::ServiceBuilder;

use super::request::Request;
use super::router::Router;
use crate::actor::deadline::Deadline;
use crate::error::{Error, ErrorKind};
use crate::resiliency::{
    BreakerLayer, BreakerRegistry, HasDeadline, RetryLayer, Target, TimeoutLayer,
};
use crate::telemetry::{Outcome, RequestKind};

/// One attempt of an actor call, with its breaker key.
#[derive(Debug, Clone)]
struct ActorAttempt {
    request: Request,
    key: Arc<str>,
}

impl HasDeadline for ActorAttempt {
    fn deadline(&self) -> Instant {
        // Fixed by `send_policed` before the first attempt.
        self.request.deadline.instant()
    }

    fn narrow_deadline(&mut self, deadline: Instant) {
        self.request.deadline = Deadline::At(deadline);
    }
}

/// Whether `spec` has policies that apply to actor calls.
pub(crate) fn has_actor_policies(spec: &crate::resiliency::Resiliency) -> bool {
    // A type no target names resolves to the default policies only.
    !spec.targets.actors.is_empty()
        || spec.resolve(Target::Actor(""), "") != crate::resiliency::ResolvedPolicy::default()
}

impl Router {
    /// An actor call under the host's actor policies, counted in its metrics.
    pub(super) async fn send_policed(
        &self,
        actor_type: &str,
        id: &str,
        mut request: Request,
    ) -> Result<Bytes, Error> {
        let started = Instant::now();
        // Retries and timeouts need one instant, not a timeout that restarts at each look.
        request.deadline = Deadline::At(request.deadline.instant());
        let method = request.method.clone();
        let fabric = Arc::clone(&self.fabric);
        let result = if fabric.actor_policies {
            let policy = fabric
                .resiliency
                .resolve(Target::Actor(actor_type), &method);
            let registry = policy.breaker.as_ref().map(|(name, p)| {
                fabric
                    .breakers
                    .entry(format!("actor:{name}"))
                    .or_insert_with(|| BreakerRegistry::new(Arc::clone(p)))
                    .clone()
            });
            let router = self.clone();
            let (ty, actor) = (Arc::<str>::from(actor_type), Arc::<str>::from(id));
            let route = tower::service_fn(move |attempt: ActorAttempt| {
                let (router, ty, actor) = (router.clone(), Arc::clone(&ty), Arc::clone(&actor));
                async move { router.dispatch(&ty, &actor, attempt.request)?.await }
            });
            let stack = ServiceBuilder::new()
                .option_layer(policy.retry.map(RetryLayer::new))
                .option_layer(
                    registry.map(|r| BreakerLayer::new(r, |a: &ActorAttempt| a.key.to_string())),
                )
                .layer(TimeoutLayer::new(
                    format!("actor {actor_type}"),
                    policy.timeout,
                ))
                .service(route);
            let attempt = ActorAttempt {
                request,
                key: Arc::from(format!("{actor_type}/{id}")),
            };
            stack.oneshot(attempt).await
        } else {
            self.dispatch(actor_type, id, request)?.await
        };
        if let Some(metrics) = &fabric.metrics {
            metrics.record_request(
                RequestKind::Actor,
                actor_type,
                &method,
                outcome(&result),
                started.elapsed(),
            );
        }
        result
    }
}

fn outcome(result: &Result<Bytes, Error>) -> Outcome {
    match result {
        Ok(_) => Outcome::Ok,
        Err(e) => match e.kind() {
            ErrorKind::DeadlineExceeded => Outcome::DeadlineExceeded,
            ErrorKind::CircuitOpen => Outcome::CircuitOpen,
            ErrorKind::Unavailable
            | ErrorKind::Moved
            | ErrorKind::ShuttingDown
            | ErrorKind::Interrupted => Outcome::Unavailable,
            ErrorKind::NotFound | ErrorKind::InvalidArgument | ErrorKind::Reentrancy => {
                Outcome::InvalidRequest
            }
            ErrorKind::PermissionDenied => Outcome::PermissionDenied,
            ErrorKind::ActorFailed | ErrorKind::AppError => Outcome::AppError,
            _ => Outcome::Error,
        },
    }
}
