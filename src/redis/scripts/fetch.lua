--[[
  Takes up to ARGV[1] ready messages from several queues in one round trip,
  after moving the queues' due ETA messages from their schedules to their lists.
  With a lease, each message is recorded as kombu records unacked messages
  (unacked hash + unacked_index zset), so Python workers can restore ours and
  we can restore theirs.

  Input:
    KEYS[1] unacked hash
    KEYS[2] unacked_index zset
    KEYS[3 .. 2+nq] the schedules (one zset per queue, members "<step><envelope>")
    KEYS[3+nq ..] the lists, priority-major: list k (0-based) is step k // nq of queue k % nq

    ARGV[1] max messages
    ARGV[2] lease ("1"/"0")
    ARGV[3] now (s)
    ARGV[4] now (ms)
    ARGV[5] nq, the number of queues
    ARGV[6 ..] the queue names

  Output:
    { next ETA in ms or "", { k1, envelope1, tag1, k2, envelope2, tag2, ... } }:
    tag is the one the message was leased under, or "" when it was not leased here
    (no lease asked for, or no plain tag found: the caller leases those itself).
    The caller acks by exactly that tag, so lease and ack cannot disagree.
]]
local max = tonumber(ARGV[1])
local lease = ARGV[2] == '1'
local now_s = ARGV[3]
local now_ms = ARGV[4]
local nq = tonumber(ARGV[5])
local lists = 2 + nq
local step_index = { ['0'] = 0, ['3'] = 1, ['6'] = 2, ['9'] = 3 }

local next_eta = ''
for qi = 1, nq do
  local schedule = KEYS[2 + qi]
  local due = redis.call('ZRANGEBYSCORE', schedule, '-inf', now_ms, 'LIMIT', 0, 1000)
  if #due > 0 then
    for _, member in ipairs(due) do
      local step = step_index[string.sub(member, 1, 1)] or 0
      redis.call('LPUSH', KEYS[lists + 1 + step * nq + qi - 1], string.sub(member, 2))
    end
    redis.call('ZREM', schedule, unpack(due))
  end
  local first = redis.call('ZRANGE', schedule, 0, 0, 'WITHSCORES')
  if first[2] and (next_eta == '' or tonumber(first[2]) < tonumber(next_eta)) then next_eta = first[2] end
end

local out = {}
local index_args = {}
local hash_args = {}
local taken = 0
-- kombu's unacked entry is [envelope, exchange, routing_key]: the suffix per queue, made once.
local entry_tail = {}
for qi = 0, nq - 1 do entry_tail[qi] = ', "", ' .. cjson.encode(ARGV[6 + qi]) .. ']' end
local function delivery_tag(envelope)
  -- The tag is the last "delivery_tag" key: properties come last in the envelope, and
  -- kombu and Celeriac both write delivery_tag last among them, so it ends the envelope.
  -- Only a tag with no escapes (kombu's and ours are uuids) is taken: a tag with a
  -- backslash would be a different string once JSON-decoded.
  return string.match(string.sub(envelope, -160), '"delivery_tag":%s*"([^"\\]+)"%s*}%s*}%s*$')
end
local function take(k, envelope)
  out[#out + 1] = k
  out[#out + 1] = envelope
  taken = taken + 1
  local tag = lease and delivery_tag(envelope)
  if tag then
    out[#out + 1] = tag
    index_args[#index_args + 1] = now_s
    index_args[#index_args + 1] = tag
    hash_args[#hash_args + 1] = tag
    hash_args[#hash_args + 1] = '[' .. envelope .. entry_tail[k % nq]
  else
    out[#out + 1] = ''
  end
end

for k = 0, 4 * nq - 1 do
  if taken >= max then break end
  local got = redis.call('RPOP', KEYS[lists + 1 + k], max - taken)
  if got then
    for _, envelope in ipairs(got) do take(k, envelope) end
  end
end
if #index_args > 0 then
  redis.call('ZADD', KEYS[2], unpack(index_args))
  redis.call('HSET', KEYS[1], unpack(hash_args))
end
return { next_eta, out }
