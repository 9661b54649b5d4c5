// ETA kept broker-side, in RabbitMQ itself, with no plugin: a cascade of
// delay levels. Level k is a topic exchange and a queue whose messages all
// live 2^k ms (x-message-ttl) and are then dead-lettered to level k-1. A
// message's routing key spells its delay in binary, one word per level, most
// significant first, then the target queue: "0.0.…1.0.1.<queue>". Each level's
// exchange sends the message into its queue when its bit is 1 and straight on
// to the next level when it is 0; below level 0 a delivery exchange hands it
// to the queue named at the end of the key. Every level queue holds messages
// of one TTL only, so they expire in arrival order (RabbitMQ expires from the
// head). The total wait is the sum of the set bits: the delay, to the ms.
//
// So workers never hold future tasks in memory, and a scheduled message is as
// durable as any other (durable queues, persistent messages). Messages due
// later than the top level allows arrive early; the worker sees their ETA
// header still in the future and schedules them again.
//
// Chosen over per-delay queues (one queue per distinct delay: unbounded) and
// the delayed-message plugin (not installed by default).
//
// Two cascades: classic level queues, and for quorum target queues one of
// quorum level queues (celeriac.qdelay.*), so a scheduled message is
// replicated like the queue it is for and survives the loss of a node. Its
// dead-lettering is at-least-once (x-dead-letter-strategy, RabbitMQ 3.10+,
// which needs x-overflow=reject-publish), as Celery 5.5's native delayed
// delivery declares its quorum delay queues: a node lost mid-hop loses no message.
import type { Channel } from "amqplib";

/** Levels: delays up to 2^32 ms - 1 (about 49.7 days) in one pass. */
export const DELAY_LEVELS = 32;
export const MAX_DELAY_MS = 2 ** DELAY_LEVELS - 1;

export interface DelayCascade {
  prefix: string;
  /** Arguments of every level queue beside its TTL and dead-letter exchange. */
  queueArguments: Record<string, unknown>;
}

export const CLASSIC_CASCADE: DelayCascade = { prefix: "celeriac.delay", queueArguments: {} };
export const QUORUM_CASCADE: DelayCascade = {
  prefix: "celeriac.qdelay",
  queueArguments: { "x-queue-type": "quorum", "x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish" },
};

const levelName = (c: DelayCascade, k: number) => `${c.prefix}.${k}`;
const deliveryExchange = (c: DelayCascade) => `${c.prefix}.deliver`;
const wordsBefore = (k: number) => "*.".repeat(DELAY_LEVELS - 1 - k);

/** The exchange a delayed message is published to. */
export function delayExchange(c: DelayCascade): string {
  return levelName(c, DELAY_LEVELS - 1);
}

/** The routing key that carries `delayMs` (clamped to the cascade's range) down to `queue`. */
export function delayRoutingKey(delayMs: number, queue: string): string {
  const d = Math.max(0, Math.min(MAX_DELAY_MS, Math.ceil(delayMs)));
  return `${d.toString(2).padStart(DELAY_LEVELS, "0").split("").join(".")}.${queue}`;
}

/** Declares the levels and the delivery exchange (idempotent: same arguments every time). */
export async function declareDelayCascade(ch: Channel, c: DelayCascade = CLASSIC_CASCADE): Promise<void> {
  await ch.assertExchange(deliveryExchange(c), "topic", { durable: true, autoDelete: false });
  const steps: Promise<unknown>[] = [];
  for (let k = 0; k < DELAY_LEVELS; k++) {
    const name = levelName(c, k);
    const next = k === 0 ? deliveryExchange(c) : levelName(c, k - 1);
    steps.push(ch.assertExchange(name, "topic", { durable: true, autoDelete: false }));
    steps.push(
      ch.assertQueue(name, {
        durable: true,
        autoDelete: false,
        arguments: { ...c.queueArguments, "x-message-ttl": 2 ** k, "x-dead-letter-exchange": next },
      }),
    );
  }
  await Promise.all(steps);
  const binds: Promise<unknown>[] = [];
  for (let k = 0; k < DELAY_LEVELS; k++) {
    const name = levelName(c, k);
    const next = k === 0 ? deliveryExchange(c) : levelName(c, k - 1);
    binds.push(ch.bindQueue(name, name, `${wordsBefore(k)}1.#`));
    binds.push(ch.bindExchange(next, name, `${wordsBefore(k)}0.#`));
  }
  await Promise.all(binds);
}

/**
 * Binds the delivery exchange to a queue: keys of exactly DELAY_LEVELS bit
 * words followed by the queue's name. (A queue name containing "*" or "#"
 * cannot be matched literally by a topic binding: such queues get no ETA.)
 */
export async function bindDelayTarget(ch: Channel, queue: string, c: DelayCascade = CLASSIC_CASCADE): Promise<void> {
  await ch.bindQueue(queue, deliveryExchange(c), `${"*.".repeat(DELAY_LEVELS)}${queue}`);
}
