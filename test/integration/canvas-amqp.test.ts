// The canvas suite with RabbitMQ as the broker (results in Redis, DB 8: rpc://
// cannot carry chords), on a queue of its own that is deleted afterwards.
// RabbitMQ and Redis are required under CI=true.
import { randomUUID } from "node:crypto";
import { after } from "node:test";
import { canvasSuite } from "../support/canvas-suite.js";
import { AMQP_URL, deleteAmqpEntities, requireRabbit } from "../support/amqp.js";
import { redisAvailable, redisUrl } from "../support/redis.js";

const skip = (await requireRabbit()) !== null || !(await redisAvailable());
const queue = `canvas-amqp-${randomUUID().slice(0, 8)}`;
after(async () => {
  if (!skip) await deleteAmqpEntities({ queues: [queue] });
});
canvasSuite("amqp + redis results", () => ({ broker: AMQP_URL, backend: redisUrl(8), settings: { taskDefaultQueue: queue } }), { skip });
