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
    check_distinct_keys, Condition, ETag, IndexEntry, Operation, StateKey, StateStore, StoreError,
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

mod reply;
mod script;

use reply::{corrupt, decode_read, decode_script_reply, parse_score, read_cmd, shape, single_key};
use script::SCRIPT;

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
            let entry;
            let (kind, value): (&str, &[u8]) = match o {
                Operation::Set { value, .. } => ("set", value),
                Operation::Delete { .. } => ("del", b""),
                Operation::Check { .. } => ("chk", b""),
                Operation::IndexAdd { member, score, .. } => {
                    entry = format!("{score} {member}");
                    ("zad", entry.as_bytes())
                }
                Operation::IndexRemove { member, .. } => ("zrm", member.as_bytes()),
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
        let reply = self
            .send(Request::Script(&invocation))
            .await
            .map_err(|e| self.failed(op, single_key(ops), e))?;
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
        StoreError::new(error_kind(&e), op, message)
            .with_optional_key(key)
            .with_source(e)
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

    async fn scan_index(
        &self,
        index: &StateKey,
        max_score: u64,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<IndexEntry>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let op = "scan_index";
        let mut cmd = redis::cmd("ZRANGEBYSCORE");
        cmd.arg(index.as_str())
            .arg("-inf")
            .arg(max_score)
            .arg("WITHSCORES")
            .arg("LIMIT")
            .arg(offset)
            .arg(limit);
        let reply = self
            .send(Request::Command(&cmd))
            .await
            .map_err(|e| self.failed(op, Some(index), e))?;
        let items = match reply {
            Value::Array(items) => items,
            Value::ServerError(e) if e.code() == "WRONGTYPE" => {
                return Err(corrupt(op, Some(index), "the key is not a sorted set"))
            }
            other => {
                return Err(corrupt(
                    op,
                    Some(index),
                    format!("expected an array, got {}", shape(&other)),
                ))
            }
        };
        let mut out = Vec::with_capacity(items.len() / 2);
        let mut items = items.into_iter();
        // RESP2 replies alternate member, score; RESP3 ones are [member, score] pairs.
        while let Some(item) = items.next() {
            let (member, score) = match item {
                Value::Array(pair) => {
                    let mut pair = pair.into_iter();
                    (pair.next(), pair.next())
                }
                member => (Some(member), items.next()),
            };
            let member = match member {
                Some(Value::BulkString(raw)) => String::from_utf8(raw)
                    .map_err(|_| corrupt(op, Some(index), "an index member is not UTF-8"))?,
                _ => return Err(corrupt(op, Some(index), "an index entry without a member")),
            };
            let score = score
                .as_ref()
                .and_then(parse_score)
                .ok_or_else(|| corrupt(op, Some(index), "an index score is not a whole number"))?;
            out.push(IndexEntry {
                member: StateKey::raw(member),
                score,
            });
        }
        Ok(out)
    }

    /// Redis acknowledged every write when it was applied; there is nothing buffered here.
    async fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
