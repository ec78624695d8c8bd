#!lua name=relay
-- Relay's store on Redis: each function touches the keys of one peer only, all behind
-- the hash tag {<peer id>}, so every call is atomic and lands on one node of a Redis
-- Cluster. Keys of peer P:
--   relay:{P}:devices   hash    P's devices (never expires): "set" -> their bits (device d is
--                               bit 2^d), "h<d>" -> SHA-256 of device d's secret, "i<d>" ->
--                               its JSON (device, name, linked_at)
--   relay:{P}:owner     string  SHA-256 of the secret that claimed P, as versions before
--                               devices kept it (never expires): moved into devices on first
--                               touch, and written by a claim still, for those versions' sake
--   relay:{P}:code      string  "<expires_at>\n<SHA-256 of the code>": the one-time code that
--                               links one more device, expiring with it
--   relay:{P}:inbox     zset    messages waiting for P's devices, and copies of P's own
--                               messages waiting for its other devices, scored by seq
--   relay:{P}:ids       hash    "<sender>:<message id>" -> "<seq> <sent_at>" of those messages,
--                               ">" .. "<recipient>:<message id>" -> the same of those copies,
--                               "#<sender>" -> how many of the messages are that sender's,
--                               "!copies" -> how many copies (the rest count against
--                               the queue), and "!seq": the last message seq given
--   relay:{P}:waits     hash    "<seq>" -> which devices an inbox entry still waits for (their
--                               bits), + 32 once a message's first confirmation made its
--                               receipt; absent: device 0 alone, no receipt yet (every entry
--                               of an id with one device: nothing written)
--   relay:{P}:wrote     set     the peers P has written to: its contacts, whose messages
--                               to P get the larger share of P's queue
--   relay:{P}:meta      hash    rseq: the last receipt seq given
--   relay:{P}:outbox    hash    receipts of messages P confirmed, not yet handed to their senders
--   relay:{P}:receipts  zset    receipts of P's own messages, scored by their seq
--   relay:{P}:rwaits    hash    "<seq>" -> which of P's devices a receipt still waits for;
--                               absent: device 0 alone
--   relay:{P}:blocked   set     the peers P blocks: what they send P is dropped (never expires)
--   relay:{P}:presence  hash    "n:<node>" -> when, for each node with a typed socket of P;
--                               "seen" -> when P was last seen; "hidden" -> "1" while P
--                               hides its presence (never expires)
--   relay:{P}:keys      hash    "<d>" -> the long-term public keys device d published (JSON,
--                               as given), for end-to-end encryption (never expires)
--   relay:{P}:fallback  hash    "<d>" -> device d's fallback key (JSON), handed out when no
--                               one-time key of its is left (never expires)
--   relay:{P}:otk:<d>   hash    key id -> one of device d's one-time keys (JSON), each handed
--                               out once (never expires)
--   relay:{P}:otk:<d>:order
--                       list    the ids of those keys, oldest first (never expires)
-- and the channel relay:{P}:live, where what is stored for P is published.
--
-- A seq is max(last + 1, now * 1024): increasing per peer, and about the time it was
-- given, so messages of two directions of a conversation sort by time and whatever is
-- scored under cutoff * 1024 was accepted before the cutoff.
--
-- Members:
--   inbox:    "<seq>\n<sent_at>\n<sender>:<id>\n<json: id, from, to, body, encrypted?>" (a
--             message), "<seq>\n<sent_at>\n><recipient>:<id>\n<json: the same>" (a copy);
--             the JSON is built by the Rust side, `encrypted` (end-to-end encrypted, "" as
--             body) absent for a plain message
--   receipts: "<seq>\n<json: id, to, delivered_at[, read_at]>"
-- Notices published on relay:{P}:live: "S" .. inbox member (a message for P), "C" ..
-- inbox member (a copy of one P sent), "R" .. receipts member, "B<P>\n<peer>\n<1|0>": P
-- blocked or unblocked peer, "V<P>\n<device unlinked, or nothing>\n<JSON array of its
-- devices>": P's devices changed.

local SCALE = 1024
local EXPIRE_BATCH = 1000
-- In a waits value, beside the devices' bits: the message's receipt is made.
local RECEIPTED = 32
local DEVICES = 31
local MAX_DEVICES = 5
-- Entries read at a time while looking for those one device waits for.
local PAGE = 256

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

-- The seq a member starts with.
local function seq_of(member)
  return string.sub(member, 1, (string.find(member, '\n', 1, true) or 0) - 1)
end

-- The bit of device `d`.
local function bit_of(d)
  return bit.lshift(1, tonumber(d))
end

-- What an entry still waits for (its waits value), and whether that is written.
local function waits_of(waits, seq)
  local w = redis.call('HGET', waits, seq)
  if w then return tonumber(w), true end
  return 1, false
end

local function set_waits(waits, seq, w, written)
  if w ~= 1 then
    redis.call('HSET', waits, seq, w)
  elseif written then
    redis.call('HDEL', waits, seq)
  end
end

-- Devices --------------------------------------------------------------------------

-- The JSON of device `d`: `name` is JSON already (or '' for none), `at` a number.
local function info(d, name, at)
  local json = '{"device":' .. d
  if name ~= '' then json = json .. ',"name":' .. name end
  return json .. ',"linked_at":' .. at .. '}'
end

-- An id claimed before devices has its owner's hash in `owner`: its device 0 from now
-- on (linked, as far as anyone knows, now). `owner` stays, for earlier versions.
local function migrate(devices, owner, now)
  if redis.call('EXISTS', devices) == 1 then return end
  local hash = redis.call('GET', owner)
  if hash then
    redis.call('HSET', devices, 'set', 1, 'h0', hash, 'i0', info(0, '', now))
  end
end

-- The bits of the devices in `devices` (0: nobody owns the id).
local function owned(devices)
  return tonumber(redis.call('HGET', devices, 'set') or '0')
end

-- The devices of the owner of `devices`, for a message or receipt stored now: an id
-- without devices (claimed before them, or never) has device 0.
local function device_set(devices)
  return tonumber(redis.call('HGET', devices, 'set') or '1')
end

local function devices_json(devices, set)
  local out = {}
  for d = 0, MAX_DEVICES - 1 do
    if bit.band(set, bit_of(d)) ~= 0 then
      out[#out + 1] = redis.call('HGET', devices, 'i' .. d)
    end
  end
  return '[' .. table.concat(out, ',') .. ']'
end

local function notice_devices(devices, set, id, unlinked, channel, publish)
  redis.call(publish, channel, 'V' .. id .. '\n' .. unlinked .. '\n' .. devices_json(devices, set))
end

-- KEYS: devices, owner
-- ARGV: secret hash, now
-- Returns {"claimed", "0"} (the id was nobody's: now the secret's, its device 0), or
-- {device, secret hash, ...} of each device, for the caller to compare in constant time.
local function claim(keys, args)
  local devices, owner, hash, now = keys[1], keys[2], args[1], args[2]
  migrate(devices, owner, now)
  local set = owned(devices)
  if set == 0 then
    redis.call('HSET', devices, 'set', 1, 'h0', hash, 'i0', info(0, '', now))
    redis.call('SET', owner, hash)
    return { 'claimed', '0' }
  end
  local out = {}
  for d = 0, MAX_DEVICES - 1 do
    if bit.band(set, bit_of(d)) ~= 0 then
      out[#out + 1] = tostring(d)
      out[#out + 1] = redis.call('HGET', devices, 'h' .. d)
    end
  end
  return out
end

-- KEYS: devices, owner
-- ARGV: now
-- Returns the JSON of each device, in order.
local function devices_of(keys, args)
  migrate(keys[1], keys[2], args[1])
  local set, out = owned(keys[1]), {}
  for d = 0, MAX_DEVICES - 1 do
    if bit.band(set, bit_of(d)) ~= 0 then
      out[#out + 1] = redis.call('HGET', keys[1], 'i' .. d)
    end
  end
  return out
end

-- KEYS: devices, owner, code
-- ARGV: code hash, secret hash, name (a JSON string, or '' for none), now, id, live
--       channel, publish command
-- Returns {"linked", device}, {"refused"} or {"full"}. A secret already a device of the
-- id finds it (the same link again), whatever the code.
local function link(keys, args)
  local devices, owner, code = keys[1], keys[2], keys[3]
  local code_hash, hash, name, now = args[1], args[2], args[3], args[4]
  migrate(devices, owner, now)
  local set = owned(devices)
  for d = 0, MAX_DEVICES - 1 do
    if bit.band(set, bit_of(d)) ~= 0 and redis.call('HGET', devices, 'h' .. d) == hash then
      return { 'linked', tostring(d) }
    end
  end
  local current = redis.call('GET', code)
  local f = current and fields(current, 1)
  if set == 0 or not f or f[2] ~= code_hash or tonumber(now) >= tonumber(f[1]) then
    return { 'refused' }
  end
  local free
  for d = 0, MAX_DEVICES - 1 do
    if bit.band(set, bit_of(d)) == 0 then
      free = d
      break
    end
  end
  if not free then return { 'full' } end
  set = set + bit_of(free)
  redis.call('HSET', devices, 'set', set, 'h' .. free, hash, 'i' .. free, info(free, name, now))
  redis.call('DEL', code)
  notice_devices(devices, set, args[5], '', args[6], args[7])
  return { 'linked', tostring(free) }
end

-- Messages --------------------------------------------------------------------------

-- Whether an inbox entry's dedup field is a copy's.
local function is_copy(dedup)
  return string.sub(dedup, 1, 1) == '>'
end

-- One entry leaves the inbox: it no longer counts against the queue (a message, for
-- its sender's share too; a copy, among the copies).
local function drop(inbox, ids, waits, member, f)
  redis.call('ZREM', inbox, member)
  redis.call('HDEL', waits, f[1])
  local dedup = f[3]
  redis.call('HDEL', ids, dedup)
  local field
  if is_copy(dedup) then
    field = '!copies'
  else
    local colon = string.find(dedup, ':', 1, true)
    if not colon then return end
    field = '#' .. string.sub(dedup, 1, colon - 1)
  end
  if redis.call('HINCRBY', ids, field, -1) <= 0 then
    redis.call('HDEL', ids, field)
  end
end

-- Drops entries accepted before `cutoff` (ms), a bounded batch per call.
local function expire_inbox(inbox, ids, waits, cutoff)
  local old = redis.call('ZRANGEBYSCORE', inbox, '-inf', '(' .. num(tonumber(cutoff) * SCALE),
    'LIMIT', 0, EXPIRE_BATCH)
  for _, member in ipairs(old) do
    local f = fields(member, 3)
    if f then
      drop(inbox, ids, waits, member, f)
    else
      redis.call('ZREM', inbox, member)
    end
  end
end

-- KEYS: inbox, ids, wrote, blocked, devices, waits
-- ARGV: dedup key ("<sender>:<id>"), json, now, cutoff, max queue, ttl ms, live channel,
--       publish command, sender, share of a contact, share of a stranger
-- Returns {seq, sent_at, duplicate (0/1)}, {"full", limit} or {"share", limit}. The
-- message waits for each device the recipient has now. A message from a blocked sender
-- takes a seq and is kept nowhere. What expired is dropped only when a bound is reached
-- (reads drop it too): the common append stays short.
local function append(keys, args)
  local inbox, ids, wrote, devices, waits = keys[1], keys[2], keys[3], keys[5], keys[6]
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
    local copies = tonumber(redis.call('HGET', ids, '!copies') or '0')
    if redis.call('ZCARD', inbox) - copies >= max_queue then return { 'full', max_queue } end
    if tonumber(redis.call('HGET', ids, '#' .. sender) or '0') >= share then
      return { 'share', share }
    end
  end
  if refusal() then
    expire_inbox(inbox, ids, waits, cutoff)
    local refused = refusal()
    if refused then return refused end
  end
  local last = tonumber(redis.call('HGET', ids, '!seq') or '0')
  local seq = num(math.max(last + 1, tonumber(now) * SCALE))
  local member = seq .. '\n' .. now .. '\n' .. dedup .. '\n' .. json
  redis.call('ZADD', inbox, seq, member)
  redis.call('HSET', ids, '!seq', seq, dedup, seq .. ' ' .. now)
  redis.call('HINCRBY', ids, '#' .. sender, 1)
  set_waits(waits, seq, device_set(devices), false)
  keep(inbox, ttl)
  keep(ids, ttl)
  keep(waits, ttl)
  redis.call(publish, channel, 'S' .. member)
  return { seq, now, 0 }
end

-- A message the owner of these keys sent from one device, kept for its others.
-- KEYS: inbox, ids, devices, waits
-- ARGV: dedup key (">" .. "<recipient>:<id>"), json, sent_at, now, ttl ms, live channel,
--       publish command, the device it came from
-- Returns {seq, duplicate (0/1)}, or {} when the sender has no other device. A copy
-- already kept is noticed again, if it still waits.
local function copy(keys, args)
  local inbox, ids, devices, waits = keys[1], keys[2], keys[3], keys[4]
  local dedup, json, sent_at, now, ttl = args[1], args[2], args[3], args[4], args[5]
  local channel, publish = args[6], args[7]
  local others = bit.band(device_set(devices), bit.bnot(bit_of(args[8])))
  if others == 0 then return {} end
  local found = redis.call('HGET', ids, dedup)
  if found then
    local seq = string.sub(found, 1, string.find(found, ' ', 1, true) - 1)
    local member = redis.call('ZRANGEBYSCORE', inbox, seq, seq)[1]
    if member then redis.call(publish, channel, 'C' .. member) end
    return { seq, 1 }
  end
  local seq = num(next_seq(ids, '!seq', now))
  local member = seq .. '\n' .. sent_at .. '\n' .. dedup .. '\n' .. json
  redis.call('ZADD', inbox, seq, member)
  redis.call('HSET', ids, dedup, seq .. ' ' .. sent_at)
  redis.call('HINCRBY', ids, '!copies', 1)
  set_waits(waits, seq, others, false)
  keep(inbox, ttl)
  keep(ids, ttl)
  keep(waits, ttl)
  redis.call(publish, channel, 'C' .. member)
  return { seq, 0 }
end

-- The owner of `wrote` wrote to a peer: a contact of its.
-- KEYS: wrote
-- ARGV: reader, ttl ms
local function wrote_to(keys, args)
  redis.call('SADD', keys[1], args[1])
  keep(keys[1], args[2])
  return 1
end

-- The entries of `zset` above `after` that `waits` says device bit `b` waits for, at
-- most `limit`, oldest first.
local function page_for(zset, waits, b, after, limit)
  if redis.call('EXISTS', waits) == 0 then
    -- Everything waits for device 0 alone.
    if b ~= 1 then return {} end
    return redis.call('ZRANGEBYSCORE', zset, '(' .. after, '+inf', 'LIMIT', 0, limit)
  end
  local out, from = {}, '(' .. after
  while #out < limit do
    local page = redis.call('ZRANGEBYSCORE', zset, from, '+inf', 'LIMIT', 0, PAGE)
    for _, member in ipairs(page) do
      local seq = seq_of(member)
      if bit.band(waits_of(waits, seq), b) ~= 0 then
        out[#out + 1] = member
        if #out == limit then break end
      end
      from = '(' .. seq
    end
    if #page < PAGE then break end
  end
  return out
end

-- KEYS: inbox, ids, waits
-- ARGV: after, limit, cutoff, device
local function waiting(keys, args)
  expire_inbox(keys[1], keys[2], keys[3], args[3])
  return page_for(keys[1], keys[3], bit_of(args[4]), args[1], tonumber(args[2]))
end

-- A device of the recipient confirmed entries: they wait no more for it. The first
-- confirmation of a message moves its receipt to the recipient's outbox, from where the
-- caller hands it to its sender (receipt_add) and then clears it (outbox_done). An
-- entry no device waits for leaves.
-- KEYS: inbox, ids, outbox, waits
-- ARGV: recipient, at, cutoff, ttl ms, stale, device, seq...
-- Returns {seq, "<sender>\n<receipt json>", ...}: the receipts just made, and those an
-- earlier caller left behind (moved before `stale`, ms: its node died before clearing
-- them), which go again.
local function deliver(keys, args)
  local inbox, ids, outbox, waits = keys[1], keys[2], keys[3], keys[4]
  local recipient, at, cutoff, ttl, stale = args[1], args[2], args[3], args[4], tonumber(args[5])
  local b = bit_of(args[6])
  expire_inbox(inbox, ids, waits, cutoff)
  local out = {}
  local left = redis.call('HGETALL', outbox)
  for i = 1, #left, 2 do
    local f = fields(left[i + 1], 1)
    if f and tonumber(f[1]) < stale then
      out[#out + 1] = left[i]
      out[#out + 1] = f[2]
    end
  end
  for i = 7, #args do
    local member = redis.call('ZRANGEBYSCORE', inbox, args[i], args[i])[1]
    local f = member and fields(member, 3)
    local w, written = 0, false
    if f then w, written = waits_of(waits, f[1]) end
    if bit.band(w, b) ~= 0 then
      w = w - b
      if w < RECEIPTED and not is_copy(f[3]) then
        local colon = string.find(f[3], ':', 1, true)
        local sender, id = string.sub(f[3], 1, colon - 1), string.sub(f[3], colon + 1)
        local entry = sender .. '\n{"id":"' .. id .. '","to":"' .. recipient
          .. '","delivered_at":' .. at .. '}'
        redis.call('HSET', outbox, f[1], at .. '\n' .. entry)
        out[#out + 1] = f[1]
        out[#out + 1] = entry
        w = w + RECEIPTED
      end
      if bit.band(w, DEVICES) == 0 then
        drop(inbox, ids, waits, member, f)
      else
        set_waits(waits, f[1], w, written)
      end
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

-- Receipts ---------------------------------------------------------------------------

local function expire_receipts(receipts, rwaits, cutoff)
  local before = '(' .. num(tonumber(cutoff) * SCALE)
  if redis.call('EXISTS', rwaits) == 0 then
    redis.call('ZREMRANGEBYSCORE', receipts, '-inf', before)
    return
  end
  local old = redis.call('ZRANGEBYSCORE', receipts, '-inf', before, 'LIMIT', 0, EXPIRE_BATCH)
  for _, member in ipairs(old) do
    redis.call('HDEL', rwaits, seq_of(member))
    redis.call('ZREM', receipts, member)
  end
end

-- Receipts for a sender, from its recipients' outboxes, each waiting for every device
-- the sender has now (what expired is dropped by the reads).
-- KEYS: receipts, meta, devices, rwaits
-- ARGV: sender, now, cutoff, ttl ms, live channel, publish command, receipt json...
local function receipt_add(keys, args)
  local receipts, meta, devices, rwaits = keys[1], keys[2], keys[3], keys[4]
  local sender, now, ttl, channel, publish = args[1], args[2], args[4], args[5], args[6]
  local set = device_set(devices)
  for i = 7, #args do
    local seq = num(next_seq(meta, 'rseq', now))
    local member = seq .. '\n' .. args[i]
    redis.call('ZADD', receipts, seq, member)
    set_waits(rwaits, seq, set, false)
    redis.call(publish, channel, 'R' .. sender .. '\n' .. member)
  end
  keep(receipts, ttl)
  keep(meta, ttl)
  keep(rwaits, ttl)
  return #args - 6
end

-- KEYS: receipts, rwaits
-- ARGV: after, limit, cutoff, device
local function receipts_page(keys, args)
  expire_receipts(keys[1], keys[2], args[3])
  return page_for(keys[1], keys[2], bit_of(args[4]), args[1], tonumber(args[2]))
end

-- A device of the sender holds receipts: they wait no more for it; one no device waits
-- for leaves.
-- KEYS: receipts, rwaits
-- ARGV: device, seq...
local function receipts_forget(keys, args)
  local receipts, rwaits, b = keys[1], keys[2], bit_of(args[1])
  for i = 2, #args do
    local seq = args[i]
    local w, written = waits_of(rwaits, seq)
    if bit.band(w, b) ~= 0 then
      w = w - b
      if w == 0 then
        redis.call('ZREMRANGEBYSCORE', receipts, seq, seq)
        if written then redis.call('HDEL', rwaits, seq) end
      else
        set_waits(rwaits, seq, w, written)
      end
    end
  end
  return #args - 1
end

-- Keys ---------------------------------------------------------------------------------

-- Drops every key device `d` published: its long-term keys (in `kept`), its fallback key
-- and its one-time keys (`otk`, their ids in `order`).
local function forget_keys(kept, fallback, otk, order, d)
  redis.call('HDEL', kept, d)
  redis.call('HDEL', fallback, d)
  redis.call('DEL', otk, order)
end

-- KEYS: devices, owner, keys, fallback, and the device's otk and otk order
-- ARGV: device, its long-term keys (JSON), a fallback key (JSON, or '' for none), how
--       many one-time keys a device keeps at most, now, then each one-time key's id and
--       JSON
-- Returns {"kept", how many one-time keys the device now has}, {"full"} or {"unknown"}
-- (neither changes anything). Other long-term keys than those kept replace them, and
-- drop the one-time and fallback keys kept with them; a one-time key whose id is kept
-- already is skipped.
local function publish_keys(keys, args)
  local devices, owner, kept, fallback = keys[1], keys[2], keys[3], keys[4]
  local otk, order = keys[5], keys[6]
  local d, device_keys, fallback_key = args[1], args[2], args[3]
  local limit, now = tonumber(args[4]), args[5]
  migrate(devices, owner, now)
  if bit.band(owned(devices), bit_of(d)) == 0 then return { 'unknown' } end
  local replacing = redis.call('HGET', kept, d) ~= device_keys
  local count = 0
  if not replacing then count = redis.call('HLEN', otk) end
  -- The arguments of the keys to add (their ids' indexes), each id once.
  local fresh, seen = {}, {}
  for i = 6, #args - 1, 2 do
    local id = args[i]
    if not seen[id] and (replacing or redis.call('HEXISTS', otk, id) == 0) then
      fresh[#fresh + 1] = i
    end
    seen[id] = true
  end
  if count + #fresh > limit then return { 'full' } end
  if replacing then
    forget_keys(kept, fallback, otk, order, d)
    redis.call('HSET', kept, d, device_keys)
  end
  for _, i in ipairs(fresh) do
    redis.call('HSET', otk, args[i], args[i + 1])
    redis.call('RPUSH', order, args[i])
  end
  if fallback_key ~= '' then redis.call('HSET', fallback, d, fallback_key) end
  return { 'kept', tostring(count + #fresh) }
end

-- KEYS: devices, owner, keys
-- ARGV: now
-- Returns {device, its long-term keys (JSON, or '' if it published none), ...}: each
-- device of the id, in order.
local function keys_of(keys, args)
  local devices, kept = keys[1], keys[3]
  migrate(devices, keys[2], args[1])
  local set, out = owned(devices), {}
  for d = 0, MAX_DEVICES - 1 do
    if bit.band(set, bit_of(d)) ~= 0 then
      out[#out + 1] = tostring(d)
      out[#out + 1] = redis.call('HGET', kept, d) or ''
    end
  end
  return out
end

-- KEYS: devices, owner, keys, fallback, then for each device given its otk and otk order
-- ARGV: now, device...
-- Returns {device, its long-term keys, its oldest one-time key (no longer kept) or '',
-- its fallback key (kept) or '', ...} for each device given that is the id's and
-- published keys. The fallback key comes even with a one-time key, in case that one
-- cannot be read.
local function claim_keys(keys, args)
  local devices, kept, fallback = keys[1], keys[3], keys[4]
  migrate(devices, keys[2], args[1])
  local set, out = owned(devices), {}
  for i = 2, #args do
    local d = args[i]
    local device_keys = redis.call('HGET', kept, d)
    if bit.band(set, bit_of(d)) ~= 0 and device_keys then
      local otk, order = keys[2 * i + 1], keys[2 * i + 2]
      local one_time = ''
      -- An id in the order without its key (there is none) is passed over.
      while one_time == '' do
        local id = redis.call('LPOP', order)
        if not id then break end
        one_time = redis.call('HGET', otk, id) or ''
        redis.call('HDEL', otk, id)
      end
      out[#out + 1] = d
      out[#out + 1] = device_keys
      out[#out + 1] = one_time
      out[#out + 1] = redis.call('HGET', fallback, d) or ''
    end
  end
  return out
end

-- Unlinking ---------------------------------------------------------------------------

-- KEYS: devices, owner, inbox, ids, waits, receipts, rwaits, keys, fallback, and the
--       device's otk and otk order
-- ARGV: device, now, id, live channel, publish command
-- Returns "unlinked", "unknown" or "last". What waited for the device alone leaves, and
-- so do its keys.
local function unlink(keys, args)
  local devices, owner, inbox, ids, waits = keys[1], keys[2], keys[3], keys[4], keys[5]
  local receipts, rwaits = keys[6], keys[7]
  local d, now = args[1], args[2]
  local b = bit_of(d)
  migrate(devices, owner, now)
  local set = owned(devices)
  if bit.band(set, b) == 0 then return 'unknown' end
  if set == b then return 'last' end
  set = set - b
  redis.call('HSET', devices, 'set', set)
  redis.call('HDEL', devices, 'h' .. d, 'i' .. d)
  forget_keys(keys[8], keys[9], keys[10], keys[11], d)
  -- Where nothing is written, everything waits for device 0 alone.
  if b == 1 or redis.call('EXISTS', waits) == 1 then
    for _, member in ipairs(redis.call('ZRANGE', inbox, 0, -1)) do
      local f = fields(member, 3)
      if f then
        local w, written = waits_of(waits, f[1])
        if bit.band(w, b) ~= 0 then
          w = w - b
          if bit.band(w, DEVICES) == 0 then
            drop(inbox, ids, waits, member, f)
          else
            set_waits(waits, f[1], w, written)
          end
        end
      end
    end
  end
  if b == 1 or redis.call('EXISTS', rwaits) == 1 then
    for _, member in ipairs(redis.call('ZRANGE', receipts, 0, -1)) do
      local seq = seq_of(member)
      local w, written = waits_of(rwaits, seq)
      if bit.band(w, b) ~= 0 then
        w = w - b
        if w == 0 then
          redis.call('ZREM', receipts, member)
          if written then redis.call('HDEL', rwaits, seq) end
        else
          set_waits(rwaits, seq, w, written)
        end
      end
    end
  end
  notice_devices(devices, set, args[3], d, args[4], args[5])
  return 'unlinked'
end

-- Blocks and presence ------------------------------------------------------------------

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

redis.register_function('relay_claim', claim)
redis.register_function('relay_devices', devices_of)
redis.register_function('relay_link', link)
redis.register_function('relay_unlink', unlink)
redis.register_function('relay_publish_keys', publish_keys)
redis.register_function('relay_keys', keys_of)
redis.register_function('relay_claim_keys', claim_keys)
redis.register_function('relay_append', append)
redis.register_function('relay_copy', copy)
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
