//! Prometheus metrics for the invocation fabric and the actor runtime.
//!
//! | series | labels |
//! |---|---|
//! | `weft_requests_total` (counter) | `kind` (`actor`/`service`), `target`, `method`, `outcome` |
//! | `weft_request_duration_seconds` (histogram, 100 µs to 30 s) | `kind`, `target`, `outcome` |
//! | `weft_retries_total` (counter) | `target` |
//! | `weft_circuit_state` (gauge: 0 closed, 1 half-open, 2 open) | `target` |
//! | `weft_active_actors` (gauge) | `actor_type` |
//! | `weft_reminder_firings_total` (counter) | `actor_type`, `result` (`fired`/`duplicate`/`retried`) |
//!
//! Label cardinality is capped: a `method` longer than [`MAX_METHOD_LABEL_LEN`] bytes is
//! recorded as `other`, and `outcome` is one of the fixed [`Outcome`] values.
//!
//! ```
//! use std::time::Duration;
//! use weft_runtime::telemetry::{Metrics, Outcome, RequestKind};
//!
//! let metrics = Metrics::new();
//! metrics.record_request(RequestKind::Service, "backend", "hello", Outcome::Ok, Duration::from_millis(3));
//! assert!(metrics.encode().contains("weft_requests_total{"));
//! ```

use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

pub use super::labels::{CircuitState, Outcome, ReminderFiring, RequestKind};

/// The longest `method` label value kept as is; longer ones are recorded as `other`.
pub const MAX_METHOD_LABEL_LEN: usize = 64;

/// Upper bounds (seconds) of the latency histogram's buckets: 100 µs to 30 s.
pub const DURATION_BUCKETS: [f64; 17] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    kind: &'static str,
    target: String,
    method: String,
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DurationLabels {
    kind: &'static str,
    target: String,
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TargetLabels {
    target: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ActorTypeLabels {
    actor_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReminderLabels {
    actor_type: String,
    result: &'static str,
}

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// The runtime's metrics: a Prometheus registry and the metric families in it.
///
/// Cheap to record into from many tasks; share it behind an `Arc`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<DurationLabels, Histogram, fn() -> Histogram>,
    retries: Family<TargetLabels, Counter>,
    circuit_state: Family<TargetLabels, Gauge>,
    active_actors: Family<ActorTypeLabels, Gauge>,
    reminders: Family<ReminderLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with all of Weft's metric families, empty.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let durations: Family<DurationLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(duration_histogram);
        let retries = Family::<TargetLabels, Counter>::default();
        let circuit_state = Family::<TargetLabels, Gauge>::default();
        let active_actors = Family::<ActorTypeLabels, Gauge>::default();
        let reminders = Family::<ReminderLabels, Counter>::default();
        // Counters get their `_total` suffix from the encoder.
        registry.register(
            "weft_requests",
            "Actor and service calls made, by kind, target, method and outcome",
            requests.clone(),
        );
        registry.register_with_unit(
            "weft_request_duration",
            "Latency of actor and service calls, by kind, target and outcome",
            Unit::Seconds,
            durations.clone(),
        );
        registry.register("weft_retries", "Calls retried, by target", retries.clone());
        registry.register(
            "weft_circuit_state",
            "Circuit breaker state by target: 0 closed, 1 half-open, 2 open",
            circuit_state.clone(),
        );
        registry.register(
            "weft_active_actors",
            "Actor activations on this host, by actor type",
            active_actors.clone(),
        );
        registry.register(
            "weft_reminder_firings",
            "Reminder firings on this host, by actor type and result",
            reminders.clone(),
        );
        Self {
            registry,
            requests,
            durations,
            retries,
            circuit_state,
            active_actors,
            reminders,
        }
    }

    /// Records one finished call: counts it and observes its latency.
    pub fn record_request(
        &self,
        kind: RequestKind,
        target: &str,
        method: &str,
        outcome: Outcome,
        elapsed: Duration,
    ) {
        let method = if method.len() <= MAX_METHOD_LABEL_LEN {
            method
        } else {
            "other"
        };
        self.requests
            .get_or_create(&RequestLabels {
                kind: kind.as_str(),
                target: target.to_owned(),
                method: method.to_owned(),
                outcome: outcome.as_str(),
            })
            .inc();
        self.durations
            .get_or_create(&DurationLabels {
                kind: kind.as_str(),
                target: target.to_owned(),
                outcome: outcome.as_str(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Records one retry of a call to `target`.
    pub fn record_retry(&self, target: &str) {
        self.retries
            .get_or_create(&TargetLabels {
                target: target.to_owned(),
            })
            .inc();
    }

    /// Sets the circuit state of `target`: 0 closed, 1 half-open, 2 open (see [`CircuitState`],
    /// which converts into `u8`).
    pub fn set_circuit_state(&self, target: &str, state: u8) {
        self.circuit_state
            .get_or_create(&TargetLabels {
                target: target.to_owned(),
            })
            .set(i64::from(state));
    }

    /// Sets the number of active actors of `actor_type` on this host.
    pub fn set_active_actors(&self, actor_type: &str, n: u64) {
        self.active_actors
            .get_or_create(&ActorTypeLabels {
                actor_type: actor_type.to_owned(),
            })
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Counts one reminder firing of `actor_type` and what became of it.
    pub fn record_reminder(&self, actor_type: &str, result: ReminderFiring) {
        self.reminders
            .get_or_create(&ReminderLabels {
                actor_type: actor_type.to_owned(),
                result: result.as_str(),
            })
            .inc();
    }

    /// The registry, to register more metrics next to Weft's or to encode it elsewhere.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// All metrics in the OpenMetrics text format (ending in `# EOF`).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(e) = encode(&mut out, &self.registry) {
            // Writing into a String cannot fail; an encoder bug would land here.
            tracing::warn!(error = %e, "failed to encode metrics");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_value(text: &str, prefix: &str) -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    #[test]
    fn encodes_requests_and_latency() {
        let m = Metrics::new();
        for _ in 0..3 {
            m.record_request(
                RequestKind::Service,
                "backend",
                "hello",
                Outcome::Ok,
                Duration::from_millis(2),
            );
        }
        m.record_request(
            RequestKind::Actor,
            "counter",
            "incr",
            Outcome::DeadlineExceeded,
            Duration::from_secs(40),
        );
        let text = m.encode();
        assert_eq!(
            line_value(
                &text,
                r#"weft_requests_total{kind="service",target="backend",method="hello",outcome="ok"}"#
            ),
            Some(3.0),
            "{text}"
        );
        assert_eq!(
            line_value(
                &text,
                r#"weft_requests_total{kind="actor",target="counter",method="incr",outcome="deadline_exceeded"}"#
            ),
            Some(1.0),
            "{text}"
        );
        assert!(
            text.contains("# TYPE weft_request_duration_seconds histogram"),
            "{text}"
        );
        assert!(
            text.contains("# UNIT weft_request_duration_seconds seconds"),
            "{text}"
        );
        assert_eq!(
            line_value(
                &text,
                r#"weft_request_duration_seconds_count{kind="service",target="backend",outcome="ok"}"#
            ),
            Some(3.0),
            "{text}"
        );
        // 2 ms lands in the 2.5 ms bucket, not in the 1 ms one.
        assert_eq!(
            line_value(
                &text,
                r#"weft_request_duration_seconds_bucket{le="0.0025",kind="service",target="backend",outcome="ok"}"#
            ),
            Some(3.0),
            "{text}"
        );
        assert_eq!(
            line_value(
                &text,
                r#"weft_request_duration_seconds_bucket{le="0.001",kind="service",target="backend",outcome="ok"}"#
            ),
            Some(0.0),
            "{text}"
        );
        // 40 s is past the last bucket: only +Inf counts it.
        assert_eq!(
            line_value(
                &text,
                r#"weft_request_duration_seconds_bucket{le="30.0",kind="actor",target="counter",outcome="deadline_exceeded"}"#
            ),
            Some(0.0),
            "{text}"
        );
        assert_eq!(
            line_value(
                &text,
                r#"weft_request_duration_seconds_bucket{le="+Inf",kind="actor",target="counter",outcome="deadline_exceeded"}"#
            ),
            Some(1.0),
            "{text}"
        );
        assert!(text.trim_end().ends_with("# EOF"));
    }

    #[test]
    fn caps_method_label() {
        let m = Metrics::new();
        let long = "m".repeat(MAX_METHOD_LABEL_LEN + 1);
        let exact = "e".repeat(MAX_METHOD_LABEL_LEN);
        m.record_request(
            RequestKind::Service,
            "b",
            &long,
            Outcome::Ok,
            Duration::ZERO,
        );
        m.record_request(
            RequestKind::Service,
            "b",
            &long,
            Outcome::Ok,
            Duration::ZERO,
        );
        m.record_request(
            RequestKind::Service,
            "b",
            &exact,
            Outcome::Ok,
            Duration::ZERO,
        );
        let text = m.encode();
        assert!(!text.contains(&long), "{text}");
        assert_eq!(
            line_value(
                &text,
                r#"weft_requests_total{kind="service",target="b",method="other",outcome="ok"}"#
            ),
            Some(2.0),
            "{text}"
        );
        assert!(text.contains(&format!("method=\"{exact}\"")), "{text}");
    }

    #[test]
    fn retries_circuits_and_actors() {
        let m = Metrics::new();
        m.record_retry("backend");
        m.record_retry("backend");
        m.set_circuit_state("backend", CircuitState::Open.into());
        m.set_circuit_state("other", CircuitState::HalfOpen.into());
        m.set_circuit_state("other", u8::from(CircuitState::Closed));
        m.set_active_actors("counter", 7);
        m.set_active_actors("huge", u64::MAX);
        let text = m.encode();
        assert_eq!(
            line_value(&text, r#"weft_retries_total{target="backend"}"#),
            Some(2.0),
            "{text}"
        );
        assert_eq!(
            line_value(&text, r#"weft_circuit_state{target="backend"}"#),
            Some(2.0),
            "{text}"
        );
        assert_eq!(
            line_value(&text, r#"weft_circuit_state{target="other"}"#),
            Some(0.0),
            "{text}"
        );
        assert_eq!(
            line_value(&text, r#"weft_active_actors{actor_type="counter"}"#),
            Some(7.0),
            "{text}"
        );
        assert!(text.contains(&format!(
            "weft_active_actors{{actor_type=\"huge\"}} {}",
            i64::MAX
        )));
    }
}
