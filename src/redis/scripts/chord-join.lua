--[[
  Records one finished chord header task with Celery's Redis layout, and tells
  the part that completes the chord. Atomic, so exactly one part sees
  count == size + adjustment (Celery's `.t`: one per task added with
  addToChord). A part recorded again (a redelivered task) replaces its earlier
  record; parts are told apart by index and task id, since a task added to the
  chord shares its adder's group index.

  Unlike Celery, the keys are not deleted here but by chordDone, once the
  callback is sent: the completing part holds the chord (KEYS[4]) until then,
  so if its worker dies first, its redelivered message completes it again.

  Input:
    KEYS[1] celery-taskset-meta-<gid>.j (zset of [1, task_id, state, result] by group_index)
    KEYS[2] ....t (adjustment counter, default 0)
    KEYS[3] ....s (chord size, written by the producer)
    KEYS[4] ....c (the task id of the part that completed the chord)

    ARGV[1] encoded part
    ARGV[2] group_index
    ARGV[3] size (used when the producer wrote none; '' when the message gave none)
    ARGV[4] expiry s (0: none)
    ARGV[5] the part's task id

  Output:
    the parts in group order to the completing part, else false
]]
for _, old in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[2], ARGV[2])) do
  local ok, decoded = pcall(cjson.decode, old)
  if ok and type(decoded) == 'table' and decoded[2] == ARGV[5] then redis.call('ZREM', KEYS[1], old) end
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
if ARGV[3] ~= '' then redis.call('SET', KEYS[3], ARGV[3], 'NX') end
local count = redis.call('ZCARD', KEYS[1])
local size = tonumber(redis.call('GET', KEYS[3]))
local ttl = tonumber(ARGV[4])
if ttl > 0 then
  for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ttl) end
end
-- No size yet: a Python producer writes .s just before it sends the last header
-- task, so this part is not the last; the last one will see it (as in Celery).
if not size then return false end
local total = size + tonumber(redis.call('GET', KEYS[2]) or '0')
if count ~= total then return false end
local holder = redis.call('GET', KEYS[4])
if holder and holder ~= ARGV[5] then return false end
if ttl > 0 then redis.call('SET', KEYS[4], ARGV[5], 'EX', ttl) else redis.call('SET', KEYS[4], ARGV[5]) end
return redis.call('ZRANGE', KEYS[1], 0, -1)
