--[[
  One step of a token bucket shared by every worker (global rate limits):
  takes a token when one is there, else says how long until one is.
  Time comes from the Redis server, so workers on hosts with skewed clocks agree.

  Input:
    KEYS[1] the bucket (hash: tokens, updated_at ms)

    ARGV[1] tokens per second

  Output:
    0 when a token was taken, else the ms to wait
]]
local rate = tonumber(ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'updated_at')
local tokens = tonumber(state[1]) or 1
local updated = tonumber(state[2]) or now
local available = math.min(1, tokens + (now - updated) / 1000 * rate)
local wait = 0
if available >= 1 then
  available = available - 1
else
  wait = math.ceil((1 - available) / rate * 1000)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(available), 'updated_at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(1000 / rate) + 60000)
return wait
