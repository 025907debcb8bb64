//! Dapr's reminder time formats: ISO 8601 durations (with `R<n>/` repetitions for periods), Go
//! durations (`1m30s`), and RFC 3339 instants for due times and TTLs.

use std::time::{Duration, SystemTime};

use crate::error::{Error, ErrorKind};

/// The shortest period of a timer or a reminder: 10 ms. A shorter one is refused with
/// [`ErrorKind::InvalidArgument`]: a 1 ns period would fire as fast as the actor can answer,
/// taking every turn of the actor and a core of the host.
pub const MIN_PERIOD: Duration = Duration::from_millis(10);

/// When a reminder first fires, or when it expires: after a delay, or at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moment {
    /// This long after the reminder is registered.
    After(Duration),
    /// At this wall-clock instant.
    At(SystemTime),
}

impl Moment {
    /// The instant this moment stands for, for a reminder registered at `now`, in milliseconds
    /// since the Unix epoch (an instant before it counts as the epoch: due at once). `None` when
    /// it lies past what the system clock or a millisecond count can represent: such a moment
    /// is refused, never taken as "now".
    pub(crate) fn resolve_ms(self, now: SystemTime) -> Option<u64> {
        let at = match self {
            Moment::After(d) => now.checked_add(d)?,
            Moment::At(t) => t,
        };
        match at.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => u64::try_from(d.as_millis()).ok(),
            Err(_) => Some(0),
        }
    }
}

fn invalid(what: &str, text: &str, why: &str) -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        format!(
            "invalid {what} {text:?}: {why} (expected an ISO 8601 duration like `PT1M30S`, \
             a Go duration like `1m30s`{})",
            if what == "period" {
                ", optionally with repetitions like `R5/PT10S`"
            } else {
                ", or an RFC 3339 time like `2030-01-02T15:04:05Z`"
            }
        ),
    )
}

/// Parses a due time: a duration (ISO 8601 or Go) or an RFC 3339 instant.
///
/// # Errors
/// [`ErrorKind::InvalidArgument`] naming the text and the accepted formats.
pub(crate) fn due_time(text: &str) -> Result<Moment, Error> {
    moment("due time", text)
}

/// Parses a TTL: a duration (ISO 8601 or Go) or an RFC 3339 instant.
///
/// # Errors
/// As [`due_time`].
pub(crate) fn ttl(text: &str) -> Result<Moment, Error> {
    moment("TTL", text)
}

fn moment(what: &str, text: &str) -> Result<Moment, Error> {
    let t = text.trim();
    if t.is_empty() {
        return Err(invalid(what, text, "it is empty"));
    }
    if t.starts_with('P') {
        return iso_duration(t)
            .map(Moment::After)
            .map_err(|why| invalid(what, text, &why));
    }
    if t.len() >= 10 && t.as_bytes().get(4) == Some(&b'-') {
        return rfc3339(t)
            .map(Moment::At)
            .map_err(|why| invalid(what, text, &why));
    }
    go_duration(t)
        .map(Moment::After)
        .map_err(|why| invalid(what, text, &why))
}

/// Parses a period: `R<n>/<ISO 8601 duration>`, an ISO 8601 duration, or a Go duration. Returns
/// the period and the number of repetitions, if limited.
///
/// # Errors
/// [`ErrorKind::InvalidArgument`] naming the text; also for a zero period and for `R0`.
pub(crate) fn period(text: &str) -> Result<(Duration, Option<u32>), Error> {
    let t = text.trim();
    let err = |why: &str| invalid("period", text, why);
    let (repetitions, rest) = match t.strip_prefix('R') {
        Some(r) => {
            let (n, rest) = r
                .split_once('/')
                .ok_or_else(|| err("`R<n>` must be followed by `/` and a duration"))?;
            let n: u32 = n
                .parse()
                .map_err(|_| err("the repetition count must be a whole number"))?;
            if n == 0 {
                return Err(err("`R0` would never fire"));
            }
            (Some(n), rest)
        }
        None => (None, t),
    };
    if rest.is_empty() {
        return Err(err("it is empty"));
    }
    let period = if rest.starts_with('P') {
        iso_duration(rest).map_err(|why| err(&why))?
    } else if repetitions.is_some() {
        return Err(err("after `R<n>/` the period must be an ISO 8601 duration"));
    } else {
        go_duration(rest).map_err(|why| err(&why))?
    };
    if period.is_zero() {
        return Err(err("the period must be greater than zero"));
    }
    if period < MIN_PERIOD {
        return Err(err(&format!(
            "the period is shorter than the minimum of {:?}",
            MIN_PERIOD
        )));
    }
    Ok((period, repetitions))
}

/// An ISO 8601 duration: `P[nW][nD][T[nH][nM][n[.f]S]]`. Calendar years and months are refused
/// (their length depends on the date).
fn iso_duration(text: &str) -> Result<Duration, String> {
    let body = text
        .strip_prefix('P')
        .ok_or_else(|| "an ISO 8601 duration starts with `P`".to_owned())?;
    if body.is_empty() || body == "T" {
        return Err("the duration has no components".to_owned());
    }
    let (date, time) = match body.split_once('T') {
        Some((d, "")) => return Err(format!("nothing after `T` in {d}T")),
        Some((d, t)) => (d, Some(t)),
        None => (body, None),
    };
    let mut total = Duration::ZERO;
    let mut add = |value: f64, unit_secs: f64| -> Result<(), String> {
        let secs = value * unit_secs;
        let d =
            Duration::try_from_secs_f64(secs).map_err(|_| "the duration is too long".to_owned())?;
        total = total
            .checked_add(d)
            .ok_or_else(|| "the duration is too long".to_owned())?;
        Ok(())
    };
    for (value, unit) in components(date)? {
        match unit {
            'W' => add(value, 7.0 * 86_400.0)?,
            'D' => add(value, 86_400.0)?,
            'Y' | 'M' => {
                return Err("calendar years and months are not supported; use weeks or days".into())
            }
            other => return Err(format!("unknown date unit `{other}`")),
        }
    }
    if let Some(time) = time {
        for (value, unit) in components(time)? {
            match unit {
                'H' => add(value, 3_600.0)?,
                'M' => add(value, 60.0)?,
                'S' => add(value, 1.0)?,
                other => return Err(format!("unknown time unit `{other}`")),
            }
        }
    }
    Ok(total)
}

/// Splits `12D3W` into `(12, 'D'), (3, 'W')`.
fn components(text: &str) -> Result<Vec<(f64, char)>, String> {
    let mut out = Vec::new();
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() || c == '.' || c == ',' {
            number.push(if c == ',' { '.' } else { c });
        } else if c.is_ascii_alphabetic() {
            if number.is_empty() {
                return Err(format!("unit `{c}` has no number before it"));
            }
            let value: f64 = number
                .parse()
                .map_err(|_| format!("`{number}` is not a number"))?;
            out.push((value, c));
            number.clear();
        } else {
            return Err(format!("unexpected character `{c}`"));
        }
    }
    if !number.is_empty() {
        return Err(format!("number `{number}` has no unit"));
    }
    Ok(out)
}

/// A Go duration: a sequence of decimal numbers with units `ns`, `us`/`µs`, `ms`, `s`, `m`, `h`,
/// such as `1h30m` or `1.5s`. A bare `0` is zero.
fn go_duration(text: &str) -> Result<Duration, String> {
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.starts_with('-') {
        return Err("a negative duration".to_owned());
    }
    let text = text.strip_prefix('+').unwrap_or(text);
    let mut rest = text;
    let mut total = Duration::ZERO;
    if rest.is_empty() {
        return Err("it is empty".to_owned());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("number `{rest}` has no unit"))?;
        if digits == 0 {
            return Err(format!("`{rest}` does not start with a number"));
        }
        let (number, after) = rest.split_at(digits);
        let value: f64 = number
            .parse()
            .map_err(|_| format!("`{number}` is not a number"))?;
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let unit_secs = match unit {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3_600.0,
            other => return Err(format!("unknown unit `{other}`")),
        };
        let d = Duration::try_from_secs_f64(value * unit_secs)
            .map_err(|_| "the duration is too long".to_owned())?;
        total = total
            .checked_add(d)
            .ok_or_else(|| "the duration is too long".to_owned())?;
        rest = next;
    }
    Ok(total)
}

/// An RFC 3339 instant, `Z` or a `±hh:mm` offset.
fn rfc3339(text: &str) -> Result<SystemTime, String> {
    let bad = |e: humantime::TimestampError| format!("not an RFC 3339 time: {e}");
    if let Some(utc) = text.strip_suffix('Z').or_else(|| text.strip_suffix('z')) {
        return humantime::parse_rfc3339_weak(utc).map_err(bad);
    }
    // `±hh:mm` offset: parse the local part as UTC, then move it by the offset.
    let split = text
        .len()
        .checked_sub(6)
        .filter(|&i| matches!(text.as_bytes().get(i), Some(b'+' | b'-')))
        .ok_or_else(|| "an RFC 3339 time ends with `Z` or an offset like `+02:00`".to_owned())?;
    let (local, offset) = text.split_at(split);
    let sign = offset.as_bytes().first().copied();
    let (hh, mm) = offset[1..]
        .split_once(':')
        .ok_or_else(|| format!("offset `{offset}` is not `±hh:mm`"))?;
    let hours: u64 = hh
        .parse()
        .map_err(|_| format!("offset `{offset}` is not `±hh:mm`"))?;
    let minutes: u64 = mm
        .parse()
        .map_err(|_| format!("offset `{offset}` is not `±hh:mm`"))?;
    if hours > 23 || minutes > 59 {
        return Err(format!("offset `{offset}` is out of range"));
    }
    let shift = Duration::from_secs(hours * 3_600 + minutes * 60);
    let as_utc = humantime::parse_rfc3339_weak(local).map_err(bad)?;
    // Local time = UTC + offset, so UTC = local − offset.
    let utc = if sign == Some(b'+') {
        as_utc.checked_sub(shift)
    } else {
        as_utc.checked_add(shift)
    };
    utc.ok_or_else(|| "the time is out of range".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn iso_durations_parse() {
        assert_eq!(iso_duration("PT1M30S"), Ok(secs(90)));
        assert_eq!(iso_duration("P1DT1H"), Ok(secs(90_000)));
        assert_eq!(iso_duration("P2W"), Ok(secs(14 * 86_400)));
        assert_eq!(iso_duration("PT0.5S"), Ok(Duration::from_millis(500)));
        assert!(iso_duration("P1M").is_err(), "calendar months are refused");
        assert!(iso_duration("PT").is_err());
        assert!(iso_duration("P").is_err());
        assert!(iso_duration("PT5").is_err());
        assert!(iso_duration("PTS").is_err());
    }

    #[test]
    fn go_durations_parse() {
        assert_eq!(go_duration("1m30s"), Ok(secs(90)));
        assert_eq!(go_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(go_duration("1h"), Ok(secs(3_600)));
        assert_eq!(go_duration("1.5s"), Ok(Duration::from_millis(1_500)));
        assert_eq!(go_duration("2us"), Ok(Duration::from_micros(2)));
        assert_eq!(go_duration("0"), Ok(Duration::ZERO));
        for bad in ["", "5", "s", "1x", "-1s", "1 s", "1h1"] {
            assert!(go_duration(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn periods_parse_with_repetitions() {
        assert_eq!(period("R5/PT10S").ok(), Some((secs(10), Some(5))));
        assert_eq!(period("PT10S").ok(), Some((secs(10), None)));
        assert_eq!(period("1m").ok(), Some((secs(60), None)));
        for bad in [
            "R0/PT1S", "R5", "R5/", "R-1/PT1S", "Rx/PT1S", "R2/1s", "0s", "PT0S", "often",
        ] {
            let e = period(bad)
                .err()
                .unwrap_or_else(|| panic!("{bad:?} must be refused"));
            assert_eq!(e.kind(), ErrorKind::InvalidArgument);
            assert!(e.message().contains("period"), "{e}");
        }
    }

    #[test]
    fn due_times_and_ttls_take_durations_and_instants() {
        assert_eq!(due_time("1s").ok(), Some(Moment::After(secs(1))));
        assert_eq!(due_time("PT2S").ok(), Some(Moment::After(secs(2))));
        let at = SystemTime::UNIX_EPOCH + secs(1_893_456_000); // 2030-01-01T00:00:00Z
        assert_eq!(due_time("2030-01-01T00:00:00Z").ok(), Some(Moment::At(at)));
        assert_eq!(ttl("2030-01-01T02:00:00+02:00").ok(), Some(Moment::At(at)));
        assert_eq!(ttl("2029-12-31T23:30:00-00:30").ok(), Some(Moment::At(at)));
        for bad in [
            "",
            "tomorrow",
            "2030-13-01T00:00:00Z",
            "2030-01-01",
            "2030-01-01T00:00:00+2",
        ] {
            assert!(due_time(bad).is_err(), "{bad:?} must be refused");
        }
    }
}
