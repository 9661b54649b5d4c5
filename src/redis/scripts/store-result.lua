--[[
  Stores a task's result meta and announces it on the key's channel, as
  Celery's Redis backend does (SET/SETEX then PUBLISH), except that a stored
  SUCCESS is never overwritten: Celery 5.2 keeps the first success too, so a
  duplicate run (a lost worker's message delivered again) cannot replace it.

  Input:
    KEYS[1] celery-task-meta-<id>

    ARGV[1] meta JSON
    ARGV[2] expiry in seconds (0: never)

  Output:
    1 when stored and published, 0 when a SUCCESS was there already
]]
local current = redis.call('GET', KEYS[1])
if current then
  local status = string.match(current, '^{%s*"status":%s*"(%u+)"')
  if not status then
    local ok, decoded = pcall(cjson.decode, current)
    if ok and type(decoded) == 'table' then status = decoded['status'] end
  end
  if status == 'SUCCESS' then return 0 end
end
local ttl = tonumber(ARGV[2])
if ttl > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ttl)
else
  redis.call('SET', KEYS[1], ARGV[1])
end
redis.call('PUBLISH', KEYS[1], ARGV[1])
return 1
