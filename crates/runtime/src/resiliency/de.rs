//! Serde helpers for the policy file: Go/Dapr-style durations, shared policies, and Dapr's
//! `trip` expressions.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// A duration written as a Go/Dapr-style string: `"5s"`, `"100ms"`, `"1m30s"`, `"1h 30m"`.
pub(crate) fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    d.deserialize_any(DurationVisitor)
}

/// A map of names to durations (`timeouts: { general: 5s }`).
pub(crate) fn duration_map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, Duration>, D::Error> {
    #[derive(Deserialize)]
    struct Text(#[serde(deserialize_with = "duration")] Duration);
    let map = BTreeMap::<String, Text>::deserialize(d)?;
    Ok(map.into_iter().map(|(k, Text(v))| (k, v)).collect())
}

/// A map of names to policies, each shared behind an `Arc` so resolved policies are cheap.
pub(crate) fn arc_map<'de, D, T>(d: D) -> Result<BTreeMap<String, Arc<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let map = BTreeMap::<String, T>::deserialize(d)?;
    Ok(map.into_iter().map(|(k, v)| (k, Arc::new(v))).collect())
}

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration such as \"5s\", \"100ms\" or \"1m30s\"")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Duration, E> {
        parse_duration(s).map_err(E::custom)
    }

    // A bare 0 is the one number that needs no unit, as in Go.
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Duration, E> {
        if n == 0 {
            Ok(Duration::ZERO)
        } else {
            Err(E::custom(format!(
                "duration {n} has no unit; write it as \"{n}s\" or \"{n}ms\""
            )))
        }
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Duration, E> {
        match u64::try_from(n) {
            Ok(n) => self.visit_u64(n),
            Err(_) => Err(E::custom(format!("duration {n} is negative"))),
        }
    }
}

/// Parses a Go/Dapr-style duration string.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|e| {
        format!("`{s}` is not a duration ({e}); write e.g. \"5s\", \"100ms\", \"1m30s\"")
    })
}

/// Dapr's `trip` (`"consecutiveFailures > 4"`, or `>=`), or a plain count.
pub(crate) fn trip<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    d.deserialize_any(TripVisitor)
}

struct TripVisitor;

impl Visitor<'_> for TripVisitor {
    type Value = u32;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a failure count, or an expression such as \"consecutiveFailures > 4\"")
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<u32, E> {
        u32::try_from(n).map_err(|_| E::custom(format!("failure count {n} is too large")))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<u32, E> {
        u32::try_from(n).map_err(|_| E::custom(format!("failure count {n} is out of range")))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<u32, E> {
        parse_trip(s).map_err(E::custom)
    }
}

/// Parses `consecutiveFailures > N` (trips at N + 1) or `consecutiveFailures >= N` (at N).
pub(crate) fn parse_trip(s: &str) -> Result<u32, String> {
    let unsupported = || {
        format!(
            "trip expression `{s}` is not supported; write `consecutiveFailures > N`, \
             `consecutiveFailures >= N`, or a number"
        )
    };
    let rest = s
        .trim()
        .strip_prefix("consecutiveFailures")
        .ok_or_else(unsupported)?
        .trim_start();
    let (bump, number) = if let Some(n) = rest.strip_prefix(">=") {
        (0, n)
    } else if let Some(n) = rest.strip_prefix('>') {
        (1, n)
    } else {
        return Err(unsupported());
    };
    number
        .trim()
        .parse::<u32>()
        .ok()
        .and_then(|n| n.checked_add(bump))
        .ok_or_else(unsupported)
}
