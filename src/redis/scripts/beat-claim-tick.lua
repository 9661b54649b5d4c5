--[[
  Claims one (entry, tick) for sending: only under the token that holds the
  lease now (fencing), and only for a tick after the entry's last one.

  Input:
    KEYS[1] lease hash
    KEYS[2] ticks hash (entry -> last tick ms)

    ARGV[1] entry
    ARGV[2] tick
    ARGV[3] token

  Output:
    1 claimed, 0 done already, -1 fenced
]]
local token = redis.call('HGET', KEYS[1], 'token')
if not token or token ~= ARGV[3] then return -1 end
local last = redis.call('HGET', KEYS[2], ARGV[1])
if last and tonumber(last) >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
