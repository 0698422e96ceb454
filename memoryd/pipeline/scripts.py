"""The Lua scripts that make each pipeline step atomic inside Redis.

Each script touches only the keys it is given (see :mod:`memoryd.pipeline.keys`; the erasure steps and
MOVE_RETRIES also name status records by their prefix, as said there). Redis runs a script alone: no
other client sees one half done. What "whole or not at all" covers beyond that:

- A script that stops on a runtime error (a bad argument, a table too large for ``unpack``) is *not*
  rolled back: what it wrote before the error stays. So each script does what may fail before its
  first write: it decodes its arguments, and checks and bounds the field list of every entry it adds
  (one ``XADD`` of all of an entry's fields unpacks them in Lua, which stops near 8000 values; see
  ``entry()`` below, and :func:`memoryd.pipeline.events.bounded_fields`, which bounds what a worker
  reads far lower).
- Where a step adds and removes (a retry or a dead letter, and the acknowledgement and deletion of
  its entry; a due retry put back on the stream; a dead letter replayed), the add comes first: a
  failure between them leaves the event in both places (its repeat is a duplicate the status record
  and the store recognise), never in neither.
- A script over many items (FINISH's outcomes, MOVE_RETRIES' due retries, the erasure's entries) is
  whole per item: those before a failure stay done.
- A script's writes reach the append-only file and replicas together once it has ended (wrapped in
  ``MULTI``/``EXEC``): a Redis killed while one runs restarts with none of them.

So an event is never acknowledged without its outcome being recorded, never enqueued without its
status, and no entry a script cannot re-add (too wide, or not a field list at all) stops a step for
good: it is bounded, or dead-lettered as it was.

A status record expires ``pipeline.result_ttl_s`` after its event has ended (done or
dead-lettered). While the event waits, runs or waits for a retry it is kept much longer
(:data:`UNFINISHED_KEEP_MS`, renewed at each step), so an event queued for longer than
``result_ttl_s`` is still known — a retry of its add is still recognised, another add under
its id still refused — and yet the record of an entry deleted from the stream by hand does
not stay forever.
"""

from __future__ import annotations

from typing import Any

from memoryd.pipeline.events import EXTRA_FIELDS, EXTRA_FIELDS_BYTES, KNOWN_FIELDS

__all__ = [
    "BEGIN", "DROP_STATUSES", "ENQUEUE", "ERASE_RETRIES", "ERASE_STREAM", "FINISH", "FORGOTTEN_KEEP_MS",
    "HEARTBEAT", "HOLD", "KEEPALIVE", "LEAVE", "LET_GO", "MARK", "MOST_VALUES", "MOVE_RETRIES", "REPLAY",
    "UNFINISHED_KEEP_MS", "allowing_oom", "clock_ms",
]  # fmt: skip

UNFINISHED_KEEP_MS = 30 * 86_400_000  # how long the status of an event that has not ended is kept
# How long a user's deletion mark is kept: as long as the store keeps its own (APPLIED_KEEP_S).
FORGOTTEN_KEEP_MS = 30 * 86_400_000

# Redis's clock, in ms, for the scripts that compare times written by different hosts (heartbeats,
# retry due times, when an event was enqueued and when its user was deleted): one clock, so a host
# whose own is behind or ahead neither looks dead nor alive, nor has its user's adds skipped.
# (Formatted with %.0f: Lua would write a number this size as 1.7e+12.)
_CLOCK = """
local function now_ms(up)
  local t = redis.call('TIME')
  local us = tonumber(t[1]) * 1000000 + tonumber(t[2])
  if up then return math.ceil(us / 1000) end
  return math.floor(us / 1000)
end
"""



async def clock_ms(client: Any, *, up: bool = False) -> int:
    """Redis's clock (``TIME``) in ms, as the scripts' ``now_ms`` reads it (``up``: rounded up, so
    that the events of that millisecond count as before it)."""
    seconds, micros = await client.time()
    us = int(seconds) * 1_000_000 + int(micros)
    return -(-us // 1000) if up else us // 1000


# The most values a script gives one XADD (Lua's unpack() fails near 8000). What a worker reads is
# bounded far lower (events.MAX_ENTRY_FIELDS): this bounds what it never read (a retry an older worker
# left, a dead letter replayed).
MOST_VALUES = 1000
# The fields a bounded entry keeps as they are: the event's, and a dead letter's (redis_queue.DLQ_FIELDS).
_KEPT = sorted(KNOWN_FIELDS) + ["dlq_error", "dlq_attempts", "dlq_at", "dlq_stream_id", "dlq_consumer"]

# entry(flat): a decoded field/value list made ready for one XADD: nil unless it is a non-empty list of
# strings in pairs; with more than MOST_VALUES values, the fields in _KEPT and, under EXTRA_FIELDS, a
# JSON object of the others as events.bounded_fields writes it. It writes nothing.
_ENTRY = (
    """
local KEPT = {__KEPT__}
local function entry(flat)
  if type(flat) ~= 'table' or #flat == 0 or #flat % 2 == 1 then return nil end
  for i = 1, #flat do
    if type(flat[i]) ~= 'string' then return nil end
  end
  if #flat <= __MOST__ then return flat end
  local out, seen, parts, size, count, full = {}, {}, {}, 0, 0, false
  for i = 1, #flat, 2 do
    local name, value = flat[i], flat[i + 1]
    if KEPT[name] then
      if not seen[name] then
        seen[name] = true
        out[#out + 1] = name
        out[#out + 1] = value
      end
    else
      count = count + 1
      if not full then
        local piece = cjson.encode(name) .. ':' .. cjson.encode(value)
        full = size + #piece + 1 > __BYTES__
        if not full then
          parts[#parts + 1] = piece
          size = size + #piece + 1
        end
      end
    end
  end
  out[#out + 1] = '__EXTRA__'
  out[#out + 1] = '{"count":' .. count .. ',"fields":{' .. table.concat(parts, ',') .. '}}'
  return out
end
"""
    .replace("__KEPT__", ", ".join(f"[{name!r}] = true" for name in _KEPT))
    .replace("__MOST__", str(MOST_VALUES))
    .replace("__BYTES__", str(EXTRA_FIELDS_BYTES))
    .replace("__EXTRA__", EXTRA_FIELDS)
)


def allowing_oom(script: str) -> str:
    """``script`` flagged to run when Redis is over ``maxmemory`` with ``noeviction`` (a script
    shebang, Redis >= 7; older servers read no shebang). The worker's scripts carry it: a queue that
    filled Redis is drained by them (each outcome acknowledges and deletes its entry), and without
    it Redis refuses their first ``SET`` for good. The producer's ``ENQUEUE`` and the operator's
    ``REPLAY`` add entries, and stay refused there."""
    return "#!lua flags=allow-oom\n" + script

# Enqueue once per event id, adding ``enqueued_ms`` (Redis's clock) to the entry unless it has one.
# KEYS: status, stream, stats.
# ARGV: created_at, source, event_id, the entry's field/value pairs as one JSON list
# (one argument rather than a dozen: the client encodes far less per event), owner (the
# payload's user_id or "": event lookups by a user-bound key check it), digest (the payload's
# fingerprint: a second submission of the id is a retry only with the same one), nonce (this
# submission's: when the client library sends the script again after a lost answer, the second
# run finds its own first one, and answers as it did), the other digests of the same add (space
# separated, optional): ``duplicates_enqueued`` counts a known id sent again by its own user with
# one of them (a retry the producer answers NOOP), never another add under the id (a 409).
# Returns {1, stream_id} for a new event, {0, status hash as a flat list} for a known id. An id whose
# dead letter was purged (``purged_at``, see PURGE) is no known id: nothing of its add remains, so an
# add under it is a new event (its record replaced whole).
ENQUEUE = """
local known = redis.call('HGETALL', KEYS[1])
if #known > 0 and redis.call('HEXISTS', KEYS[1], 'purged_at') == 1 then
  redis.call('DEL', KEYS[1])
  known = {}
end
if #known > 0 then
  if ARGV[7] ~= '' and redis.call('HGET', KEYS[1], 'nonce') == ARGV[7] then
    return {1, redis.call('HGET', KEYS[1], 'stream_id')}
  end
  local mine = redis.call('HMGET', KEYS[1], 'owner', 'digest')
  local digest = mine[2] or ''
  if (mine[1] or '') == (ARGV[5] or '') and (digest == '' or digest == ARGV[6]
      or string.find(' ' .. (ARGV[8] or '') .. ' ', ' ' .. digest .. ' ', 1, true)) then
    redis.call('HINCRBY', KEYS[3], 'duplicates_enqueued', 1)
  end
  return {0, known}
end
local fields = cjson.decode(ARGV[4])
if #fields + 2 > __MOST__ then  -- before any write (none of memoryd's producers writes so many)
  return redis.error_reply('ENQUEUE: an entry of ' .. #fields .. ' values, more than __MOST__')
end
local stamped = false
for i = 1, #fields, 2 do
  if fields[i] == 'enqueued_ms' then stamped = true end
end
if not stamped then
  fields[#fields + 1] = 'enqueued_ms'
  fields[#fields + 1] = string.format('%.0f', now_ms(false))
end
local id = redis.call('XADD', KEYS[2], '*', unpack(fields))
redis.call('HSET', KEYS[1], 'event_id', ARGV[3], 'status', 'queued', 'attempts', '0', 'source', ARGV[2],
  'created_at', ARGV[1], 'updated_at', ARGV[1], 'stream_id', id, 'owner', ARGV[5] or '',
  'digest', ARGV[6] or '', 'nonce', ARGV[7] or '')
redis.call('PEXPIRE', KEYS[1], __KEEP_MS__)
redis.call('HINCRBY', KEYS[3], 'enqueued', 1)
return {1, id}
""".replace("__KEEP_MS__", str(UNFINISHED_KEEP_MS)).replace("__MOST__", str(MOST_VALUES))
ENQUEUE = _CLOCK + ENQUEUE

# Take the processing lock of a batch of events, unless they are finished.
# KEYS: status_1, lock_1, status_2, lock_2, ... ARGV: consumer, lease_ms, now, holder (the lock's
# value: the consumer's name and its process's token, so that two processes given one name never
# both hold a lock), then event_id, attempts, stream_id, digest of each event. Returns one
# {state, previous status} per event: state is claimed, duplicate (done or dead-lettered), busy
# (another worker holds the lock) or conflict: the status record keeps another add's digest (the
# id was reused after this event's status expired), so this delivery is not that event, and must
# neither run as it nor be dropped as its duplicate. A digest of '' (unknown) matches any.
BEGIN = """
local out = {}
for i = 1, #KEYS / 2 do
  local status, lock = KEYS[2 * i - 1], KEYS[2 * i]
  local base = 4 + 4 * (i - 1)
  local known = redis.call('HMGET', status, 'status', 'digest')
  local st, digest = known[1], known[2]
  if digest and digest ~= '' and ARGV[base + 4] ~= '' and digest ~= ARGV[base + 4] then
    out[i] = {'conflict', st or ''}
  elseif st == 'done' or st == 'dead_lettered' then
    out[i] = {'duplicate', st}
  else
    local ok = redis.call('SET', lock, ARGV[4], 'NX', 'PX', ARGV[2])
    if not ok and redis.call('GET', lock) ~= ARGV[4] then
      out[i] = {'busy', st or ''}
    else
      if not ok then redis.call('PEXPIRE', lock, ARGV[2]) end
      redis.call('HSET', status, 'event_id', ARGV[base + 1], 'status', 'processing', 'consumer', ARGV[1],
        'attempts', ARGV[base + 2], 'updated_at', ARGV[3], 'stream_id', ARGV[base + 3])
      redis.call('HSETNX', status, 'created_at', ARGV[3])
      redis.call('PEXPIRE', status, __KEEP_MS__)  -- unfinished: kept long, renewed
      out[i] = {'claimed', st or ''}
    end
  end
end
return out
""".replace("__KEEP_MS__", str(UNFINISHED_KEEP_MS))

# Record how each delivery of a batch ended and acknowledge it, each one atomically.
# KEYS: stream, stats, retry, dlq, then status_i, lock_i, user mark_i, reset mark_i of each outcome
# (the deletion marks of the event's user and tenant, see MARK).
# ARGV: group, consumer, now, ttl_ms, delete_acked ('1'/'0'), holder (the locks' value, as in BEGIN),
# then one JSON object per outcome,
# every value a string: kind, id (stream id), attempts, event ('1' if it has an event id), at (when
# the event was enqueued, ms; '' if unknown), and
#   done:  result (JSON text)
#   retry: error (JSON text), due (ms), retry_at, member (the retry's fields as a JSON list), status
#          ('failed'; 'queued' for an event that waits on the store's outage, no attempt of its failed)
#   dead:  error (JSON text), fields (the dead-letter entry's field/value pairs, a list)
# A delivery another worker acknowledged meanwhile is left alone, except that a result is
# still recorded if none is: the store was written either way. If that other worker dead-lettered
# it (this one stalled past its lease, then committed), its dead letter is withdrawn: the event is
# done, and a replay of the letter would replace its result with an empty one.
# An event whose user was deleted (or whose tenant was reset) at or after its enqueueing (a worker
# was running it as the erasure ran) leaves nothing: its entry is deleted, its status record too, and it
# is neither retried nor dead-lettered.
# What may fail is done first (see the module's docstring): every outcome decoded, and every dead
# letter's fields checked and bounded, before the first write; then, for each outcome, its retry or its
# dead letter is added while its entry is still pending, and only then is the entry acknowledged.
FINISH = _ENTRY + """
local counts = {processed = 0, duplicates = 0, retried = 0, dead_lettered = 0}
local function erased(o, marks)
  if o.event ~= '1' or o.at == nil or o.at == '' then return false end
  for _, key in ipairs(marks) do
    local mark = redis.call('GET', key)
    if mark and tonumber(mark) >= tonumber(o.at) then return true end
  end
  return false
end
-- Whether the group holds the entry unacknowledged (what XACK would acknowledge), read before the
-- add that comes first. A group that is gone (a Redis that restarted empty) holds nothing.
local function pending(id)
  local reply = redis.pcall('XPENDING', KEYS[1], ARGV[1], id, id, 1)
  return type(reply) == 'table' and reply.err == nil and #reply == 1
end
local outcomes = {}
for i = 7, #ARGV do
  local o = cjson.decode(ARGV[i])
  if o.kind == 'dead' then o.fields = entry(o.fields) or {'fields', cjson.encode(o.fields)} end
  if o.kind == 'retry' and tonumber(o.due) == nil then o.due = '0' end
  outcomes[i - 6] = o
end
for n, o in ipairs(outcomes) do
  local status, lock = KEYS[1 + 4 * n], KEYS[2 + 4 * n]
  local gone = erased(o, {KEYS[3 + 4 * n], KEYS[4 + 4 * n]})
  local added = false  -- the retry added, or the dead letter's id
  if not gone and (o.kind == 'retry' or o.kind == 'dead') and pending(o.id) then
    if o.kind == 'retry' then
      redis.call('ZADD', KEYS[3], o.due, o.member)
      added = true
    else
      added = redis.call('XADD', KEYS[4], '*', unpack(o.fields))
    end
  end
  local acked = redis.call('XACK', KEYS[1], ARGV[1], o.id)
  if (ARGV[5] == '1' and acked == 1) or gone then redis.call('XDEL', KEYS[1], o.id) end
  if o.event == '1' and redis.call('GET', lock) == ARGV[6] then redis.call('DEL', lock) end
  if gone then
    redis.call('DEL', status)
    if o.kind == 'ack' then counts.duplicates = counts.duplicates + acked
    else counts.processed = counts.processed + acked end
  elseif o.kind == 'ack' then
    counts.duplicates = counts.duplicates + acked
  elseif o.kind == 'done' then
    local before = redis.call('HMGET', status, 'status', 'dlq_id')
    if acked == 1 or before[1] ~= 'done' then
      if before[1] == 'dead_lettered' and before[2] then redis.call('XDEL', KEYS[4], before[2]) end
      redis.call('HSET', status, 'status', 'done', 'result', o.result, 'finished_at', ARGV[3],
        'updated_at', ARGV[3], 'consumer', ARGV[2], 'attempts', o.attempts)
      redis.call('HDEL', status, 'error', 'retry_at', 'dlq_id')
      redis.call('PEXPIRE', status, ARGV[4])
      counts.processed = counts.processed + 1
    end
  elseif added and o.kind == 'retry' then
    if o.event == '1' then
      redis.call('HSET', status, 'status', o.status or 'failed', 'error', o.error, 'retry_at', o.retry_at,
        'updated_at', ARGV[3], 'attempts', o.attempts)
      redis.call('PEXPIRE', status, __KEEP_MS__)
    end
    counts.retried = counts.retried + 1
  elseif added and o.kind == 'dead' then
    if o.event == '1' then
      redis.call('HSET', status, 'status', 'dead_lettered', 'error', o.error, 'dlq_id', added,
        'updated_at', ARGV[3], 'attempts', o.attempts)
      redis.call('HDEL', status, 'retry_at')
      redis.call('PEXPIRE', status, ARGV[4])
    end
    counts.dead_lettered = counts.dead_lettered + 1
  end
end
for name, n in pairs(counts) do
  if n > 0 then redis.call('HINCRBY', KEYS[2], name, n) end
end
return #ARGV - 6
""".replace("__KEEP_MS__", str(UNFINISHED_KEEP_MS))

# Put retries whose time has come (on Redis's clock, as FINISH scored them) back on the stream, each
# added before it leaves the retry set. KEYS: retry, stream, dlq, stats. ARGV: limit, what status
# record names start with, now (ISO 8601), ttl_ms (of an ended event's status record).
# A retry too wide for one XADD (an older worker's, of an entry it did not bound) goes back bounded
# (see entry()); one that is no field/value list at all is dead-lettered as it was (field ``member``),
# with the event id it names if it names one, whose status record, if it waits for this retry (failed,
# or queued with a retry_at: not one just enqueued or replayed, on the stream), says so: either way the
# step goes on, instead of failing on it at every call.
MOVE_RETRIES = _CLOCK + _ENTRY + """
-- The event id a retry's field/value list names (nil if none), and its status record's key when
-- that record waits for this retry: after a failure, or an outage (queued, with the retry's time).
-- One queued without a retry_at is on the stream (just enqueued, or replayed): it waits for none.
local function named(flat)
  if type(flat) ~= 'table' then return nil, nil end
  for i = 1, #flat - 1, 2 do
    if flat[i] == 'event_id' and type(flat[i + 1]) == 'string' then
      local status = ARGV[2] .. flat[i + 1]
      local st, at = unpack(redis.call('HMGET', status, 'status', 'retry_at'))
      if st == 'failed' or (st == 'queued' and at) then return flat[i + 1], status end
      return flat[i + 1], nil
    end
  end
  return nil, nil
end
local function poison(member, flat)
  local event_id, waiting = named(flat)
  local error = cjson.encode({code = 'invalid_input', type = 'InvalidInputError', transient = false,
    field = 'event', message = 'a retry that is no list of field/value pairs could not be put back on the '
      .. 'stream: dead-lettered as it was (its text is the field member)'})
  local letter = {'member', member, 'dlq_error', error, 'dlq_attempts', '0', 'dlq_at', ARGV[3]}
  if event_id then
    letter[6] = redis.call('HGET', ARGV[2] .. event_id, 'attempts') or '0'
    letter[#letter + 1] = 'event_id'
    letter[#letter + 1] = event_id
  end
  local id = redis.call('XADD', KEYS[3], '*', unpack(letter))
  if waiting then
    redis.call('HSET', waiting, 'status', 'dead_lettered', 'error', error, 'dlq_id', id,
      'updated_at', ARGV[3])
    redis.call('HDEL', waiting, 'retry_at')
    redis.call('PEXPIRE', waiting, ARGV[4])
  end
  redis.call('HINCRBY', KEYS[4], 'dead_lettered', 1)
end
-- Back on the stream: a status record that waited for this retry reads queued, its time gone (its
-- error, the last attempt's, stays until a worker begins it).
local function back(fields)
  local _, waiting = named(fields)
  if waiting then
    redis.call('HSET', waiting, 'status', 'queued', 'updated_at', ARGV[3])
    redis.call('HDEL', waiting, 'retry_at')
  end
end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms(false), 'LIMIT', 0, ARGV[1])
for _, member in ipairs(due) do
  local ok, flat = pcall(cjson.decode, member)
  local fields = nil
  if ok then fields = entry(flat) end
  if fields then
    redis.call('XADD', KEYS[2], '*', unpack(fields))
    back(fields)
  else
    poison(member, ok and flat)
  end
  redis.call('ZREM', KEYS[1], member)
end
return #due
"""

# Move one dead letter back to the stream, once. KEYS: dlq, stream, status, stats.
# ARGV: dlq_id, now, has_event, event_id, owner, digest, source, dry ('1': a dry run, which answers
# as the replay would, with '' for the new id, and writes nothing), then the entry's field/value
# pairs. Returns {'replayed', new id}; {'gone'} when the letter is no longer there (replayed or
# purged already); {'conflict'} when the event's status record is another add's (the id was
# reused after this event's status expired: replayed, this event would be taken for that one's
# duplicate and dropped), the letter left where it is; {'done'} when the event is done already
# (a stalled worker committed it after it was dead-lettered): the letter is removed, its status
# left alone, since replaying it would replace the result with an empty one. A status record
# that expired meanwhile is made whole again (event id, owner, digest, source), so its user can
# look the event up and retry its add. The owner is compared too when the letter's digest is
# unknown (a letter this code cannot decode), and neither is when the record keeps no digest
# (an event an external producer added without one). The entry's fields are bounded as entry() does,
# and it is on the stream before its letter leaves the DLQ.
REPLAY = _ENTRY + """
local dry = ARGV[8] == '1'
local flat = {}
for i = 9, #ARGV do flat[#flat + 1] = ARGV[i] end
local fields = entry(flat)  -- checked and bounded before any write
if fields == nil then return redis.error_reply('REPLAY: the entry has no field/value pairs') end
if #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1]) == 0 then return {'gone'} end
if ARGV[3] == '1' then
  local known = redis.call('HMGET', KEYS[3], 'status', 'owner', 'digest')
  local st, owner, digest = known[1], known[2] or '', known[3]
  if digest and digest ~= '' and ((ARGV[6] ~= '' and digest ~= ARGV[6]) or owner ~= ARGV[5]) then
    return {'conflict'}
  end
  if st == 'done' then
    if not dry then redis.call('XDEL', KEYS[1], ARGV[1]) end
    return {'done'}
  end
end
if dry then return {'replayed', ''} end
local id = redis.call('XADD', KEYS[2], '*', unpack(fields))  -- on the stream first, then out of the DLQ
redis.call('XDEL', KEYS[1], ARGV[1])
if ARGV[3] == '1' then
  if redis.call('EXISTS', KEYS[3]) == 0 then
    redis.call('HSET', KEYS[3], 'event_id', ARGV[4], 'owner', ARGV[5], 'digest', ARGV[6], 'source', ARGV[7],
      'created_at', ARGV[2])
  end
  redis.call('HSET', KEYS[3], 'status', 'queued', 'stream_id', id, 'updated_at', ARGV[2], 'attempts', '0')
  redis.call('HDEL', KEYS[3], 'error', 'dlq_id', 'retry_at', 'result', 'finished_at')
  redis.call('HINCRBY', KEYS[3], 'replays', 1)
  redis.call('PEXPIRE', KEYS[3], __KEEP_MS__)  -- queued again: kept long, until it ends
end
redis.call('HINCRBY', KEYS[4], 'replayed', 1)
return {'replayed', id}
""".replace("__KEEP_MS__", str(UNFINISHED_KEEP_MS))

# Delete dead letters (``memoryd dlq purge``), saying so in the status record of each one's event
# while that record still points at it (not once the event was replayed, or its id reused): it stays
# dead_lettered (its add was never stored), its dlq_id gone, its error ``dlq_purged`` (the error it
# died of under ``cause``) and ``purged_at`` set, so that an add again under its id is a new event
# (ENQUEUE). KEYS: the dlq, then each letter's event's status record (the dlq's own name for a
# letter of no readable event id). ARGV: now, the message, then each letter's entry id.
# Returns how many letters were deleted.
PURGE = """
local n = 0
for i = 2, #KEYS do
  local id = ARGV[i + 1]
  local gone = redis.call('XDEL', KEYS[1], id)
  n = n + gone
  if gone == 1 and KEYS[i] ~= KEYS[1] and redis.call('HGET', KEYS[i], 'dlq_id') == id then
    local err = {code = 'dlq_purged', message = ARGV[2], purged_at = ARGV[1], dlq_id = id}
    local ok, cause = pcall(cjson.decode, redis.call('HGET', KEYS[i], 'error') or 'null')
    if ok and type(cause) == 'table' then err.cause = cause end
    redis.call('HSET', KEYS[i], 'error', cjson.encode(err), 'updated_at', ARGV[1], 'purged_at', ARGV[1])
    redis.call('HDEL', KEYS[i], 'dlq_id')
  end
end
return n
"""

# Refresh the leases this worker still holds. KEYS: stream, then one lock key per entry.
# ARGV: consumer, lease_ms, group, holder (the locks' value, as in BEGIN), then the entries' stream
# ids (in the order of their locks).
# An entry is claimed again (its idle time reset) only while its lock is still this worker's:
# once another worker has reclaimed it after this one stalled, it stays that worker's.
KEEPALIVE = """
local n = 0
for i = 2, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[4] then
    redis.call('PEXPIRE', KEYS[i], ARGV[2])
    redis.call('XCLAIM', KEYS[1], ARGV[3], ARGV[1], 0, ARGV[i + 3], 'JUSTID')
    n = n + 1
  end
end
return n
"""

# Per-owner locks (a user's adds run one at a time across workers). KEYS: the owners' lock
# keys; ARGV[1] holder (the consumer's name and its process's token, as in BEGIN), ARGV[2] lease ms.
# HOLD takes each free one or extends one already this holder's: 1 per key held now, else 0. LET_GO
# deletes those still this holder's.
HOLD = """
local out = {}
for i = 1, #KEYS do
  local holder = redis.call('GET', KEYS[i])
  if holder == ARGV[1] then
    redis.call('PEXPIRE', KEYS[i], ARGV[2])
    out[i] = 1
  elseif holder == false then
    redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2])
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
"""

LET_GO = """
local n = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('DEL', KEYS[i])
    n = n + 1
  end
end
return n
"""

# A worker's heartbeat, and its claim on its consumer name. KEYS: claim, workers, workers_info.
# ARGV: token (the worker's process's), member, ttl_ms, info (JSON), stale_ms. Scored with Redis's
# clock: a worker whose host clock is behind is not taken for dead, nor one ahead for alive.
# The name is claimed (SET with the heartbeat's expiry) unless another process's token holds it:
# two processes under one name would both "hold" the locks taken under it, and each re-read the
# other's pending entries. A claim no one refreshes (its process died) expires with its heartbeat.
# Returns 0 when the heartbeat is written, else how long (ms) the holder's claim has left.
HEARTBEAT = _CLOCK + """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return math.max(1, redis.call('PTTL', KEYS[1])) end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
local now = now_ms(false)
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[2])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[4])
local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[5]))
for i = 1, #stale, 500 do  -- in slices: unpack() fails near 8000 values
  local last = math.min(i + 499, #stale)
  redis.call('ZREM', KEYS[2], unpack(stale, i, last))
  redis.call('HDEL', KEYS[3], unpack(stale, i, last))
end
return 0
"""

# A worker leaves: its claim on its name and its heartbeat go, unless another process holds the
# name now (then they are that one's). KEYS: claim, workers, workers_info. ARGV: token, member.
# Returns 1 when it left, 0 when the name was another's.
LEAVE = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[2])
return 1
"""

# Erasing a user (or, a reset, every user of a tenant) from the queue, in steps of bounded work, so that
# Redis answers every other client between them. First MARK, once the store's erasure has succeeded
# (one that failed leaves no mark and sweeps nothing): the deletion's time on Redis's clock, read before
# that erasure, rounded up (workers skip events enqueued up to then, and FINISH records nothing of one a
# worker was running). Then ERASE_RETRIES, ERASE_STREAM over the dead-letter stream, ERASE_STREAM over
# the stream (in that order: a retry or a dead letter put back on the stream during its sweep is met
# again there) delete each entry of theirs enqueued at or before the mark, and the status record it names
# (finished events' are found by :data:`DROP_STATUSES`). An entry enqueued after the mark is a new
# event: kept. Whose an entry is: its payload's tenant (none: the default one) and user_id; for a reset,
# an entry whose payload cannot be read goes by its event id's tenant prefix. When it was enqueued: its
# ``enqueued_ms``; without one (an older or external producer's), its stream id's time (a dead letter's
# ``dlq_stream_id``); a retry without one is taken as enqueued before the mark.
# Each step ARGV: tenant, user_id ('' for a reset), the default tenant's name, the mark (ms), what status
# record names start with, the cursor, at most how many entries to look at, at most how many bytes of
# them to read; ERASE_STREAM adds the last id to sweep (the key's last one when the sweep began).
# Each step returns {the next cursor ('' when the sweep is over), how many entries it deleted}.
_WHOSE = """
local tenant, user, default, all = ARGV[1], ARGV[2], ARGV[3], ARGV[2] == ''
local mark, prefix, most, budget = tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[7]), tonumber(ARGV[8])
local function field(flat, name)
  for i = 1, #flat - 1, 2 do
    if flat[i] == name then return flat[i + 1] end
  end
  return nil
end
local function theirs(flat)
  local ok, p = pcall(cjson.decode, field(flat, 'payload') or '')
  if not ok or type(p) ~= 'table' then
    if not all then return false end
    local id = field(flat, 'event_id') or ''
    local slash = string.find(id, '/', 1, true)
    if slash then return string.sub(id, 1, slash - 1) == tenant end
    return tenant == default
  end
  local of = p.tenant
  if type(of) ~= 'string' then of = default end
  return of == tenant and (all or p.user_id == user)
end
local function old(flat, id)
  local at = tonumber(field(flat, 'enqueued_ms') or '')
  if at == nil then
    local from = field(flat, 'dlq_stream_id') or id or ''
    at = tonumber(string.match(from, '^(%d+)%-') or '')
  end
  return at == nil or at <= mark
end
local function drop_status(flat)  -- unless the record is another add's (one that reused the id)
  local id = field(flat, 'event_id')
  if id == nil then return end
  local status = prefix .. id
  local owner = redis.call('HGET', status, 'owner')
  if all or owner == user or owner == false then redis.call('DEL', status) end
end
"""

# KEYS: the mark, the mark's old name (an older memoryd's: deleted). ARGV: the mark (ms), how long it is
# kept (ms). A later mark there already (a deletion of the same user that began after this one) stays.
MARK = """
local at = tonumber(redis.call('GET', KEYS[1]) or '')
if at == nil or at < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
if KEYS[2] ~= KEYS[1] then redis.call('DEL', KEYS[2]) end
return 1
"""

# KEYS: the stream (or the dlq). The cursor: the last id looked at ('-' to begin).
ERASE_STREAM = _WHOSE + """
local cursor, last, seen, bytes, n = ARGV[6], ARGV[9], 0, 0, 0
while seen < most and bytes < budget do
  local start = '-'
  if cursor ~= '-' then start = '(' .. cursor end
  local chunk = redis.call('XRANGE', KEYS[1], start, last, 'COUNT', math.min(100, most - seen))
  if #chunk == 0 then return {'', n} end
  for _, entry in ipairs(chunk) do
    local flat = entry[2]
    seen, bytes = seen + 1, bytes + #(field(flat, 'payload') or '')
    if theirs(flat) and old(flat, entry[1]) then
      redis.call('XDEL', KEYS[1], entry[1])
      drop_status(flat)
      n = n + 1
    end
  end
  cursor = chunk[#chunk][1]
  if cursor == last then return {'', n} end
end
return {cursor, n}
"""

# KEYS: the retry set. The cursor: ZSCAN's ('0' to begin).
ERASE_RETRIES = _WHOSE + """
local cursor, seen, bytes, n = ARGV[6], 0, 0, 0
repeat
  local reply = redis.call('ZSCAN', KEYS[1], cursor, 'COUNT', 100)
  cursor = reply[1]
  for i = 1, #reply[2], 2 do
    local member = reply[2][i]
    seen, bytes = seen + 1, bytes + #member
    local ok, flat = pcall(cjson.decode, member)
    if ok and type(flat) == 'table' and theirs(flat) and old(flat, nil) then
      redis.call('ZREM', KEYS[1], member)
      drop_status(flat)
      n = n + 1
    end
  end
until cursor == '0' or seen >= most or bytes >= budget
if cursor == '0' then cursor = '' end
return {cursor, n}
"""

# Delete the status records given that are the user's (ARGV[1]; '' for a reset: every one given) and
# whose event was enqueued at or before the mark (ARGV[2], ms; by the time of the stream id the record
# names, none: taken as before): an event enqueued after the deletion began is new, its record stays.
# KEYS: status records of one tenant, found by a SCAN after the erasure's sweeps. Returns how many went.
DROP_STATUSES = """
local n, mark = 0, tonumber(ARGV[2])
for i = 1, #KEYS do
  local known = redis.call('HMGET', KEYS[i], 'owner', 'stream_id')
  local at = tonumber(string.match(known[2] or '', '^(%d+)%-') or '')
  if (ARGV[1] == '' or known[1] == ARGV[1]) and (at == nil or at <= mark) then
    n = n + redis.call('DEL', KEYS[i])
  end
end
return n
"""
