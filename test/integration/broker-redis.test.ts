import { RedisBroker } from "../../src/brokers/redis/index.js";
import { brokerConformance } from "../support/broker-suite.js";
import { redisAvailable, redisUrl } from "../support/redis.js";

// Database 1: the queues have random names, so runs never see each other's messages.
if (await redisAvailable()) {
  brokerConformance("redis", { make: async (opts) => new RedisBroker(redisUrl(1), opts) });
}
