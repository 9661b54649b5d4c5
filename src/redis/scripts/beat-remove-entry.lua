--[[
  Removes a dynamic beat entry together with its tick state. An entry of the
  same name in the app's settings keeps its state when there is no stored one.

  Input:
    KEYS[1] entries hash
    KEYS[2] ticks hash

    ARGV[1] name

  Output:
    1 if it existed, else 0
]]
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
