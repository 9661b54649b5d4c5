// The canvas suite on Redis (broker and results in test database 8, on a queue
// of its own). Redis is required under CI=true.
import { randomUUID } from "node:crypto";
import { canvasSuite } from "../support/canvas-suite.js";
import { redisAvailable, redisUrl } from "../support/redis.js";

const available = await redisAvailable();
const url = redisUrl(8);
canvasSuite("redis", () => ({ broker: url, backend: url, settings: { taskDefaultQueue: `canvas-${randomUUID().slice(0, 8)}` } }), { skip: !available });
