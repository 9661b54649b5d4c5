// The worker's fetch-ahead loop (src/worker/consumer.ts) against the real
// memory broker: how much it asks for, when, and what it gives back.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, it } from "node:test";
import type { Delivery } from "../../src/brokers/broker.js";
import { MemoryBroker } from "../../src/brokers/memory.js";
import { encodeTask } from "../../src/protocol/message.js";
import { Consumer, type ConsumerHost } from "../../src/worker/consumer.js";
import { captureLog } from "../support/log-capture.js";
import { WatchedBroker } from "../support/watched-broker.js";
import { waitUntil } from "../support/wait.js";

async function fill(broker: MemoryBroker, queue: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await broker.publish({ queue }, encodeTask({ task: "t.noop", args: [i] }));
}

/** A consumer whose received messages stay held until the test releases them. */
function consumerOn(broker: WatchedBroker, queue: string, prefetchLimit: number) {
  const held: Delivery[] = [];
  /** How often the loop looked at the window (once per fetch it considered). */
  const looks = { count: 0 };
  const captured = captureLog();
  const host: ConsumerHost = {
    log: captured.log,
    broker: () => broker,
    queues: [queue],
    held: () => {
      looks.count++;
      return held.length;
    },
    hasReserved: () => held.length > 0,
    receive: (d) => {
      held.push(d);
      return undefined;
    },
    received: () => {},
  };
  const consumer = new Consumer(host, { prefetchLimit, waitMs: 20 });
  const release = async (n: number) => {
    await broker.ack(held.splice(0, n));
    consumer.roomFreed();
  };
  return { consumer, held, release, captured, looks };
}

describe("worker consumer (fetch-ahead loop)", () => {
  it("fills the prefetch window in a backlog, a quarter of it per fetch, and never holds more", async () => {
    const queue = `q-${randomUUID()}`;
    const broker = new WatchedBroker(`memory://${randomUUID()}`);
    await fill(broker, queue, 50);
    const { consumer, held, release } = consumerOn(broker, queue, 8);
    const running = consumer.run();
    await waitUntil("the window of 8 to fill", () => held.length === 8);
    assert.ok(
      broker.asks.every((max) => max <= 2),
      `fetches asked for ${broker.asks.join(",")}: more than a quarter of the window`,
    );
    // Full batches mean a backlog: several fetches were in flight at once.
    assert.ok(broker.mostInFlight > 1, "fetched ahead in a backlog");
    await release(4);
    await waitUntil("the window to fill again after 4 left", () => held.length === 8);
    assert.equal(await broker.size(queue), 50 - 12);
    consumer.stop();
    await running;
  });

  it("with nothing waiting, keeps one fetch in flight", async () => {
    const queue = `q-${randomUUID()}`;
    const broker = new WatchedBroker(`memory://${randomUUID()}`);
    const { consumer } = consumerOn(broker, queue, 8);
    const running = consumer.run();
    await waitUntil("five empty fetches", () => broker.asks.length >= 5);
    assert.equal(broker.mostInFlight, 1);
    consumer.stop();
    await running;
  });

  it("waits for room rather than fetching a partial batch while work is held", async () => {
    const queue = `q-${randomUUID()}`;
    const broker = new WatchedBroker(`memory://${randomUUID()}`);
    await fill(broker, queue, 20);
    const { consumer, held, release, looks } = consumerOn(broker, queue, 8);
    const running = consumer.run();
    await waitUntil("the window to fill", () => held.length === 8);
    const asked = broker.asks.length;
    const looked = looks.count;
    await release(1);
    // One free place is less than a batch (2): no round trip for it.
    await waitUntil("the loop to look at the window again", () => looks.count > looked);
    assert.equal(broker.asks.length, asked, "no fetch for a single free place");
    await release(1);
    await waitUntil("a whole batch to be fetched", () => held.length === 8);
    consumer.stop();
    await running;
  });

  it("with a local fetch (Broker.localFetch: SQLite), one fetch at a time takes all the room, once half the window is free", async () => {
    const queue = `q-${randomUUID()}`;
    const broker = new (class extends WatchedBroker {
      readonly localFetch = true;
    })(`memory://${randomUUID()}`);
    await fill(broker, queue, 50);
    const { consumer, held, release, looks } = consumerOn(broker, queue, 8);
    const running = consumer.run();
    await waitUntil("the window of 8 to fill", () => held.length === 8);
    assert.deepEqual(broker.asks, [8], "the whole window in one fetch");
    assert.equal(broker.mostInFlight, 1);
    const looked = looks.count;
    await release(3);
    await waitUntil("the loop to look at the window again", () => looks.count > looked);
    assert.deepEqual(broker.asks, [8], "no fetch while less than half the window is free");
    await release(1);
    await waitUntil("the window to fill again", () => held.length === 8);
    assert.deepEqual(broker.asks, [8, 4]);
    consumer.stop();
    await running;
  });

  it("retries a broker that fails, saying so once per outage", async () => {
    const queue = `q-${randomUUID()}`;
    const broker = new WatchedBroker(`memory://${randomUUID()}`);
    broker.failFetches = 3;
    await fill(broker, queue, 1);
    const { consumer, held, captured } = consumerOn(broker, queue, 4);
    const running = consumer.run();
    await waitUntil("the message after the outage", () => held.length === 1, 10_000);
    assert.equal(captured.at("error").filter((m) => m.startsWith("cannot fetch")).length, 1);
    assert.ok(
      captured.at("info").some((m) => m.startsWith("fetching from")),
      "the recovery is logged",
    );
    consumer.stop();
    await running;
  });

  it("gives back what fetches in flight bring once stopped", async () => {
    const queue = `q-${randomUUID()}`;
    const broker = new WatchedBroker(`memory://${randomUUID()}`);
    const { consumer, held } = consumerOn(broker, queue, 4);
    const running = consumer.run();
    await waitUntil("a fetch waiting on the empty queue", () => broker.inFlight === 1);
    consumer.stop();
    // Arrives while the stopped loop's last fetch waits: it must go back, not be held.
    await fill(broker, queue, 1);
    await running;
    assert.equal(held.length, 0);
    assert.equal(await broker.size(queue), 1);
  });
});
