--[[
  Gives beat's lease up, only if the caller still holds it with this token.

  Input:
    KEYS[1] lease hash

    ARGV[1] holder
    ARGV[2] token

  Output:
    1 if released, else 0
]]
if redis.call('HGET', KEYS[1], 'holder') == ARGV[1] and redis.call('HGET', KEYS[1], 'token') == ARGV[2] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
