//! Telemetry: W3C trace-context propagation, span names, and Prometheus metrics served over HTTP.
//!
//! - [`propagation`]: the `traceparent` header ([`TraceContext`]), injected into and extracted from
//!   the string maps that carry a call's headers or metadata.
//! - [`spans`]: the names of the spans on every cross-host hop, and their field keys.
//! - [`metrics`]: request, latency, retry, circuit and activation metrics ([`Metrics`]).
//! - [`http`]: a small HTTP server for `GET /metrics` ([`serve_metrics`]).

pub mod http;
pub mod metrics;
pub mod propagation;
pub mod spans;

pub use http::{serve_metrics, METRICS_CONTENT_TYPE};
pub use metrics::{CircuitState, Metrics, Outcome, ReminderFiring, RequestKind};
pub use propagation::{extract, inject, TraceContext, TraceparentError};
