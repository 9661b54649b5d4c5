--[[
  Undoes a tick claim whose send failed, under the same fencing as the claim.

  Input:
    KEYS[1] lease hash
    KEYS[2] ticks hash

    ARGV[1] entry
    ARGV[2] the claimed tick
    ARGV[3] the tick before it
    ARGV[4] token

  Output:
    1 when set back, 0 when the lease or the tick moved on
]]
local token = redis.call('HGET', KEYS[1], 'token')
if not token or token ~= ARGV[4] then return 0 end
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
