--[[
  Puts one unacked message back on its queue(s), once: only the caller whose
  HDEL removes the entry pushes it, so an ack, a concurrent restore (ours or
  kombu's) or a lease renewal made meanwhile wins.

  Input:
    KEYS[1] unacked hash
    KEYS[2] unacked_index zset
    KEYS[3 ..] target lists

    ARGV[1] delivery tag
    ARGV[2] cutoff (s): skip when the lease was renewed after it
    ARGV[3] payload to push
    ARGV[4] "left" (back of the queue) or "right" (served next)
    ARGV[5] "force" to push even when there is no unacked entry (a message taken without lease)

  Output:
    1 when pushed, else 0
]]
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if score and tonumber(score) > tonumber(ARGV[2]) then return 0 end
local removed = redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if removed == 0 and ARGV[5] ~= 'force' then return 0 end
local push = ARGV[4] == 'left' and 'LPUSH' or 'RPUSH'
for i = 3, #KEYS do redis.call(push, KEYS[i], ARGV[3]) end
return 1
