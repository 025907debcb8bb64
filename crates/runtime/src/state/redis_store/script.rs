//! The Lua script behind every write of the Redis store.

/// The one script behind every write: `set`, `delete` and `transact`.
///
/// `KEYS[1]` is [`ETAG_COUNTER`](super::ETAG_COUNTER); `KEYS[i + 1]` is the key of operation `i`. Operation `i` has
/// three arguments:
/// - `ARGV[3i-2]`: its kind, `set`, `del` or `chk`;
/// - `ARGV[3i-1]`: its condition, `*` (any), `-` (absent) or the decimal ETag it must match;
/// - `ARGV[3i]`: the value of a `set`, empty otherwise.
///
/// Index operations name the sorted set (`ZSET`) of the index as their key, kind `zad` (value:
/// `"<score> <member>"`, score in decimal) or `zrm` (value: the member), and condition `*`. Their
/// key must hold a sorted set or nothing; the result is nil.
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
pub(super) const SCRIPT: &str = r#"
local n = #KEYS - 1
local current = {}
for i = 1, n do
  local key, cond = KEYS[i + 1], ARGV[3 * i - 1]
  local etag, why = false, nil
  local t = redis.call('TYPE', key)['ok']
  local kind = ARGV[3 * i - 2]
  if kind == 'zad' or kind == 'zrm' then
    if t ~= 'zset' and t ~= 'none' then
      return {'corrupt', i, 'it holds a ' .. t .. ', not a sorted set'}
    end
    if kind == 'zad' and not string.match(ARGV[3 * i], '^%d+ ') then
      return {'corrupt', i, 'an index entry without a score'}
    end
    t = 'index'
  end
  if t == 'index' then
    why = nil
  elseif t == 'hash' then
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
  elseif kind == 'zad' then
    local score, member = string.match(ARGV[3 * i], '^(%d+) (.*)$')
    redis.call('ZADD', key, score, member)
    out[i + 1] = false
  elseif kind == 'zrm' then
    redis.call('ZREM', key, ARGV[3 * i])
    out[i + 1] = false
  else
    out[i + 1] = current[i]
  end
end
return out
"#;
