--[[
  PUBLISH from the master of KEYS[1]'s slot. On a Redis Cluster a PUBLISH
  without a key goes to any node and reaches the others over the cluster
  bus, so two messages sent through two nodes can arrive in either order;
  sent through this script, every publisher's messages leave from one node,
  in the order they were sent.

  Input:
    KEYS[1] a key of the slot to publish from (never read or written)

    ARGV[1] channel
    ARGV[2] message

  Output:
    the number of clients that received it (on that node)
]]
return redis.call('PUBLISH', ARGV[1], ARGV[2])
