//! Reading Redis's replies: ETags, scores, stored values and the scripts' answers, each checked
//! for the shape the store wrote (anything else is a corrupt-data error, never a panic).

use bytes::Bytes;
use redis::Value;

use super::super::{ETag, Operation, StateKey, StoreError, StoreErrorKind, Versioned};

pub(super) fn corrupt(
    op: &'static str,
    key: Option<&StateKey>,
    message: impl Into<String>,
) -> StoreError {
    StoreError::new(StoreErrorKind::Corrupt, op, message).with_optional_key(key)
}

/// Parses an ETag the store wrote: a positive decimal `u64`.
pub(super) fn parse_etag(
    op: &'static str,
    key: Option<&StateKey>,
    raw: &[u8],
) -> Result<ETag, StoreError> {
    std::str::from_utf8(raw)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|&v| v != 0)
        .map(ETag::new)
        .ok_or_else(|| {
            corrupt(
                op,
                key,
                format!(
                    "stored etag `{}` is not a positive decimal",
                    String::from_utf8_lossy(raw)
                ),
            )
        })
}

/// An ETag or nil, as a script or `HMGET` returns it.
pub(super) fn optional_etag(
    op: &'static str,
    key: Option<&StateKey>,
    value: Value,
) -> Result<Option<ETag>, StoreError> {
    match value {
        Value::Nil => Ok(None),
        Value::BulkString(raw) => parse_etag(op, key, &raw).map(Some),
        other => Err(corrupt(
            op,
            key,
            format!("expected an etag or nil from Redis, got {}", shape(&other)),
        )),
    }
}

/// A short description of a reply's shape that never includes its bytes (they may be values).
pub(super) fn shape(value: &Value) -> String {
    match value {
        Value::Array(items) => format!("an array of {}", items.len()),
        Value::ServerError(e) => format!("error {}", e.code()),
        Value::Nil => "nil".to_owned(),
        Value::Int(_) => "an integer".to_owned(),
        Value::BulkString(raw) => format!("a string of {} bytes", raw.len()),
        Value::SimpleString(_) | Value::Okay => "a status".to_owned(),
        _ => "a RESP3 value".to_owned(),
    }
}

/// Decodes [`SCRIPT`]'s reply to `ops`.
pub(super) fn decode_script_reply(
    op: &'static str,
    ops: &[Operation],
    reply: Value,
) -> Result<Vec<Option<ETag>>, StoreError> {
    let unexpected = |what: &str| {
        corrupt(
            op,
            single_key(ops),
            format!("unexpected reply from the write script: {what}"),
        )
    };
    let Value::Array(items) = reply else {
        return Err(unexpected(&shape(&reply)));
    };
    let mut items = items.into_iter();
    let Some(Value::BulkString(tag)) = items.next() else {
        return Err(unexpected("no status"));
    };
    match &tag[..] {
        b"ok" => {
            let etags = items
                .zip(ops)
                .map(|(value, o)| {
                    let etag = optional_etag(op, Some(o.key()), value)?;
                    match (o, etag) {
                        (Operation::Set { .. }, None)
                        | (
                            Operation::Delete { .. }
                            | Operation::IndexAdd { .. }
                            | Operation::IndexRemove { .. },
                            Some(_),
                        ) => Err(unexpected("an etag that does not fit its operation")),
                        _ => Ok(etag),
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
            if etags.len() != ops.len() {
                return Err(unexpected("fewer results than operations"));
            }
            Ok(etags)
        }
        b"conflict" | b"corrupt" => {
            let (Some(Value::Int(index)), Some(detail)) = (items.next(), items.next()) else {
                return Err(unexpected("a failure without its operation"));
            };
            let failed = usize::try_from(index)
                .ok()
                .and_then(|i| i.checked_sub(1))
                .and_then(|i| ops.get(i))
                .ok_or_else(|| unexpected("a failure at an operation that does not exist"))?;
            let key = failed.key();
            if &tag[..] == b"conflict" {
                let found = optional_etag(op, Some(key), detail)?;
                return Err(StoreError::conflict(op, key, failed.condition(), found));
            }
            let why = match detail {
                Value::BulkString(why) => String::from_utf8_lossy(&why).into_owned(),
                _ => "unknown".to_owned(),
            };
            Err(corrupt(
                op,
                Some(key),
                format!(
                    "stored value cannot be checked against {:?}: {why}",
                    failed.condition()
                ),
            ))
        }
        other => Err(unexpected(&format!(
            "status `{}`",
            String::from_utf8_lossy(other)
        ))),
    }
}

/// A sorted-set score as Redis replies it (a decimal string, or a double in RESP3), when it is a
/// whole number that fits a `u64`. Scores are doubles in Redis: exact up to 2^53.
pub(super) fn parse_score(value: &Value) -> Option<u64> {
    let text = match value {
        Value::BulkString(raw) => std::str::from_utf8(raw).ok()?.to_owned(),
        Value::Double(d) => format!("{d:.0}"),
        Value::Int(i) => return u64::try_from(*i).ok(),
        _ => return None,
    };
    text.parse::<u64>().ok().or_else(|| {
        let d = text.parse::<f64>().ok()?;
        (d.fract() == 0.0 && (0.0..1.8e19).contains(&d))
            .then(|| format!("{d:.0}").parse().ok())
            .flatten()
    })
}

/// The `HMGET key v e` command that reads one key.
pub(super) fn read_cmd(key: &StateKey) -> redis::Cmd {
    let mut cmd = redis::cmd("HMGET");
    cmd.arg(key.as_str()).arg("v").arg("e");
    cmd
}

/// Decodes the reply to [`read_cmd`].
pub(super) fn decode_read(
    op: &'static str,
    key: &StateKey,
    reply: Value,
) -> Result<Option<Versioned>, StoreError> {
    let fields = match reply {
        Value::Array(fields) => fields,
        Value::ServerError(e) if e.code() == "WRONGTYPE" => {
            return Err(corrupt(
                op,
                Some(key),
                "the key holds something other than a hash",
            ));
        }
        other => {
            return Err(corrupt(
                op,
                Some(key),
                format!("expected two fields from HMGET, got {}", shape(&other)),
            ))
        }
    };
    match <[Value; 2]>::try_from(fields) {
        Ok([Value::Nil, Value::Nil]) => Ok(None),
        Ok([Value::BulkString(value), Value::BulkString(etag)]) => Ok(Some(Versioned {
            value: Bytes::from(value),
            etag: parse_etag(op, Some(key), &etag)?,
        })),
        Ok([Value::Nil, _]) => Err(corrupt(op, Some(key), "its hash has no value field")),
        Ok([_, Value::Nil]) => Err(corrupt(op, Some(key), "its hash has no etag field")),
        _ => Err(corrupt(op, Some(key), "unexpected reply to HMGET")),
    }
}

/// The key named by an error about a script run over `ops` as a whole (a failed send, a reply
/// that does not decode): a single-key call (`set`, `delete`, a one-operation transaction) is
/// about its one key, a transaction of several operations about none of them.
pub(super) fn single_key(ops: &[Operation]) -> Option<&StateKey> {
    match ops {
        [one] => Some(one.key()),
        _ => None,
    }
}
