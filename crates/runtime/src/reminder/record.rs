//! The stored form of a reminder: its record, its key, and its entry in the type's due index.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::ReminderInfo;
use crate::error::{Error, ErrorKind};
use crate::state::StateKey;

/// The state key name prefix of reminder records (`__weft` is reserved for the runtime).
pub(crate) const RECORD_PREFIX: &str = "__weft_reminder||";
/// The last part of a type's due index key.
const INDEX_SUFFIX: &str = "__weft_reminders";
/// Format version of [`Record`]; the first byte of every stored record.
const FORMAT: u8 = 1;

/// One reminder as stored. Times are ms since the Unix epoch (every host shares the clock).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Record {
    pub(crate) callback: String,
    pub(crate) data: Vec<u8>,
    pub(crate) period_ms: Option<u64>,
    /// When it fires next; also its score in the due index.
    pub(crate) next_due_ms: u64,
    /// Firings left, if limited.
    pub(crate) remaining: Option<u32>,
    pub(crate) expires_ms: Option<u64>,
    /// Firings so far: how a host that lost an advance race tells a duplicate firing from an
    /// unregistration or a replacement.
    pub(crate) fired: u64,
    pub(crate) last_fired_ms: Option<u64>,
}

impl Record {
    pub(crate) fn encode(&self) -> Result<Bytes, Error> {
        let mut raw = vec![FORMAT];
        postcard::to_io(self, &mut raw).map_err(|e| {
            Error::new(
                ErrorKind::Internal,
                format!("reminder record does not encode: {e}"),
            )
        })?;
        Ok(Bytes::from(raw))
    }

    pub(crate) fn decode(raw: &[u8]) -> Result<Self, Error> {
        let corrupt = |why: String| {
            Error::new(
                ErrorKind::Corrupt,
                format!("stored reminder record is unreadable: {why}"),
            )
        };
        match raw.split_first() {
            Some((&FORMAT, rest)) => postcard::from_bytes(rest).map_err(|e| corrupt(e.to_string())),
            Some((v, _)) => Err(corrupt(format!("unknown format version {v}"))),
            None => Err(corrupt("it is empty".to_owned())),
        }
    }

    pub(crate) fn info(&self, name: &str) -> ReminderInfo {
        ReminderInfo {
            name: name.to_owned(),
            callback: self.callback.clone(),
            next_due: from_ms(self.next_due_ms),
            period: self.period_ms.map(Duration::from_millis),
            remaining: self.remaining,
            expires: self.expires_ms.map(from_ms),
            data: Bytes::from(self.data.clone()),
            fired: self.fired,
        }
    }

    /// Whether the reminder has ended at `now_ms` by its TTL.
    pub(crate) fn is_expired(&self, now_ms: u64) -> bool {
        self.expires_ms.is_some_and(|e| e <= now_ms)
    }

    /// The record after a firing that started at `now_ms`, or `None` when that firing was the
    /// last. Missed periods coalesce: the next due time is the first period boundary after
    /// `now_ms`.
    pub(crate) fn after_firing(&self, now_ms: u64) -> Option<Record> {
        let period = self.period_ms.filter(|&p| p > 0)?;
        let remaining = match self.remaining {
            Some(n) if n <= 1 => return None,
            Some(n) => Some(n - 1),
            None => None,
        };
        let missed = now_ms.saturating_sub(self.next_due_ms) / period;
        let next = self
            .next_due_ms
            .saturating_add(period.saturating_mul(missed.saturating_add(1)));
        if self.expires_ms.is_some_and(|e| next >= e) {
            return None;
        }
        Some(Record {
            next_due_ms: next,
            remaining,
            fired: self.fired.saturating_add(1),
            last_fired_ms: Some(now_ms),
            ..self.clone()
        })
    }
}

pub(crate) fn to_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

pub(crate) fn from_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH
        .checked_add(Duration::from_millis(ms))
        .unwrap_or(UNIX_EPOCH)
}

pub(crate) fn now_ms() -> u64 {
    to_ms(SystemTime::now())
}

/// The key of reminder `name` of actor `actor_type`/`id`.
pub(crate) fn record_key(app: &str, actor_type: &str, id: &str, name: &str) -> StateKey {
    StateKey::actor(app, actor_type, id, &format!("{RECORD_PREFIX}{name}"))
}

/// The key of the due index of `actor_type`'s reminders. Three parts, so no actor state key
/// (four or more parts, ids never contain `||`) can be it.
pub(crate) fn index_key(app: &str, actor_type: &str) -> StateKey {
    let sep = StateKey::SEPARATOR;
    StateKey::raw(format!("{app}{sep}{actor_type}{sep}{INDEX_SUFFIX}"))
}

/// The actor id and reminder name of a record key of `app`/`actor_type`.
pub(crate) fn parse_record_key<'k>(
    app: &str,
    actor_type: &str,
    key: &'k StateKey,
) -> Option<(&'k str, &'k str)> {
    let sep = StateKey::SEPARATOR;
    let rest = key
        .as_str()
        .strip_prefix(app)?
        .strip_prefix(sep)?
        .strip_prefix(actor_type)?
        .strip_prefix(sep)?;
    let (id, rest) = rest.split_once(sep)?;
    let name = rest.strip_prefix(RECORD_PREFIX)?;
    (!id.is_empty() && !name.is_empty()).then_some((id, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(next: u64, period: Option<u64>, remaining: Option<u32>) -> Record {
        Record {
            callback: "cb".into(),
            data: vec![1, 2],
            period_ms: period,
            next_due_ms: next,
            remaining,
            expires_ms: None,
            fired: 0,
            last_fired_ms: None,
        }
    }

    #[test]
    fn records_round_trip() {
        let r = record(5, Some(10), Some(3));
        assert_eq!(Record::decode(&r.encode().unwrap()).unwrap(), r);
        assert!(Record::decode(&[9, 1, 2]).is_err());
        assert!(Record::decode(&[]).is_err());
    }

    #[test]
    fn missed_periods_coalesce_into_one_firing() {
        let r = record(1_000, Some(100), None);
        let on_time = r.after_firing(1_000).unwrap();
        assert_eq!(on_time.next_due_ms, 1_100);
        // Down from 1000 to 1550: one firing now, the next at the first boundary after 1550.
        let late = r.after_firing(1_550).unwrap();
        assert_eq!(late.next_due_ms, 1_600);
        assert_eq!(late.fired, 1);
        assert_eq!(late.last_fired_ms, Some(1_550));
    }

    #[test]
    fn repetitions_and_ttl_end_a_reminder() {
        assert!(record(0, None, None).after_firing(0).is_none(), "one-shot");
        let r = record(0, Some(10), Some(2));
        let second = r.after_firing(0).unwrap();
        assert_eq!(second.remaining, Some(1));
        assert!(second.after_firing(10).is_none());
        let mut ttl = record(0, Some(10), None);
        ttl.expires_ms = Some(25);
        assert_eq!(ttl.after_firing(15).map(|r| r.next_due_ms), Some(20));
        assert!(
            ttl.after_firing(20).is_none(),
            "the next firing (30) would be past the TTL"
        );
    }

    #[test]
    fn record_keys_parse_back() {
        let k = record_key("app", "cart", "u1", "tick||x");
        assert_eq!(k.as_str(), "app||cart||u1||__weft_reminder||tick||x");
        assert_eq!(parse_record_key("app", "cart", &k), Some(("u1", "tick||x")));
        assert_eq!(parse_record_key("app", "order", &k), None);
        let state = StateKey::actor("app", "cart", "u1", "items");
        assert_eq!(parse_record_key("app", "cart", &state), None);
        assert_eq!(
            index_key("app", "cart").as_str(),
            "app||cart||__weft_reminders"
        );
    }
}
