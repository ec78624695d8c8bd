#!lua name=relay
-- Relay's store on Redis: each function touches the keys of one peer only, all behind
-- the hash tag {<peer id>}, so every call is atomic and lands on one node of a Redis
-- Cluster. Keys of peer P:
--   relay:{P}:owner     string  SHA-256 of the secret that claimed P (plain SET NX, no function)
--   relay:{P}:inbox     zset    messages waiting for P, scored by seq
--   relay:{P}:ids       hash    "<sender>:<message id>" -> "<seq> <sent_at>" of those messages,
--                               "#<sender>" -> how many of them are that sender's,
--                               and "!seq": the last message seq given
--   relay:{P}:wrote     set     the peers P has written to: its contacts, whose messages
--                               to P get the larger share of P's queue
--   relay:{P}:meta      hash    rseq: the last receipt seq given
--   relay:{P}:outbox    hash    receipts of messages P confirmed, not yet handed to their senders
--   relay:{P}:receipts  zset    receipts of P's own messages, scored by their seq
--   relay:{P}:blocked   set     the peers P blocks: what they send P is dropped (never expires)
--   relay:{P}:presence  hash    "n:<node>" -> when, for each node with a typed socket of P;
--                               "seen" -> when P was last seen; "hidden" -> "1" while P
--                               hides its presence (never expires)
-- and the channel relay:{P}:live, where what is stored for P is published.
--
-- A seq is max(last + 1, now * 1024): increasing per peer, and about the time it was
-- given, so messages of two directions of a conversation sort by time and whatever is
-- scored under cutoff * 1024 was accepted before the cutoff.
--
-- Members:
--   inbox:    "<seq>\n<sent_at>\n<sender>:<id>\n<json: id, from, to, body>"
--   receipts: "<seq>\n<json: id, to, delivered_at[, read_at]>"
-- Notices published on relay:{P}:live: "S" .. inbox member, "R" .. receipts member,
-- "B<P>\n<peer>\n<1|0>": P blocked or unblocked peer.

local SCALE = 1024
local EXPIRE_BATCH = 1000

local function num(n)
  return string.format('%.0f', n)
end

-- Keys expire a TTL after their last write, so a peer gone for good leaves nothing
-- behind. Renewed only once half of it has passed: a read costs less than a write,
-- which goes to the AOF.
local function keep(key, ttl)
  if redis.call('PTTL', key) < tonumber(ttl) / 2 then
    redis.call('PEXPIRE', key, ttl)
  end
end

-- The next seq of `field` in `meta`.
local function next_seq(meta, field, now)
  local last = tonumber(redis.call('HGET', meta, field) or '0')
  local seq = math.max(last + 1, tonumber(now) * SCALE)
  redis.call('HSET', meta, field, num(seq))
  return seq
end

-- The first `n` newline-separated fields of `s`, then the rest.
local function fields(s, n)
  local out, pos = {}, 1
  for _ = 1, n do
    local at = string.find(s, '\n', pos, true)
    if not at then return nil end
    out[#out + 1] = string.sub(s, pos, at - 1)
    pos = at + 1
  end
  out[#out + 1] = string.sub(s, pos)
  return out
end

-- One message of `sender` waits no more for the owner of `ids`.
local function uncount(ids, dedup)
  local colon = string.find(dedup, ':', 1, true)
  if not colon then return end
  local field = '#' .. string.sub(dedup, 1, colon - 1)
  if redis.call('HINCRBY', ids, field, -1) <= 0 then
    redis.call('HDEL', ids, field)
  end
end

-- Drops messages accepted before `cutoff` (ms), a bounded batch per call.
local function expire_inbox(inbox, ids, cutoff)
  local old = redis.call('ZRANGEBYSCORE', inbox, '-inf', '(' .. num(tonumber(cutoff) * SCALE),
    'LIMIT', 0, EXPIRE_BATCH)
  for _, member in ipairs(old) do
    local f = fields(member, 3)
    if f then
      redis.call('HDEL', ids, f[3])
      uncount(ids, f[3])
    end
    redis.call('ZREM', inbox, member)
  end
end

local function expire_receipts(receipts, cutoff)
  redis.call('ZREMRANGEBYSCORE', receipts, '-inf', '(' .. num(tonumber(cutoff) * SCALE))
end

-- KEYS: inbox, ids, wrote, blocked
-- ARGV: dedup key ("<sender>:<id>"), json, now, cutoff, max queue, ttl ms, live channel,
--       publish command, sender, share of a contact, share of a stranger
-- Returns {seq, sent_at, duplicate (0/1)}, {"full", limit} or {"share", limit}. A
-- message from a blocked sender takes a seq and is kept nowhere. What
-- expired is dropped only when a bound is reached (reads drop it too): the common
-- append stays short.
local function append(keys, args)
  local inbox, ids, wrote = keys[1], keys[2], keys[3]
  local dedup, json, now, cutoff = args[1], args[2], args[3], args[4]
  local max_queue, ttl, channel, publish = tonumber(args[5]), args[6], args[7], args[8]
  local sender, per_contact, per_stranger = args[9], tonumber(args[10]), tonumber(args[11])
  if redis.call('SISMEMBER', keys[4], sender) == 1 then
    local last = tonumber(redis.call('HGET', ids, '!seq') or '0')
    local seq = num(math.max(last + 1, tonumber(now) * SCALE))
    redis.call('HSET', ids, '!seq', seq)
    return { seq, now, 0 }
  end
  local found = redis.call('HGET', ids, dedup)
  if found then
    local space = string.find(found, ' ', 1, true)
    local seq, sent_at = string.sub(found, 1, space - 1), string.sub(found, space + 1)
    -- Still waiting: its first delivery may never have happened, so it is noticed again.
    local member = redis.call('ZRANGEBYSCORE', inbox, seq, seq)[1]
    if member then redis.call(publish, channel, 'S' .. member) end
    return { seq, sent_at, 1 }
  end
  local share = per_stranger
  if redis.call('SISMEMBER', wrote, sender) == 1 then share = per_contact end
  local function refusal()
    if redis.call('ZCARD', inbox) >= max_queue then return { 'full', max_queue } end
    if tonumber(redis.call('HGET', ids, '#' .. sender) or '0') >= share then
      return { 'share', share }
    end
  end
  if refusal() then
    expire_inbox(inbox, ids, cutoff)
    local refused = refusal()
    if refused then return refused end
  end
  local last = tonumber(redis.call('HGET', ids, '!seq') or '0')
  local seq = num(math.max(last + 1, tonumber(now) * SCALE))
  local member = seq .. '\n' .. now .. '\n' .. dedup .. '\n' .. json
  redis.call('ZADD', inbox, seq, member)
  redis.call('HSET', ids, '!seq', seq, dedup, seq .. ' ' .. now)
  redis.call('HINCRBY', ids, '#' .. sender, 1)
  keep(inbox, ttl)
  keep(ids, ttl)
  redis.call(publish, channel, 'S' .. member)
  return { seq, now, 0 }
end

-- The owner of `wrote` wrote to a peer: a contact of its.
-- KEYS: wrote
-- ARGV: reader, ttl ms
local function wrote_to(keys, args)
  redis.call('SADD', keys[1], args[1])
  keep(keys[1], args[2])
  return 1
end

-- KEYS: inbox, ids
-- ARGV: after, limit, cutoff
local function waiting(keys, args)
  expire_inbox(keys[1], keys[2], args[3])
  return redis.call('ZRANGEBYSCORE', keys[1], '(' .. args[1], '+inf', 'LIMIT', 0, args[2])
end

-- The recipient confirmed messages: they leave its inbox for its outbox, from where the
-- caller hands each to its sender (receipt_add) and then clears it (outbox_done).
-- KEYS: inbox, ids, outbox
-- ARGV: recipient, at, cutoff, ttl ms, stale, seq...
-- Returns {seq, "<sender>\n<receipt json>", ...}: the entries just moved, and those an
-- earlier caller left behind (moved before `stale`, ms: its node died before clearing
-- them), which go again.
local function deliver(keys, args)
  local inbox, ids, outbox = keys[1], keys[2], keys[3]
  local recipient, at, cutoff, ttl, stale = args[1], args[2], args[3], args[4], tonumber(args[5])
  expire_inbox(inbox, ids, cutoff)
  local out = {}
  local left = redis.call('HGETALL', outbox)
  for i = 1, #left, 2 do
    local f = fields(left[i + 1], 1)
    if f and tonumber(f[1]) < stale then
      out[#out + 1] = left[i]
      out[#out + 1] = f[2]
    end
  end
  for i = 6, #args do
    local member = redis.call('ZRANGEBYSCORE', inbox, args[i], args[i])[1]
    if member then
      local f = fields(member, 3)
      local colon = string.find(f[3], ':', 1, true)
      local sender, id = string.sub(f[3], 1, colon - 1), string.sub(f[3], colon + 1)
      local entry = sender .. '\n{"id":"' .. id .. '","to":"' .. recipient
        .. '","delivered_at":' .. at .. '}'
      redis.call('ZREM', inbox, member)
      redis.call('HDEL', ids, f[3])
      uncount(ids, f[3])
      redis.call('HSET', outbox, f[1], at .. '\n' .. entry)
      out[#out + 1] = f[1]
      out[#out + 1] = entry
    end
  end
  if #out > 0 then keep(outbox, ttl) end
  return out
end

-- KEYS: outbox
-- ARGV: seq...
local function outbox_done(keys, args)
  return redis.call('HDEL', keys[1], unpack(args))
end

-- Receipts for a sender, from its recipients' outboxes (what expired is dropped by the
-- reads).
-- KEYS: receipts, meta
-- ARGV: sender, now, cutoff, ttl ms, live channel, publish command, receipt json...
local function receipt_add(keys, args)
  local receipts, meta = keys[1], keys[2]
  local sender, now, cutoff, ttl, channel, publish = args[1], args[2], args[3], args[4], args[5], args[6]
  for i = 7, #args do
    local seq = num(next_seq(meta, 'rseq', now))
    local member = seq .. '\n' .. args[i]
    redis.call('ZADD', receipts, seq, member)
    redis.call(publish, channel, 'R' .. sender .. '\n' .. member)
  end
  for _, key in ipairs(keys) do keep(key, ttl) end
  return #args - 6
end

-- KEYS: receipts
-- ARGV: after, limit, cutoff
local function receipts_page(keys, args)
  expire_receipts(keys[1], args[3])
  return redis.call('ZRANGEBYSCORE', keys[1], '(' .. args[1], '+inf', 'LIMIT', 0, args[2])
end

-- KEYS: receipts
-- ARGV: seq...
local function receipts_forget(keys, args)
  for _, seq in ipairs(args) do
    redis.call('ZREMRANGEBYSCORE', keys[1], seq, seq)
  end
  return #args
end

-- KEYS: blocked
-- ARGV: owner, peer, on (1/0), at most, live channel, publish command
-- Returns 1, or 0 when blocking one more would pass the bound.
local function block(keys, args)
  local owner, peer, on, limit = args[1], args[2], args[3], tonumber(args[4])
  local channel, publish = args[5], args[6]
  if on == '1' then
    if redis.call('SISMEMBER', keys[1], peer) == 0 and redis.call('SCARD', keys[1]) >= limit then
      return 0
    end
    redis.call('SADD', keys[1], peer)
  else
    redis.call('SREM', keys[1], peer)
  end
  redis.call(publish, channel, 'B' .. owner .. '\n' .. peer .. '\n' .. on)
  return 1
end

-- KEYS: blocked
local function blocked(keys)
  return redis.call('SMEMBERS', keys[1])
end

-- How many nodes have a typed socket of the owner of `presence`.
local function nodes_of(presence)
  local n = 0
  for _, field in ipairs(redis.call('HKEYS', presence)) do
    if string.sub(field, 1, 2) == 'n:' then n = n + 1 end
  end
  return n
end

-- What contacts see of the owner of `presence`: {state, last seen or ''}.
local function shown(presence)
  if redis.call('HEXISTS', presence, 'hidden') == 1 then return { 'unknown', '' } end
  if nodes_of(presence) > 0 then return { 'online', '' } end
  return { 'offline', redis.call('HGET', presence, 'seen') or '' }
end

-- A node has a typed socket of the owner of `presence` (on = 1), or no longer has.
-- KEYS: presence
-- ARGV: node, on (1/0), at
-- Returns what contacts now see, if it changed ({state, last seen}), or {} if not.
local function present(keys, args)
  local presence, field, at = keys[1], 'n:' .. args[1], args[3]
  local hidden = redis.call('HEXISTS', presence, 'hidden') == 1
  if args[2] == '1' then
    local before = nodes_of(presence)
    if redis.call('HSET', presence, field, at) == 0 or before > 0 or hidden then return {} end
    return { 'online', '' }
  end
  if redis.call('HDEL', presence, field) == 0 or nodes_of(presence) > 0 then return {} end
  redis.call('HSET', presence, 'seen', at)
  if hidden then return {} end
  return { 'offline', at }
end

-- The presence of the owner of these keys as `viewer` may see it.
-- KEYS: presence, wrote, blocked
-- ARGV: viewer
local function presence_for(keys, args)
  local viewer = args[1]
  if redis.call('SISMEMBER', keys[2], viewer) == 0
      or redis.call('SISMEMBER', keys[3], viewer) == 1 then
    return { 'unknown', '' }
  end
  return shown(keys[1])
end

-- KEYS: presence
-- ARGV: hidden (1/0)
-- Returns what contacts now see.
local function hide_presence(keys, args)
  if args[1] == '1' then
    redis.call('HSET', keys[1], 'hidden', '1')
  else
    redis.call('HDEL', keys[1], 'hidden')
  end
  return shown(keys[1])
end

redis.register_function('relay_append', append)
redis.register_function('relay_present', present)
redis.register_function{function_name = 'relay_presence', callback = presence_for, flags = {'no-writes'}}
redis.register_function('relay_hide_presence', hide_presence)
redis.register_function('relay_block', block)
redis.register_function{function_name = 'relay_blocked', callback = blocked, flags = {'no-writes'}}
redis.register_function('relay_wrote', wrote_to)
redis.register_function('relay_waiting', waiting)
redis.register_function('relay_deliver', deliver)
redis.register_function('relay_outbox_done', outbox_done)
redis.register_function('relay_receipt_add', receipt_add)
redis.register_function('relay_receipts', receipts_page)
redis.register_function('relay_receipts_forget', receipts_forget)
