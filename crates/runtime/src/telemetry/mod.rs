//! Telemetry: W3C trace-context propagation, span names, and Prometheus metrics served over HTTP.
//!
//! - [`propagation`]: the `traceparent` header ([`TraceContext`]), injected into and extracted from
//!   the string maps that carry a call's headers or metadata.
//! - [`spans`]: the names of the spans on every cross-host hop, and their field keys.
//! - [`RequestKind`], [`Outcome`], [`CircuitState`], [`ReminderFiring`]: the label values of
//!   the metrics (and the `outcome` of a service call's span).
#![cfg_attr(
    feature = "metrics",
    doc = "- [`metrics`]: request, latency, retry, circuit and activation metrics ([`Metrics`]).",
    doc = "- [`http`]: a small HTTP server for `GET /metrics` ([`serve_metrics`])."
)]
#![cfg_attr(
    not(feature = "metrics"),
    doc = "- The metrics and their `/metrics` server need the `metrics` feature (on by default)."
)]

#[cfg(feature = "metrics")]
pub mod http;
mod labels;
#[cfg(feature = "metrics")]
pub mod metrics;
#[cfg(not(feature = "metrics"))]
mod noop;
pub mod propagation;
pub mod spans;

#[cfg(feature = "metrics")]
pub use http::{serve_metrics, METRICS_CONTENT_TYPE};
pub use labels::{CircuitState, Outcome, ReminderFiring, RequestKind};
#[cfg(feature = "metrics")]
pub use metrics::Metrics;
#[cfg(not(feature = "metrics"))]
pub(crate) use noop::Metrics;
pub use propagation::{extract, inject, TraceContext, TraceparentError};
