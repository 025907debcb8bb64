//! Tracing: every turn runs inside an `actor.turn` span when a subscriber wants spans (turns
//! skip the span's bookkeeping when none does).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::Subscriber;
use tracing_subscriber::layer::{Context as LayerContext, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;
use weft_runtime::{Actor, ActorRegistration, Call, Context, Error, ErrorKind, Host, MemoryStore};

/// Logs one event per turn, sleeps when asked (so the turn is pending on its first poll), and
/// fails when asked.
struct Chatty;

impl Actor for Chatty {
    async fn handle(&self, _ctx: &Context, call: Call) -> Result<Bytes, Error> {
        if call.method() == "slow" {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tracing::info!(method = call.method(), "in the turn");
        if call.method() == "fail" {
            return Err(Error::new(ErrorKind::ActorFailed, "asked to fail"));
        }
        Ok(call.into_payload())
    }
}

/// What the layer saw: per event, the names of the spans it was in (innermost first), and
/// every `outcome` recorded on an `actor.turn` span.
#[derive(Default)]
struct Seen {
    event_scopes: Vec<Vec<String>>,
    outcomes: Vec<String>,
}

struct Recorder(Arc<Mutex<Seen>>);

struct OutcomeVisitor<'a>(&'a mut Vec<String>);

impl Visit for OutcomeVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "outcome" {
            self.0.push(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "outcome" {
            self.0.push(format!("{value:?}"));
        }
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_new_span(&self, _attrs: &Attributes<'_>, _id: &Id, _ctx: LayerContext<'_, S>) {}

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: LayerContext<'_, S>) {
        if ctx.span(id).is_some_and(|s| s.name() == "actor.turn") {
            values.record(&mut OutcomeVisitor(&mut self.0.lock().unwrap().outcomes));
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: LayerContext<'_, S>) {
        let scope = ctx
            .event_scope(event)
            .map(|scope| scope.map(|s| s.name().to_owned()).collect())
            .unwrap_or_default();
        self.0.lock().unwrap().event_scopes.push(scope);
    }
}

#[tokio::test]
async fn turns_run_inside_an_actor_turn_span_when_a_subscriber_wants_spans() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let subscriber = tracing_subscriber::registry().with(Recorder(Arc::clone(&seen)));
    // The current-thread test runtime runs the activation on this thread, under this default.
    let _default = tracing::subscriber::set_default(subscriber);

    let host = Host::builder()
        .store(MemoryStore::new())
        .register(ActorRegistration::new("chatty", |_id| Chatty))
        .start()
        .unwrap();
    let h = host.handle();
    for method in ["fast", "slow", "fail"] {
        let _ = h.call("chatty", "c1", method, Bytes::new()).await;
    }
    host.shutdown().await.unwrap();

    let seen = seen.lock().unwrap();
    let turn_events: Vec<&Vec<String>> = seen
        .event_scopes
        .iter()
        .filter(|scope| scope.first().is_some_and(|s| s == "actor.turn"))
        .collect();
    assert_eq!(
        turn_events.len(),
        3,
        "each turn's event is inside its actor.turn span (the first poll's and a later one's); \
         saw {:?}",
        seen.event_scopes
    );
    assert_eq!(seen.outcomes, ["ok", "ok", "actor_error"]);
}
