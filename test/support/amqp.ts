// RabbitMQ for tests: the URL, a check that it answers (failing loudly under
// CI=true, skipping otherwise), and cleanup of the queues a test declared.
import { createConnection } from "node:net";
import { waitUntil } from "./wait.js";

export const AMQP_URL = process.env.CELERIAC_TEST_AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672//";

/** Resolves true when something listens on the RabbitMQ port. */
export function rabbitAnswers(url = AMQP_URL, timeoutMs = 1500): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const sock = createConnection({ host: u.hostname || "127.0.0.1", port: Number(u.port || 5672) });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once("connect", () => done(true));
    sock.once("error", () => done(false));
  });
}

/**
 * The reason to skip, or null to run. Under CI=true a missing RabbitMQ is an
 * error (thrown), never a silent skip.
 */
export async function requireRabbit(): Promise<string | null> {
  if (await rabbitAnswers()) return null;
  const why = `RabbitMQ is not reachable at ${AMQP_URL.replace(/:[^:@/]*@/, ":***@")}`;
  if (process.env.CI === "true") throw new Error(`${why} (CI=true: tests needing RabbitMQ must run)`);
  return why;
}

/** Deletes a test's queues and exchanges (names unique to the test) from the shared server. */
export async function deleteAmqpEntities(names: { queues?: string[]; exchanges?: string[] }): Promise<void> {
  const { default: amqp } = await import("amqplib");
  const conn = await amqp.connect(AMQP_URL);
  try {
    for (const q of names.queues ?? []) {
      const ch = await conn.createChannel();
      ch.on("error", () => {});
      await ch.deleteQueue(q).catch(() => {});
      await ch.close().catch(() => {});
    }
    for (const x of names.exchanges ?? []) {
      const ch = await conn.createChannel();
      ch.on("error", () => {});
      await ch.deleteExchange(x).catch(() => {});
      await ch.close().catch(() => {});
    }
  } finally {
    await conn.close().catch(() => {});
  }
}

/**
 * Resolves once every message of `queue` is taken off it by a consumer (in its
 * prefetch window or running): what a test waits for before it queues a
 * backlog behind a busy worker.
 */
export async function waitQueueTaken(queue: string, timeoutMs = 10_000): Promise<void> {
  const { default: amqp } = await import("amqplib");
  const conn = await amqp.connect(AMQP_URL);
  try {
    const ch = await conn.createChannel();
    await waitUntil(`the messages of ${queue} to be taken by its consumer`, async () => (await ch.checkQueue(queue)).messageCount === 0, timeoutMs, 10);
  } finally {
    await conn.close().catch(() => {});
  }
}
