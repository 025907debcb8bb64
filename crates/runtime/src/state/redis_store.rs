//! A [`StateStore`] on a Redis server: the store every host of a cluster can share.
//!
//! Each key is one Redis hash, named by the [`StateKey`] string as is, with the field `v` (the
//! value's bytes) and `e` (its ETag in decimal). Reads are plain `HMGET`s (a pipeline of them for
//! `bulk_get`).
//!
//! Why every write is one Lua script: a condition must be checked against the value it replaces
//! with no other write in between, and [`StateStore::transact`] must apply all of its operations
//! or none. Redis runs a script without interleaving any other command, so the script checks every
//! condition first and writes only when all of them hold (see [`SCRIPT`] for its contract).
//! `WATCH`/`MULTI` would need a dedicated connection per transaction and retries on contention;
//! the script needs neither and works over one shared, multiplexed connection.
//!
//! Why ETags come from one counter (`weft:etag`) and not from the key's previous ETag: a per-key
//! number restarts when a key is deleted, so a re-created key could get back an ETag that a
//! reader of the old key still holds. The counter never hands out a value twice. It is created
//! from the server clock in microseconds, so even after Redis lost its whole dataset (no
//! persistence, `FLUSHALL`) new ETags start above every ETag handed out before, unless the old
//! counter ever ran ahead of the clock (over a million writes per second on average).
//!
//! Why `flush` does nothing: Redis acknowledges a write once it applied it in memory, and what
//! reaches disk when is the operator's choice of Redis persistence (`appendfsync always` loses no
//! acknowledged write; the default `everysec` may lose the last second). There is nothing
//! buffered on this side to flush.
//!
//! Why every call has a time limit ([`CONNECT_TIMEOUT`] per connection attempt,
//! [`CONNECT_ATTEMPTS`], [`RESPONSE_TIMEOUT`]): during a Redis outage a call must fail as
//! [`StoreErrorKind::Unavailable`] so the host can retry or give up, never hang. The
//! [`ConnectionManager`] reconnects by itself, so calls succeed again once Redis is back.
//!
//! Cancel safety: dropping a write's future does not stop the write. Once sent, the script runs
//! to its end on the server; the caller just does not learn its outcome. The same holds for a
//! write that failed with a response timeout.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, RedisResult, Script, ServerErrorKind, Value};

use super::{
    check_distinct_keys, Condition, ETag, Operation, StateKey, StateStore, StoreError,
    StoreErrorKind, Versioned,
};

/// The key of the counter every ETag is drawn from.
const ETAG_COUNTER: &str = "weft:etag";

/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How many connection attempts one call makes (with a short backoff) before it fails.
const CONNECT_ATTEMPTS: usize = 3;

/// How long a call waits for Redis's reply.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

/// The one script behind every write: `set`, `delete` and `transact`.
///
/// `KEYS[1]` is [`ETAG_COUNTER`]; `KEYS[i + 1]` is the key of operation `i`. Operation `i` has
/// three arguments:
/// - `ARGV[3i-2]`: its kind, `set`, `del` or `chk`;
/// - `ARGV[3i-1]`: its condition, `*` (any), `-` (absent) or the decimal ETag it must match;
/// - `ARGV[3i]`: the value of a `set`, empty otherwise.
///
/// It first checks every condition, in order, and stops at the first that fails. Under a
/// condition other than "any", a key that exists but is not a well-formed hash (a foreign writer)
/// fails too; under "any" it is overwritten (`set`), removed (`del`) or taken as absent (`chk`).
/// Only when every condition holds does it write. The first write is the counter's `INCR`, so a
/// server refusing writes (out of memory, read-only replica) changes nothing.
///
/// Replies, 1-based `i`:
/// - `{"ok", r1, ..., rn}`: every operation was applied; `ri` is the new ETag of a `set`, nil for a
///   `del`, and the current ETag (nil when absent) for a `chk`;
/// - `{"conflict", i, found}`: operation `i`'s condition did not hold; `found` is the key's ETag,
///   nil when it is absent;
/// - `{"corrupt", i, why}`: operation `i`'s key cannot be checked: `why` says what is wrong.
const SCRIPT: &str = r#"
local n = #KEYS - 1
local current = {}
for i = 1, n do
  local key, cond = KEYS[i + 1], ARGV[3 * i - 1]
  local etag, why = false, nil
  local t = redis.call('TYPE', key)['ok']
  if t == 'hash' then
    local e = redis.call('HGET', key, 'e')
    if not e then
      why = 'its hash has no etag field'
    elseif #e > 20 or not string.match(e, '^[1-9][0-9]*$') then
      why = 'its etag field is not a positive decimal'
    elseif redis.call('HEXISTS', key, 'v') == 0 then
      why = 'its hash has no value field'
    else
      etag = e
    end
  elseif t ~= 'none' then
    why = 'it holds a ' .. t .. ', not a hash'
  end
  if cond ~= '*' then
    if why then return {'corrupt', i, why} end
    if cond == '-' then
      if etag then return {'conflict', i, etag} end
    elseif etag ~= cond then
      return {'conflict', i, etag}
    end
  end
  current[i] = etag
end

local fresh = {}
for i = 1, n do
  if ARGV[3 * i - 2] == 'set' then
    if redis.call('EXISTS', KEYS[1]) == 0 then
      if redis.replicate_commands then redis.replicate_commands() end
      local now = redis.call('TIME')
      redis.call('SET', KEYS[1], now[1] .. string.format('%06d', tonumber(now[2])))
    end
    redis.call('INCR', KEYS[1])
    -- GET, not INCR's reply: Lua numbers are doubles, the string is exact.
    fresh[i] = redis.call('GET', KEYS[1])
  end
end

local out = {'ok'}
for i = 1, n do
  local key, kind = KEYS[i + 1], ARGV[3 * i - 2]
  if kind == 'set' then
    redis.call('DEL', key)
    redis.call('HSET', key, 'v', ARGV[3 * i], 'e', fresh[i])
    out[i + 1] = fresh[i]
  elseif kind == 'del' then
    redis.call('DEL', key)
    out[i + 1] = false
  else
    out[i + 1] = current[i]
  end
end
return out
"#;

/// A [`StateStore`] on a Redis server, shared by every host that connects to it.
///
/// Clones share one multiplexed connection, which reconnects by itself after an outage. Writes
/// are atomic on the server: each is one Lua script that checks every condition before it writes.
///
/// Durability is Redis's: a write is acknowledged once Redis applied it in memory, and whether it
/// survives a Redis crash depends on the server's persistence settings (`appendonly yes` with
/// `appendfsync always` loses no acknowledged write). [`StateStore::flush`] is a no-op.
///
/// Every call is bounded in time: a connection attempt gives up after 2 s (3 attempts at most
/// when Redis does not answer) and a reply must arrive within 5 s. A call that runs out of time,
/// or finds Redis down, fails with
/// [`StoreErrorKind::Unavailable`](super::StoreErrorKind::Unavailable): within about a second
/// when the connection is refused, within about 7 s when Redis does not answer at all. Calls
/// succeed again once Redis is back, without restarting the process.
///
/// Keys are stored as Redis hashes named by the [`StateKey`] string, with fields `v` (the value)
/// and `e` (the ETag in decimal); ETags are drawn from the counter key `weft:etag`, which no
/// state key may use. A transaction's keys must live on one server: a single Redis (with or
/// without replicas), not Redis Cluster. Run it with `maxmemory-policy noeviction`, since an
/// evicted key is lost state.
///
/// # Examples
/// ```no_run
/// use bytes::Bytes;
/// use weft_runtime::state::{Condition, RedisStore, StateKey, StateStore};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), weft_runtime::state::StoreError> {
/// let store = RedisStore::connect("redis://127.0.0.1:6379/").await?;
/// let key = StateKey::actor("shop", "cart", "u42", "items");
/// let etag = store.set(&key, Bytes::from_static(b"[]"), Condition::Absent).await?;
/// assert_eq!(store.get(&key).await?.map(|v| v.etag), Some(etag));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    script: Arc<Script>,
    /// The server's URL without its password, for errors and `Debug`.
    url: Arc<str>,
}

impl RedisStore {
    /// Connects to the Redis server at `url` (`redis://[user:password@]host:port/[db]`).
    ///
    /// Later calls reconnect by themselves when the connection breaks.
    ///
    /// # Errors
    /// [`StoreErrorKind::Invalid`] when `url` is not a Redis URL;
    /// [`StoreErrorKind::Unavailable`], naming the URL (without its password), when the server
    /// cannot be reached in 3 attempts of at most 2 s each.
    pub async fn connect(url: &str) -> Result<RedisStore, StoreError> {
        let shown: Arc<str> = Arc::from(redact(url));
        let client = redis::Client::open(url).map_err(|e| {
            StoreError::new(
                StoreErrorKind::Invalid,
                "connect",
                format!("`{shown}` is not a valid Redis URL: {e}"),
            )
            .with_source(e)
        })?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(CONNECT_ATTEMPTS - 1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| {
                let kind = error_kind(&e);
                StoreError::new(
                    kind,
                    "connect",
                    format!("cannot reach Redis at `{shown}`: {e}"),
                )
                .with_source(e)
            })?;
        Ok(Self {
            conn,
            script: Arc::new(Script::new(SCRIPT)),
            url: shown,
        })
    }

    /// Sends one request. A request that failed because the connection was refused never
    /// reached the server, so it is sent once more: the failure may be a stale one from an
    /// earlier outage, and the second try goes over a fresh connection.
    async fn send(&self, request: Request<'_>) -> RedisResult<Value> {
        let mut conn = self.conn.clone();
        let mut retried = false;
        loop {
            let result = match request {
                Request::Command(cmd) => cmd.query_async(&mut conn).await,
                Request::Pipeline(pipe) => pipe.query_async(&mut conn).await,
                Request::Script(invocation) => invocation.invoke_async(&mut conn).await,
            };
            match result {
                Err(e) if e.is_connection_refusal() && !retried => retried = true,
                other => return other,
            }
        }
    }

    /// Runs [`SCRIPT`] over `ops` and decodes its reply.
    async fn run_script(
        &self,
        op: &'static str,
        ops: &[Operation],
    ) -> Result<Vec<Option<ETag>>, StoreError> {
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(o) = ops.iter().find(|o| o.key().as_str() == ETAG_COUNTER) {
            return Err(StoreError::new(
                StoreErrorKind::Invalid,
                op,
                "the key is reserved for the Redis store's ETag counter",
            )
            .with_key(o.key().clone()));
        }
        let mut invocation = self.script.prepare_invoke();
        invocation.key(ETAG_COUNTER);
        for o in ops {
            invocation.key(o.key().as_str());
        }
        for o in ops {
            let (kind, value): (&str, &[u8]) = match o {
                Operation::Set { value, .. } => ("set", value),
                Operation::Delete { .. } => ("del", b""),
                Operation::Check { .. } => ("chk", b""),
            };
            let condition = match o.condition() {
                Condition::Any => "*".to_owned(),
                Condition::Absent => "-".to_owned(),
                Condition::Matches(etag) => etag.to_string(),
            };
            invocation.arg(kind).arg(condition).arg(value);
        }
        // A single-key call names its key in every error; a transaction's error names the key
        // the script points at, or none.
        let key = match ops {
            [one] => Some(one.key()),
            _ => None,
        };
        let reply = self
            .send(Request::Script(&invocation))
            .await
            .map_err(|e| self.failed(op, key, e))?;
        decode_script_reply(op, ops, reply)
    }

    /// The error of a call `op` on `key` that Redis did not answer as asked.
    fn failed(&self, op: &'static str, key: Option<&StateKey>, e: RedisError) -> StoreError {
        let message = match error_kind(&e) {
            StoreErrorKind::Unavailable => format!("Redis at `{}` is unavailable: {e}", self.url),
            // Not `e`: its text may quote the reply, and so a stored value.
            StoreErrorKind::Corrupt => "Redis sent a reply that does not decode".to_owned(),
            _ => format!("Redis at `{}` failed: {e}", self.url),
        };
        with_key(StoreError::new(error_kind(&e), op, message), key).with_source(e)
    }
}

/// What [`RedisStore::send`] sends.
#[derive(Clone, Copy)]
enum Request<'a> {
    Command(&'a redis::Cmd),
    Pipeline(&'a redis::Pipeline),
    Script(&'a redis::ScriptInvocation<'a>),
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the connection's own Debug: it prints the client's connection info.
        f.debug_struct("RedisStore")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// How a Redis failure maps onto [`StoreErrorKind`].
fn error_kind(e: &RedisError) -> StoreErrorKind {
    match e.kind() {
        // Refused, reset, timed out: the server may be back later.
        redis::ErrorKind::Io => StoreErrorKind::Unavailable,
        redis::ErrorKind::Server(
            ServerErrorKind::BusyLoading
            | ServerErrorKind::TryAgain
            | ServerErrorKind::MasterDown
            | ServerErrorKind::ClusterDown
            | ServerErrorKind::ReadOnly,
        ) => StoreErrorKind::Unavailable,
        redis::ErrorKind::Parse | redis::ErrorKind::UnexpectedReturnType => StoreErrorKind::Corrupt,
        // A foreign writer stored something other than a hash under the key.
        _ if e.code() == Some("WRONGTYPE") => StoreErrorKind::Corrupt,
        redis::ErrorKind::InvalidClientConfig => StoreErrorKind::Invalid,
        _ => StoreErrorKind::Backend,
    }
}

fn with_key(e: StoreError, key: Option<&StateKey>) -> StoreError {
    match key {
        Some(k) => e.with_key(k.clone()),
        None => e,
    }
}

fn corrupt(op: &'static str, key: Option<&StateKey>, message: impl Into<String>) -> StoreError {
    with_key(StoreError::new(StoreErrorKind::Corrupt, op, message), key)
}

/// `url` with its password, if any, replaced by `***`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_owned();
    };
    let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
    if user.len() == userinfo.len() {
        // No password, but the user name alone may be one (`redis://secret@host`).
        return format!("{scheme}://***@{host}{path}");
    }
    format!("{scheme}://{user}:***@{host}{path}")
}

/// Parses an ETag the store wrote: a positive decimal `u64`.
fn parse_etag(op: &'static str, key: Option<&StateKey>, raw: &[u8]) -> Result<ETag, StoreError> {
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
fn optional_etag(
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
fn shape(value: &Value) -> String {
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
fn decode_script_reply(
    op: &'static str,
    ops: &[Operation],
    reply: Value,
) -> Result<Vec<Option<ETag>>, StoreError> {
    let unexpected = |what: &str| {
        let key = match ops {
            [one] => Some(one.key()),
            _ => None,
        };
        corrupt(
            op,
            key,
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
                        (Operation::Set { .. }, None) | (Operation::Delete { .. }, Some(_)) => {
                            Err(unexpected("an etag that does not fit its operation"))
                        }
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

/// The `HMGET key v e` command that reads one key.
fn read_cmd(key: &StateKey) -> redis::Cmd {
    let mut cmd = redis::cmd("HMGET");
    cmd.arg(key.as_str()).arg("v").arg("e");
    cmd
}

/// Decodes the reply to [`read_cmd`].
fn decode_read(
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

#[async_trait]
impl StateStore for RedisStore {
    async fn get(&self, key: &StateKey) -> Result<Option<Versioned>, StoreError> {
        let cmd = read_cmd(key);
        let reply = self
            .send(Request::Command(&cmd))
            .await
            .map_err(|e| self.failed("get", Some(key), e))?;
        decode_read("get", key, reply)
    }

    async fn bulk_get(&self, keys: &[StateKey]) -> Result<Vec<Option<Versioned>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        // Per-command errors (WRONGTYPE) come back as values, so they can name their key.
        pipe.ignore_errors();
        for key in keys {
            pipe.add_command(read_cmd(key));
        }
        let reply = self.send(Request::Pipeline(&pipe)).await.map_err(|e| {
            let key = match keys {
                [one] => Some(one),
                _ => None,
            };
            self.failed("bulk_get", key, e)
        })?;
        let Value::Array(replies) = reply else {
            return Err(corrupt(
                "bulk_get",
                None,
                format!("expected one reply per key, got {}", shape(&reply)),
            ));
        };
        if replies.len() != keys.len() {
            return Err(corrupt(
                "bulk_get",
                None,
                format!("{} replies for {} keys", replies.len(), keys.len()),
            ));
        }
        keys.iter()
            .zip(replies)
            .map(|(key, reply)| decode_read("bulk_get", key, reply))
            .collect()
    }

    async fn set(
        &self,
        key: &StateKey,
        value: Bytes,
        condition: Condition,
    ) -> Result<ETag, StoreError> {
        let ops = [Operation::Set {
            key: key.clone(),
            value,
            condition,
        }];
        match self.run_script("set", &ops).await?[..] {
            [Some(etag)] => Ok(etag),
            _ => Err(corrupt(
                "set",
                Some(key),
                "the write script returned no etag",
            )),
        }
    }

    async fn delete(&self, key: &StateKey, condition: Condition) -> Result<(), StoreError> {
        let ops = [Operation::Delete {
            key: key.clone(),
            condition,
        }];
        self.run_script("delete", &ops).await.map(drop)
    }

    async fn transact(&self, ops: Vec<Operation>) -> Result<Vec<Option<ETag>>, StoreError> {
        check_distinct_keys(&ops)?;
        self.run_script("transact", &ops).await
    }

    /// Redis acknowledged every write when it was applied; there is nothing buffered here.
    async fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::testing::RedisServer;

    /// Longer than any call may take: a call still pending then hangs, which fails the test.
    const HANG: Duration = Duration::from_secs(20);

    /// How long a call may take to report an outage.
    const FAIL_FAST: Duration = Duration::from_secs(5);

    fn key(name: &str) -> StateKey {
        StateKey::actor("app", "type", "id", name)
    }

    fn bytes(b: &'static [u8]) -> Bytes {
        Bytes::from_static(b)
    }

    async fn start(server: &RedisServer) -> RedisStore {
        RedisStore::connect(&server.url())
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Runs `call`, failing the test if it does not finish within [`HANG`], and returns its
    /// result and how long it took.
    async fn bounded<T>(call: impl std::future::Future<Output = T>) -> (T, Duration) {
        let started = Instant::now();
        let result = tokio::time::timeout(HANG, call)
            .await
            .unwrap_or_else(|_| panic!("a store call hung for {HANG:?}"));
        (result, started.elapsed())
    }

    /// Asserts that `result` is a fast [`StoreErrorKind::Unavailable`] error about `key`.
    #[track_caller]
    fn assert_unavailable<T: fmt::Debug>(
        (result, took): (Result<T, StoreError>, Duration),
        key: &StateKey,
    ) {
        let err = result.expect_err("a call during the outage succeeded");
        assert_eq!(err.kind(), StoreErrorKind::Unavailable, "{err}");
        assert_eq!(err.key(), Some(key), "{err}");
        assert!(took < FAIL_FAST, "the call took {took:?} to fail: {err}");
    }

    #[tokio::test]
    async fn connecting_to_an_unreachable_address_fails_fast_naming_it() {
        // A port nobody listens on: bound, then released.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let url = format!("redis://127.0.0.1:{port}/");

        let (result, took) = bounded(RedisStore::connect(&url)).await;
        let err = result.expect_err("connected to nothing");
        assert_eq!(err.kind(), StoreErrorKind::Unavailable, "{err}");
        assert!(err.to_string().contains(&url), "{err}");
        assert!(took < FAIL_FAST, "took {took:?} to fail");
    }

    #[tokio::test]
    async fn a_malformed_url_is_invalid() {
        let err = RedisStore::connect("http://example.invalid:6379")
            .await
            .expect_err("connected with a malformed URL");
        assert_eq!(err.kind(), StoreErrorKind::Invalid, "{err}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_etag_counter_key_cannot_be_written_as_state() {
        let server = RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
        let store = start(&server).await;
        let counter = StateKey::raw(ETAG_COUNTER);
        let err = store
            .set(&counter, bytes(b"1"), Condition::Any)
            .await
            .expect_err("overwrote the etag counter");
        assert_eq!(err.kind(), StoreErrorKind::Invalid, "{err}");
        assert_eq!(err.key(), Some(&counter));
        // ETags still work.
        store
            .set(&key("a"), bytes(b"1"), Condition::Any)
            .await
            .unwrap();
    }

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(redact("redis://127.0.0.1:6379/"), "redis://127.0.0.1:6379/");
        assert_eq!(
            redact("redis://user:hunter2@db:6379/0"),
            "redis://user:***@db:6379/0"
        );
        assert_eq!(redact("redis://:hunter2@db"), "redis://:***@db");
        assert_eq!(redact("rediss://hunter2@db/1"), "rediss://***@db/1");
        assert_eq!(redact("not a url"), "not a url");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_outage_fails_calls_fast_and_after_a_restart_no_acknowledged_write_is_lost() {
        let mut server = RedisServer::start_append_only().unwrap_or_else(|e| panic!("{e}"));
        let store = start(&server).await;
        let (kept, other) = (key("kept"), key("other"));
        let etag = store
            .set(&kept, bytes(b"before"), Condition::Absent)
            .await
            .unwrap();

        server.stop().unwrap();
        assert_unavailable(bounded(store.get(&kept)).await, &kept);
        assert_unavailable(
            bounded(store.set(&kept, bytes(b"during"), Condition::Matches(etag))).await,
            &kept,
        );
        assert_unavailable(bounded(store.delete(&other, Condition::Any)).await, &other);
        let (result, took) = bounded(store.bulk_get(&[kept.clone(), other.clone()])).await;
        let err = result.expect_err("bulk_get during the outage succeeded");
        assert_eq!(err.kind(), StoreErrorKind::Unavailable, "{err}");
        assert!(took < FAIL_FAST, "bulk_get took {took:?} to fail");

        // Same process, same store: it reconnects by itself.
        server.restart().unwrap();
        let (read, _) = bounded(store.get(&kept)).await;
        assert_eq!(
            read.unwrap(),
            Some(Versioned {
                value: bytes(b"before"),
                etag
            }),
            "an acknowledged write was lost"
        );
        let (written, _) =
            bounded(store.set(&kept, bytes(b"after"), Condition::Matches(etag))).await;
        let next = written.unwrap();
        assert!(next > etag, "etag {next} after the restart, {etag} before");
        assert_eq!(
            store.get(&kept).await.unwrap().map(|v| v.value),
            Some(bytes(b"after"))
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn etags_keep_growing_after_redis_lost_all_its_data() {
        let server = RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
        let store = start(&server).await;
        let a = key("a");
        let before = store.set(&a, bytes(b"1"), Condition::Any).await.unwrap();

        // Everything is gone, the ETag counter too (a restart without persistence).
        let mut conn = store.conn.clone();
        redis::cmd("FLUSHALL")
            .query_async::<()>(&mut conn)
            .await
            .unwrap();

        let after = store.set(&a, bytes(b"1"), Condition::Absent).await.unwrap();
        assert!(
            after > before,
            "etag {after} after the data loss, {before} before: an old reader could match it"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn undecodable_keys_are_corrupt_errors_not_panics() {
        let server = RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
        let store = start(&server).await;
        // What a foreign writer might leave: (name, command, arguments after the key).
        let cases: [(&str, &str, &[&str]); 5] = [
            ("a-string", "SET", &["x"]),
            ("no-etag", "HSET", &["v", "x"]),
            ("no-value", "HSET", &["e", "7"]),
            ("bad-etag", "HSET", &["v", "x", "e", "seven"]),
            ("zero-etag", "HSET", &["v", "x", "e", "0"]),
        ];
        let mut conn = store.conn.clone();
        for (name, command, args) in cases {
            let k = key(name);
            redis::cmd(command)
                .arg(k.as_str())
                .arg(args)
                .query_async::<()>(&mut conn)
                .await
                .unwrap();
            let corrupt = |err: StoreError| {
                assert_eq!(err.kind(), StoreErrorKind::Corrupt, "{name}: {err}");
                assert_eq!(err.key(), Some(&k), "{name}: {err}");
            };

            corrupt(store.get(&k).await.expect_err(name));
            corrupt(
                store
                    .bulk_get(&[key("absent"), k.clone()])
                    .await
                    .expect_err(name),
            );
            // A condition cannot be checked against a value without a readable ETag.
            for condition in [Condition::Absent, Condition::Matches(ETag::new(7))] {
                corrupt(
                    store
                        .set(&k, Bytes::new(), condition)
                        .await
                        .expect_err(name),
                );
                corrupt(store.delete(&k, condition).await.expect_err(name));
                let err = store
                    .transact(vec![Operation::Check {
                        key: k.clone(),
                        condition,
                    }])
                    .await
                    .expect_err(name);
                corrupt(err);
            }
            // Under "any" a check takes it as absent, and a write replaces it.
            let etags = store
                .transact(vec![Operation::Check {
                    key: k.clone(),
                    condition: Condition::Any,
                }])
                .await
                .unwrap();
            assert_eq!(etags, vec![None], "{name}");
            let etag = store
                .set(&k, bytes(b"fixed"), Condition::Any)
                .await
                .unwrap();
            assert_eq!(
                store.get(&k).await.unwrap(),
                Some(Versioned {
                    value: bytes(b"fixed"),
                    etag
                }),
                "{name}"
            );
        }

        // An unconditional delete removes what a foreign writer left.
        let k = key("foreign");
        redis::cmd("SET")
            .arg(k.as_str())
            .arg("x")
            .query_async::<()>(&mut conn)
            .await
            .unwrap();
        store.delete(&k, Condition::Any).await.unwrap();
        assert_eq!(store.get(&k).await.unwrap(), None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn values_are_one_hash_per_key_and_debug_hides_them() {
        let server = RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
        let store = start(&server).await;
        let k = key("secret");
        let etag = store
            .set(&k, bytes(b"hunter2"), Condition::Any)
            .await
            .unwrap();

        let mut conn = store.conn.clone();
        let (value, stored_etag): (Vec<u8>, String) = redis::cmd("HMGET")
            .arg(k.as_str())
            .arg("v")
            .arg("e")
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(value, b"hunter2");
        assert_eq!(stored_etag, etag.to_string());

        let shown = format!("{store:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains(&server.url()), "{shown}");
    }
}
