-- Records one finished chord header task with Celery's Redis layout, and tells
-- the part that completes the chord. Atomic, so exactly one part sees
-- count == size + adjustment.
--
-- Unlike Celery, the keys are not deleted here but by chordDone, once the
-- callback is sent: the completing part holds the chord (KEYS[4]) until then,
-- so if its worker dies first, its redelivered message completes it again.
--
-- KEYS[1] celery-taskset-meta-<gid>.j (zset of [1, task_id, state, result] by group_index)
-- KEYS[2] ….t (adjustment counter, default 0), KEYS[3] ….s (chord size, written by the producer),
-- KEYS[4] ….c (the task id of the part that completed the chord).
-- ARGV: encoded part, group_index, size (used when the producer wrote none; '' when the message gave none),
-- expiry s (0: none), the part's task id.
-- Returns the parts in group order to the completing part, else false.
-- A part recorded again (a redelivered task) replaces its earlier record.
redis.call('ZREMRANGEBYSCORE', KEYS[1], ARGV[2], ARGV[2])
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
