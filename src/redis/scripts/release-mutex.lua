--[[
  Releases kombu's unacked_mutex only if the caller still holds it: it may have
  expired meanwhile and been taken by another process.

  Input:
    KEYS[1] the mutex key (unacked_mutex)

    ARGV[1] the token the caller set it to

  Output:
    1 if released, else 0
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
