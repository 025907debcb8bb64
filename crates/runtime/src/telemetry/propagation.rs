//! W3C Trace Context (level 1) propagation: the `traceparent` header.
//!
//! A [`TraceContext`] is parsed from and written to `traceparent`
//! (`00-<trace-id>-<parent-id>-<flags>`); [`inject`] and [`extract`] move it in and out of the
//! string maps that carry a call's headers or metadata. `tracestate` is opaque to Weft: it is
//! passed through untouched by [`extract_with_state`] and [`inject_with_state`].
//!
//! ```
//! use std::collections::HashMap;
//! use weft_runtime::telemetry::{extract, inject, TraceContext};
//!
//! let root = TraceContext::new_root();
//! let mut headers = HashMap::new();
//! inject(&root.child(), &mut headers);
//! let seen = extract(&headers).ok_or("no traceparent")?;
//! assert_eq!(seen.trace_id(), root.trace_id());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;
use std::fmt;

/// The header (and metadata key) that carries the trace context.
pub const TRACEPARENT: &str = "traceparent";
/// The header (and metadata key) that carries vendor-specific trace state.
pub const TRACESTATE: &str = "tracestate";

/// The `sampled` bit of the trace flags.
pub const FLAG_SAMPLED: u8 = 0x01;

/// The longest `tracestate` passed through; longer values are dropped (the spec lets a vendor
/// drop a `tracestate` it cannot propagate whole, and asks for at least 512 characters).
const MAX_TRACESTATE_LEN: usize = 512;

/// Length of a version-00 `traceparent`: `2 + 1 + 32 + 1 + 16 + 1 + 2`.
const TRACEPARENT_LEN: usize = 55;

/// Why a `traceparent` value was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TraceparentError {
    /// The value has the wrong length, or its fields are not separated by `-` where expected.
    #[error("traceparent has the wrong length or layout")]
    Layout,
    /// A field holds something other than lowercase hex digits.
    #[error("traceparent holds a character that is not a lowercase hex digit")]
    NotHex,
    /// The version is `ff`, which the spec forbids.
    #[error("traceparent version ff is invalid")]
    InvalidVersion,
    /// The trace id is all zeros.
    #[error("traceparent trace id is all zeros")]
    ZeroTraceId,
    /// The parent id is all zeros.
    #[error("traceparent parent id is all zeros")]
    ZeroParentId,
}

impl From<TraceparentError> for crate::Error {
    fn from(e: TraceparentError) -> Self {
        crate::Error::new(crate::ErrorKind::InvalidArgument, "malformed traceparent").with_source(e)
    }
}

/// A W3C trace context: which trace a call belongs to, and which span is its parent.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceContext {
    trace_id: [u8; 16],
    parent_id: [u8; 8],
    flags: u8,
}

impl TraceContext {
    /// Starts a new trace: random, non-zero trace and parent ids, sampled.
    pub fn new_root() -> Self {
        Self {
            trace_id: random_nonzero(),
            parent_id: random_nonzero(),
            flags: FLAG_SAMPLED,
        }
    }

    /// Builds a context from its parts; `None` if either id is all zeros.
    pub fn from_parts(trace_id: [u8; 16], parent_id: [u8; 8], flags: u8) -> Option<Self> {
        if is_zero(&trace_id) || is_zero(&parent_id) {
            return None;
        }
        Some(Self {
            trace_id,
            parent_id,
            flags,
        })
    }

    /// The context for a new span under this one: the same trace and flags, a new random
    /// parent id.
    pub fn child(&self) -> Self {
        Self {
            trace_id: self.trace_id,
            parent_id: random_nonzero(),
            flags: self.flags,
        }
    }

    /// Parses a `traceparent` value per W3C Trace Context level 1.
    ///
    /// Version `00` must be exactly `00-<32 hex>-<16 hex>-<2 hex>`, in lowercase. A later version
    /// is read by the version-00 layout, and anything after it must start with `-` and is
    /// ignored; version `ff` is invalid. All-zero ids are rejected. Surrounding spaces and tabs
    /// are trimmed.
    pub fn parse(header: &str) -> Result<Self, TraceparentError> {
        let h = header.trim_matches([' ', '\t']).as_bytes();
        if h.len() < TRACEPARENT_LEN {
            return Err(TraceparentError::Layout);
        }
        let version = hex_byte(&h[0..2])?;
        if version == 0xff {
            return Err(TraceparentError::InvalidVersion);
        }
        if version == 0x00 {
            if h.len() != TRACEPARENT_LEN {
                return Err(TraceparentError::Layout);
            }
        } else if h.len() > TRACEPARENT_LEN && h[TRACEPARENT_LEN] != b'-' {
            return Err(TraceparentError::Layout);
        }
        if h[2] != b'-' || h[35] != b'-' || h[52] != b'-' {
            return Err(TraceparentError::Layout);
        }
        let mut trace_id = [0u8; 16];
        hex_into(&h[3..35], &mut trace_id)?;
        let mut parent_id = [0u8; 8];
        hex_into(&h[36..52], &mut parent_id)?;
        let flags = hex_byte(&h[53..55])?;
        if is_zero(&trace_id) {
            return Err(TraceparentError::ZeroTraceId);
        }
        if is_zero(&parent_id) {
            return Err(TraceparentError::ZeroParentId);
        }
        Ok(Self {
            trace_id,
            parent_id,
            flags,
        })
    }

    /// The `traceparent` value: `00-<32 hex>-<16 hex>-<2 hex>`, lowercase.
    pub fn to_header(&self) -> String {
        let mut s = String::with_capacity(TRACEPARENT_LEN);
        s.push_str("00-");
        push_hex(&mut s, &self.trace_id);
        s.push('-');
        push_hex(&mut s, &self.parent_id);
        s.push('-');
        push_hex(&mut s, &[self.flags]);
        s
    }

    /// The trace id.
    pub fn trace_id(&self) -> [u8; 16] {
        self.trace_id
    }

    /// The trace id as 32 lowercase hex digits (for logs and span fields).
    pub fn trace_id_hex(&self) -> String {
        let mut s = String::with_capacity(32);
        push_hex(&mut s, &self.trace_id);
        s
    }

    /// The parent (span) id.
    pub fn parent_id(&self) -> [u8; 8] {
        self.parent_id
    }

    /// The trace flags.
    pub fn flags(&self) -> u8 {
        self.flags
    }

    /// Whether the caller may have recorded this trace (the `sampled` flag).
    pub fn is_sampled(&self) -> bool {
        self.flags & FLAG_SAMPLED != 0
    }
}

impl fmt::Display for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_header())
    }
}

impl fmt::Debug for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceContext({})", self.to_header())
    }
}

impl std::str::FromStr for TraceContext {
    type Err = TraceparentError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Writes `ctx` into `headers` under `traceparent`.
pub fn inject(ctx: &TraceContext, headers: &mut HashMap<String, String>) {
    headers.insert(TRACEPARENT.to_owned(), ctx.to_header());
}

/// Writes `ctx` under `traceparent` and, if given, `state` under `tracestate` (an absent state
/// removes a stale `tracestate`).
pub fn inject_with_state(
    ctx: &TraceContext,
    state: Option<&str>,
    headers: &mut HashMap<String, String>,
) {
    inject(ctx, headers);
    match state.filter(|s| valid_tracestate(s)) {
        Some(s) => {
            headers.insert(TRACESTATE.to_owned(), s.to_owned());
        }
        None => {
            headers.remove(TRACESTATE);
        }
    }
}

/// Reads the trace context from `headers` (`traceparent`, any case); `None` if it is absent or
/// malformed.
pub fn extract(headers: &HashMap<String, String>) -> Option<TraceContext> {
    TraceContext::parse(lookup(headers, TRACEPARENT)?).ok()
}

/// Reads the trace context and the opaque `tracestate` from `headers`. The state is dropped when
/// the `traceparent` is absent or malformed (as the spec requires), or when it is too long or not
/// printable ASCII.
pub fn extract_with_state(
    headers: &HashMap<String, String>,
) -> Option<(TraceContext, Option<String>)> {
    let ctx = extract(headers)?;
    let state = lookup(headers, TRACESTATE)
        .filter(|s| valid_tracestate(s))
        .map(str::to_owned);
    Some((ctx, state))
}

fn lookup<'a>(headers: &'a HashMap<String, String>, key: &str) -> Option<&'a str> {
    headers
        .get(key)
        .or_else(|| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v)
        })
        .map(String::as_str)
}

fn valid_tracestate(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_TRACESTATE_LEN
        && s.bytes().all(|b| (0x20..=0x7e).contains(&b) || b == b'\t')
}

/// Random ids from a fast per-thread generator (seeded from the thread's secure one): trace ids
/// need to be unique and uniformly spread for sampling, not unpredictable, and every service
/// call makes one.
fn random_nonzero<const N: usize>() -> [u8; N] {
    use rand::{Rng, SeedableRng};
    thread_local! {
        static IDS: std::cell::RefCell<rand::rngs::SmallRng> =
            std::cell::RefCell::new(rand::rngs::SmallRng::from_rng(&mut rand::rng()));
    }
    loop {
        let id: [u8; N] = IDS.with_borrow_mut(|rng| rng.random());
        if !is_zero(&id) {
            return id;
        }
    }
}

fn is_zero(b: &[u8]) -> bool {
    b.iter().all(|&x| x == 0)
}

fn hex_digit(c: u8) -> Result<u8, TraceparentError> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        _ => Err(TraceparentError::NotHex),
    }
}

fn hex_byte(pair: &[u8]) -> Result<u8, TraceparentError> {
    match pair {
        [hi, lo] => Ok((hex_digit(*hi)? << 4) | hex_digit(*lo)?),
        _ => Err(TraceparentError::Layout),
    }
}

fn hex_into(src: &[u8], dst: &mut [u8]) -> Result<(), TraceparentError> {
    if src.len() != dst.len() * 2 {
        return Err(TraceparentError::Layout);
    }
    for (out, pair) in dst.iter_mut().zip(src.chunks_exact(2)) {
        *out = hex_byte(pair)?;
    }
    Ok(())
}

fn push_hex(s: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example from the W3C Trace Context spec.
    const SPEC: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn parses_the_spec_example() {
        let ctx = TraceContext::parse(SPEC).unwrap();
        assert_eq!(
            ctx.trace_id(),
            [
                0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd, 0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80,
                0x31, 0x9c
            ]
        );
        assert_eq!(
            ctx.parent_id(),
            [0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31]
        );
        assert_eq!(ctx.flags(), 0x01);
        assert!(ctx.is_sampled());
        assert_eq!(ctx.to_header(), SPEC);
        assert_eq!(ctx.to_string(), SPEC);
        assert_eq!(ctx.trace_id_hex(), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(SPEC.parse::<TraceContext>().unwrap(), ctx);
    }

    #[test]
    fn not_sampled() {
        let ctx =
            TraceContext::parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00").unwrap();
        assert!(!ctx.is_sampled());
    }

    #[test]
    fn trims_surrounding_whitespace() {
        let ctx = TraceContext::parse(&format!(" \t{SPEC} ")).unwrap();
        assert_eq!(ctx.to_header(), SPEC);
    }

    #[test]
    fn rejects_malformed() {
        use TraceparentError::*;
        let cases: &[(&str, TraceparentError)] = &[
            ("", Layout),
            ("00", Layout),
            // Too short / too long for version 00.
            (
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0",
                Layout,
            ),
            (
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-",
                Layout,
            ),
            (
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-011",
                Layout,
            ),
            // Wrong separators.
            (
                "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                Layout,
            ),
            (
                "00-0af7651916cd43dd8448eb211c80319c_b7ad6b7169203331-01",
                Layout,
            ),
            (
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331_01",
                Layout,
            ),
            // Field lengths shifted.
            (
                "00-0af7651916cd43dd8448eb211c80319-cb7ad6b7169203331-01",
                Layout,
            ),
            // Uppercase hex.
            (
                "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
                NotHex,
            ),
            (
                "00-0af7651916cd43dd8448eb211c80319c-B7AD6B7169203331-01",
                NotHex,
            ),
            (
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0A",
                NotHex,
            ),
            (
                "0A-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                NotHex,
            ),
            // Non-hex characters.
            (
                "00-0af7651916cd43dd8448eb211c80319g-b7ad6b7169203331-01",
                NotHex,
            ),
            (
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333z-01",
                NotHex,
            ),
            (
                "00-+af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                NotHex,
            ),
            (
                "00-0af7651916cd43dd8448eb211c8031é-b7ad6b7169203331-01",
                NotHex,
            ),
            // Zero ids.
            (
                "00-00000000000000000000000000000000-b7ad6b7169203331-01",
                ZeroTraceId,
            ),
            (
                "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
                ZeroParentId,
            ),
            // Version ff.
            (
                "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                InvalidVersion,
            ),
            // A future version whose extra data does not start with '-'.
            (
                "cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01x",
                Layout,
            ),
        ];
        for (input, want) in cases {
            assert_eq!(TraceContext::parse(input), Err(*want), "input {input:?}");
        }
    }

    #[test]
    fn future_versions_ignore_extra_fields() {
        let ctx = TraceContext::parse(
            "cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what-the-future-holds",
        )
        .unwrap();
        assert_eq!(ctx.to_header(), SPEC);
        let ctx =
            TraceContext::parse("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").unwrap();
        assert_eq!(ctx.to_header(), SPEC);
    }

    #[test]
    fn root_and_child() {
        let root = TraceContext::new_root();
        assert!(root.is_sampled());
        assert!(!is_zero(&root.trace_id()));
        assert!(!is_zero(&root.parent_id()));
        let child = root.child();
        assert_eq!(child.trace_id(), root.trace_id());
        assert_ne!(child.parent_id(), root.parent_id());
        assert_eq!(child.flags(), root.flags());
        assert_ne!(TraceContext::new_root().trace_id(), root.trace_id());
        // Round trip through the header.
        assert_eq!(TraceContext::parse(&child.to_header()).unwrap(), child);
        assert_eq!(child.to_header().len(), TRACEPARENT_LEN);
    }

    #[test]
    fn from_parts_rejects_zero_ids() {
        assert!(TraceContext::from_parts([0; 16], [1; 8], 1).is_none());
        assert!(TraceContext::from_parts([1; 16], [0; 8], 1).is_none());
        let ctx = TraceContext::from_parts([1; 16], [2; 8], 0).unwrap();
        assert!(!ctx.is_sampled());
    }

    #[test]
    fn inject_and_extract() {
        let ctx = TraceContext::parse(SPEC).unwrap();
        let mut headers = HashMap::new();
        inject(&ctx, &mut headers);
        assert_eq!(headers.get("traceparent").map(String::as_str), Some(SPEC));
        assert_eq!(extract(&headers), Some(ctx));

        // Absent, malformed, and differently cased keys.
        assert_eq!(extract(&HashMap::new()), None);
        let mut bad = HashMap::new();
        bad.insert("traceparent".to_owned(), "garbage".to_owned());
        assert_eq!(extract(&bad), None);
        let mut cased = HashMap::new();
        cased.insert("TraceParent".to_owned(), SPEC.to_owned());
        assert_eq!(extract(&cased), Some(ctx));
    }

    #[test]
    fn tracestate_passes_through() {
        let ctx = TraceContext::parse(SPEC).unwrap();
        let mut headers = HashMap::new();
        inject_with_state(
            &ctx,
            Some("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"),
            &mut headers,
        );
        let (got, state) = extract_with_state(&headers).unwrap();
        assert_eq!(got, ctx);
        assert_eq!(
            state.as_deref(),
            Some("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7")
        );

        // No state: a stale one is removed.
        inject_with_state(&ctx, None, &mut headers);
        assert!(!headers.contains_key("tracestate"));
        assert_eq!(extract_with_state(&headers), Some((ctx, None)));

        // Oversized state is dropped; a bad traceparent drops the state too.
        headers.insert("tracestate".to_owned(), "a=".repeat(400));
        assert_eq!(extract_with_state(&headers), Some((ctx, None)));
        headers.insert("tracestate".to_owned(), "a=b".to_owned());
        headers.insert("traceparent".to_owned(), "nope".to_owned());
        assert_eq!(extract_with_state(&headers), None);
    }

    #[test]
    fn converts_to_runtime_error() {
        let e: crate::Error = TraceparentError::NotHex.into();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidArgument);
    }
}
