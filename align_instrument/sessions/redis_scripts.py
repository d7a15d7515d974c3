"""The Lua scripts of :class:`~align_instrument.sessions.redis_store.RedisSessionStore`.

Each store operation is one script, so it costs one round trip and runs atomically in Redis:
two processes serving the same conversation can never take the same index. The scripts
transcribe :class:`~align_instrument.sessions.memory_store.InMemorySessionStore` line by line
(same names, same order); the store-contract tests compare the two call by call.

Keys, all under ``P = "<prefix>:{<project>}:"`` (one hash tag: one slot), every one expiring:

- ``P.."z"``: sorted set, active session id -> last activity (what ``claim_expired`` scans);
- ``P.."s:"..sid``: hash ``u`` (user), ``n`` (next free index), ``t`` (last activity) of an
  active session (session timeout plus a margin);
- ``P.."c:"..sid``: a closed session's next index (the long memory);
- ``P.."a:"..hex``: anchor -> session id, or the ambiguous marker (the long memory);
- ``P.."t:"..hex``: turn hash ``s`` (session), ``r`` (reply index), ``st`` (status) (session timeout);
- ``P.."r:"..key``: response / run id hash ``s``, ``i`` (index, 0 for none) (the long memory);
- ``P.."k:"..sid``: the keys a session wrote, newest first, capped: past the cap the oldest
  are deleted (when still the session's), so a session's key count is bounded.

Arguments common to the writing scripts (ARGV[1..6]): prefix, now, turn TTL, session TTL,
memory TTL (milliseconds), the cap of keys per session. ``KEYS[1]`` is the sorted set.
Optional strings are sent as ``"-"`` (absent) or ``"+" .. value``.
"""

from __future__ import annotations

_COMMON = r"""
local P = ARGV[1]
local NOW = ARGV[2]
local TURN_TTL, SESSION_TTL, MEMORY_TTL = ARGV[3], ARGV[4], ARGV[5]
local MAX_KEYS = tonumber(ARGV[6])
local AMBIGUOUS = "\0ambiguous"
local INFLIGHT, FAILED, DONE, INCOMPLETE = 1, 2, 3, 4

local function optional(value)
  if string.sub(value, 1, 1) == "+" then return string.sub(value, 2) end
  return nil
end

-- Delete a key dropped from a session's list, unless another session took it over since.
local function release(sid, key)
  local kind = string.sub(key, #P + 1, #P + 1)
  local owner
  if kind == "a" then owner = redis.call("GET", key) else owner = redis.call("HGET", key, "s") end
  if owner == sid then redis.call("DEL", key) end
end

local function track(sid, key)
  local list = P .. "k:" .. sid
  local n = redis.call("LPUSH", list, key)
  while n > MAX_KEYS do
    release(sid, redis.call("RPOP", list))
    n = n - 1
  end
  redis.call("PEXPIRE", list, MEMORY_TTL)
end

-- The session's state after an operation: written back whole, its expiry and activity renewed.
local function save_session(sid, user, next_index)
  local skey = P .. "s:" .. sid
  redis.call("HSET", skey, "u", user, "n", next_index, "t", NOW)
  redis.call("PEXPIRE", skey, SESSION_TTL)
  redis.call("ZADD", KEYS[1], NOW, sid)
  redis.call("PEXPIRE", KEYS[1], MEMORY_TTL)
end

local function closed_next(sid)
  local resumed = redis.call("GET", P .. "c:" .. sid)
  if resumed then return tonumber(resumed) end
  return 1
end
"""

BEGIN_TURN = (
    _COMMON
    + r"""
-- ARGV[7..]: user, new session id, session id?, response key?, regenerate_first, opening key,
-- opening count, history count, anchor count, then per anchor: key count, keys, turn key, new count.
local user_id, new_session_id = ARGV[7], ARGV[8]
local session_id, response_key = optional(ARGV[9]), optional(ARGV[10])
local regenerate_first = ARGV[11] == "1"
local opening_key, opening_count, history_count = ARGV[12], tonumber(ARGV[13]), tonumber(ARGV[14])
local anchors, anchor_count = {}, tonumber(ARGV[15])
local pos = 16
for i = 0, anchor_count - 1 do
  local nkeys = tonumber(ARGV[pos])
  local keys = {}
  for j = 1, nkeys do keys[j] = ARGV[pos + j] end
  anchors[i] = {keys = keys, turn_key = ARGV[pos + nkeys + 1], new_count = tonumber(ARGV[pos + nkeys + 2])}
  pos = pos + nkeys + 3
end

local sid, explicit = nil, false
if response_key then
  local point = redis.call("HGET", P .. "r:" .. response_key, "s")
  if point then sid, explicit = point, true end
end
if not sid and session_id then sid, explicit = session_id, true end

local anchor, found, ambiguous = -1, nil, false
for i = 0, anchor_count - 1 do
  for _, k in ipairs(anchors[i].keys) do
    local value = redis.call("GET", P .. "a:" .. k)
    if value == AMBIGUOUS then
      ambiguous = true
    elseif value then
      found = value
      break
    end
  end
  if found then
    anchor, ambiguous = i, false
    break
  end
  if ambiguous then break end
end

local turn_key, count = opening_key, opening_count
if anchor >= 0 then turn_key, count = anchors[anchor].turn_key, anchors[anchor].new_count end
local tkey = P .. "t:" .. turn_key
local turn = nil
local fields = redis.call("HMGET", tkey, "s", "r", "st")
if fields[1] then turn = {sid = fields[1], reply = tonumber(fields[2]), status = tonumber(fields[3])} end
if turn and anchor < 0 then
  local repeats = turn.status == FAILED or turn.status == INCOMPLETE
    or (regenerate_first and (turn.status == DONE or turn.status == INFLIGHT))
  if not repeats then turn = nil end
end
local continues = ""
if not explicit then
  if found then sid = found elseif turn then sid = turn.sid end
end
if sid and not explicit and redis.call("EXISTS", P .. "s:" .. sid) == 0 then
  continues, sid, turn = sid, nil, nil
end
if turn and turn.sid ~= sid then turn = nil end

local opened, log = 0, "new"
if not sid then sid = new_session_id end
local state = redis.call("HMGET", P .. "s:" .. sid, "u", "n")
local state_user, next_index = state[1], tonumber(state[2])
if not state_user then
  state_user, next_index, opened = user_id, closed_next(sid), 1
  if continues == "" and not ambiguous and anchor < 0 then log, count = "history", history_count end
end
local regenerates = 0
if turn then
  log, count = "none", 0
  if turn.status ~= FAILED then regenerates = turn.reply end
  redis.call("HSET", tkey, "st", INFLIGHT)
else
  redis.call("HSET", tkey, "s", sid, "r", 0, "st", INFLIGHT)
  redis.call("PEXPIRE", tkey, TURN_TTL)
  track(sid, tkey)
end
save_session(sid, state_user, next_index + count)
return {sid, state_user, anchor, next_index, log, opened, continues, regenerates, ambiguous and 1 or 0}
"""
)

END_TURN = (
    _COMMON
    + r"""
-- ARGV[7..]: session id, turn key, has text, status, response key?, anchor keys...
local sid, turn_key, has_text, status = ARGV[7], ARGV[8], ARGV[9] == "1", ARGV[10]
local response_key = optional(ARGV[11])
local state = redis.call("HMGET", P .. "s:" .. sid, "u", "n")
local state_user, next_index = state[1], tonumber(state[2])
local closed = not state_user
if closed then next_index = closed_next(sid) end
local reply_index = 0
if has_text then
  reply_index = next_index
  next_index = next_index + 1
end
if not closed then
  save_session(sid, state_user, next_index)
elseif has_text then  -- closed while the call ran: the reply takes a fresh index, the session stays closed
  redis.call("SET", P .. "c:" .. sid, next_index, "PX", MEMORY_TTL)
end
local tkey = P .. "t:" .. turn_key
local turn = redis.call("HMGET", tkey, "s", "r")
if turn[1] == sid then
  redis.call("HSET", tkey, "st", status)
  if tonumber(turn[2]) == 0 then redis.call("HSET", tkey, "r", reply_index) end
end
for i = 12, #ARGV do
  local akey = P .. "a:" .. ARGV[i]
  local value = redis.call("GET", akey)
  if not value or value == sid then
    redis.call("SET", akey, sid, "PX", MEMORY_TTL)
    if not value then track(sid, akey) end
  else
    redis.call("SET", akey, AMBIGUOUS, "PX", MEMORY_TTL)
  end
end
if response_key then
  local rkey = P .. "r:" .. response_key
  redis.call("HSET", rkey, "s", sid, "i", reply_index)
  redis.call("PEXPIRE", rkey, MEMORY_TTL)
  track(sid, rkey)
end
return reply_index
"""
)

FAIL_TURN = r"""
-- KEYS[1]: the turn; ARGV: session id, FAILED, INFLIGHT
local turn = redis.call("HMGET", KEYS[1], "s", "st")
if turn[1] == ARGV[1] and turn[2] == ARGV[3] then redis.call("HSET", KEYS[1], "st", ARGV[2]) end
return 0
"""

PUT_RESPONSE = (
    _COMMON
    + r"""
-- ARGV[7..]: response key, session id, index (0 for none)
local rkey = P .. "r:" .. ARGV[7]
redis.call("HSET", rkey, "s", ARGV[8], "i", ARGV[9])
redis.call("PEXPIRE", rkey, MEMORY_TTL)
track(ARGV[8], rkey)
return 0
"""
)

CLAIM_EXPIRED = r"""
-- KEYS[1]: the sorted set; ARGV: prefix, inactive since, memory TTL, batch size.
-- Runs atomically: each expired session is returned to exactly one caller across the fleet.
local P = ARGV[1]
local expired = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", "(" .. ARGV[2], "LIMIT", 0, tonumber(ARGV[4]))
for _, sid in ipairs(expired) do
  redis.call("ZREM", KEYS[1], sid)
  local skey = P .. "s:" .. sid
  local next_index = redis.call("HGET", skey, "n")
  redis.call("DEL", skey)
  if next_index then redis.call("SET", P .. "c:" .. sid, next_index, "PX", ARGV[3]) end
end
return expired
"""
