// The hostile-message suite on RabbitMQ, against a real worker process: each
// message published with amqplib as it is (body bytes, content type and
// headers in the AMQP properties), bypassing Celeriac's producer.
import amqp from "amqplib";
import { Celeriac } from "../../src/index.js";
import { deleteAmqpEntities, requireRabbit, AMQP_URL } from "../support/amqp.js";
import { hostileMessages, spawnHostileWorker, type HostileTarget } from "../support/hostile-suite.js";
import { redisAvailable, redisUrl } from "../support/redis.js";
import { waitUntil } from "../support/wait.js";

const DB = 12; // hostile-redis.test.ts counts the unacked hash of 14: a database of its own
const skip = (await requireRabbit()) ?? ((await redisAvailable()) ? null : "Redis (the result backend) is not reachable");

function target(pool: "async" | "process"): HostileTarget {
  const app = new Celeriac({ name: "hostile-results", broker: AMQP_URL, backend: redisUrl(DB) });
  let conn: amqp.ChannelModel | null = null;
  let ch: amqp.Channel | null = null;
  const queues = new Set<string>();
  /** Whether the queue exists (a failed check closes its channel, so each check has its own). */
  const exists = async (queue: string) => {
    const c = await conn!.createChannel();
    c.on("error", () => {});
    try {
      return await c.checkQueue(queue);
    } catch {
      return null;
    } finally {
      await c.close().catch(() => {});
    }
  };
  return {
    envelopes: false,
    async publishRaw(queue, { message: m }) {
      if (!conn) {
        conn = await amqp.connect(AMQP_URL);
        ch = await conn.createConfirmChannel();
      }
      // The worker declares its queue: a message sent before would be dropped.
      if (!queues.has(queue)) {
        await waitUntil(`the worker to declare ${queue}`, async () => (await exists(queue)) !== null, 20_000, 50);
        queues.add(queue);
      }
      const p = m!.properties ?? {};
      // AMQP short strings hold 255 bytes: a longer id goes in the headers only.
      const short = (v: unknown) => (typeof v === "string" && Buffer.byteLength(v) <= 255 ? v : undefined);
      const headers = m!.headers && Object.keys(m!.headers).length ? m!.headers : undefined;
      ch!.sendToQueue(queue, m!.body, {
        contentType: m!.contentType,
        contentEncoding: m!.contentEncoding,
        headers,
        correlationId: short(p.correlation_id),
        replyTo: short(p.reply_to),
        deliveryMode: 2,
      });
      await (ch as amqp.ConfirmChannel).waitForConfirms();
    },
    startWorker: (queue, env) => spawnHostileWorker(pool, queue, { ...env, CELERIAC_BROKER_URL: AMQP_URL, CELERIAC_RESULT_BACKEND: redisUrl(DB) }),
    results: () => app.backend(),
    drained: async (queue) => (await exists(queue))?.messageCount === 0,
    close: async () => {
      await conn?.close().catch(() => {});
      await deleteAmqpEntities({ queues: [...queues], exchanges: [...queues] });
      await app.close();
    },
  };
}

if (!skip) {
  hostileMessages("amqp, async pool", target("async"));
  hostileMessages("amqp, process pool", target("process"));
}
