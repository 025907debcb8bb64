//! Weft: distributed virtual actors and a service-invocation fabric.
pub use weft_runtime::*;
