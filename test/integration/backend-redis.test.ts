import { RedisBackend } from "../../src/backends/redis.js";
import { backendConformance } from "../support/backend-suite.js";
import { redisAvailable, redisUrl } from "../support/redis.js";

// Database 2: task and group ids are random uuids, so runs never collide.
if (await redisAvailable()) {
  backendConformance("redis", { make: async (opts) => new RedisBackend(redisUrl(2), opts) });
}
