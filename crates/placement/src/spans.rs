//! Span names, one per hop: a host's placement stream and a dissemination round.

/// One host's `Connect` stream, from accept to close.
pub(crate) const STREAM: &str = "placement.stream";

/// One dissemination round, from LOCK to the end of UNLOCK (or its abandonment).
pub(crate) const ROUND: &str = "placement.round";
