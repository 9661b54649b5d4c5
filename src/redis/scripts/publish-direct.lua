--[[
  Publishes to a direct exchange as kombu's _lookup routes: one copy to every
  queue bound (in kombu's binding set) to the routing key. A queue declared with
  a lifetime (declareQueue's messageTtlMs/expiresMs) gets it as the list's TTL,
  so a reply queue whose requester died goes away, as x-expires does on AMQP.

  Input:
    KEYS[1] the exchange's binding set (_kombu.binding.<exchange>)
    KEYS[2] the lifetimes of declared queues (hash: queue name -> ms)

    ARGV[1] routing key
    ARGV[2] the message envelope
    ARGV[3] the binding member separator
    ARGV[4] the global key prefix ('' for none): the queues' lists are found
            by name here, so the client cannot prefix them (it prefixes KEYS);
            with a hash tag in it they share the slot of KEYS on a cluster

  Output:
    the number of queues it reached
]]
local prefix = ARGV[1] .. ARGV[3] .. ARGV[3]
local reached = 0
for _, member in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if string.sub(member, 1, #prefix) == prefix then
    local queue = string.sub(member, #prefix + 1)
    if queue ~= '' then
      local list = ARGV[4] .. queue
      redis.call('LPUSH', list, ARGV[2])
      local ttl = redis.call('HGET', KEYS[2], queue)
      if ttl then redis.call('PEXPIRE', list, ttl) end
      reached = reached + 1
    end
  end
end
return reached
