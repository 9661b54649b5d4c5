import { canvasSuite } from "../support/canvas-suite.js";
import { redisAvailable, redisUrl } from "../support/redis.js";

// Database 2: the suite's in-process worker consumes the default queue there, alone.
if (await redisAvailable()) {
  canvasSuite("redis", () => ({ broker: redisUrl(2), backend: redisUrl(2) }));
}
