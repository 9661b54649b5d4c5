-- Makes one message waiting for its ETA ready now: removed from the queue's
-- schedule (KEYS[1]) and pushed on its priority list (KEYS[2]) in one step, so
-- a fetch moving due messages at the same time cannot deliver it twice.
-- ARGV[1]: the schedule member ("<step><envelope>"); ARGV[2]: the envelope to
-- push (the message without its eta). Returns 1, or 0 when it no longer waits
-- (due and moved meanwhile, or purged).
if redis.call('zrem', KEYS[1], ARGV[1]) == 0 then
  return 0
end
redis.call('lpush', KEYS[2], ARGV[2])
return 1
