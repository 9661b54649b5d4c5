--[[
  Takes or renews beat's leader lease. Expiry is Redis' own (PEXPIRE), so the
  beat hosts' clocks do not matter.

  Input:
    KEYS[1] lease hash {holder, token}
    KEYS[2] token counter (never expires)

    ARGV[1] holder
    ARGV[2] ttl ms

  Output:
    the fencing token, or false (nil) when another holder has the lease
]]
local holder = redis.call('HGET', KEYS[1], 'holder')
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(redis.call('HGET', KEYS[1], 'token'))
end
if holder then return false end
local token = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'token', token)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return token
