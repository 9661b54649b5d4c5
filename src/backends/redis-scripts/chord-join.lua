-- Records one finished chord header task with Celery's Redis layout, and tells
-- the one caller that completes the chord. Atomic, so exactly one caller sees
-- count == size + adjustment.
--
-- KEYS[1] celery-taskset-meta-<gid>.j (zset of [1, task_id, state, result] by group_index)
-- KEYS[2] ….t (adjustment counter, default 0), KEYS[3] ….s (chord size, written by the producer).
-- ARGV: encoded part, group_index, size (used when the producer wrote none; '' when the message gave none), expiry s (0: none).
-- Returns the parts in group order when this call completed the chord, else false.
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
local parts = redis.call('ZRANGE', KEYS[1], 0, -1)
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return parts
