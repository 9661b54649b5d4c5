// AMQP pieces without a server: URLs, Celery's topology rules, the delay
// cascade's routing keys, header typing for Python peers, ack batching.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AckTracker } from "../../src/brokers/amqp/ack-tracker.js";
import { fromAmqp, publishOptions, typedTable } from "../../src/brokers/amqp/codec.js";
import { DELAY_LEVELS, MAX_DELAY_MS, delayRoutingKey } from "../../src/brokers/amqp/delay.js";
import { Topology } from "../../src/brokers/amqp/topology.js";
import { AmqpServers, parseAmqpUrl } from "../../src/brokers/amqp/url.js";
import { ConfigurationError } from "../../src/errors.js";
import { encodeTask } from "../../src/protocol/message.js";
import { StallWatch } from "../../src/brokers/amqp/stall-watch.js";

describe("AMQP URLs (kombu's rules)", () => {
  it("reads user, password, host, port and vhost; masks the password", () => {
    const u = parseAmqpUrl("amqp://user:s%40cret@rabbit:5673/prod");
    assert.deepEqual([u.connect.username, u.connect.password, u.connect.hostname, u.connect.port, u.connect.vhost], ["user", "s@cret", "rabbit", 5673, "prod"]);
    assert.equal(u.display, "amqp://user:***@rabbit:5673/prod");
  });
  it("empty path and // mean the default vhost; %2F too; pyamqp is an alias; amqps defaults to 5671", () => {
    assert.equal(parseAmqpUrl("amqp://localhost").connect.vhost, "/");
    assert.equal(parseAmqpUrl("amqp://localhost/").connect.vhost, "/");
    assert.equal(parseAmqpUrl("amqp://guest:guest@localhost:5672//").connect.vhost, "/");
    assert.equal(parseAmqpUrl("pyamqp://h/%2F").connect.vhost, "/");
    const s = parseAmqpUrl("amqps://h/v?heartbeat=10");
    assert.deepEqual([s.connect.protocol, s.connect.port, s.connect.heartbeat], ["amqps", 5671, 10]);
  });
});

describe("Celery's topology", () => {
  it("the default queue: direct exchange celery, routing key celery, no arguments unless a max priority is set", () => {
    const t = new Topology();
    assert.deepEqual(t.queue("celery"), {
      name: "celery",
      durable: true,
      arguments: {},
      exchange: "celery",
      exchangeType: "direct",
      routingKey: "celery",
      quorum: false,
    });
    assert.deepEqual(new Topology({ taskQueueMaxPriority: 10 }).queue("celery").arguments, { "x-max-priority": 10 });
  });
  it("a queue nobody declared gets a direct exchange of its own name (Celery's new_missing)", () => {
    const spec = new Topology().queue("io");
    assert.deepEqual([spec.exchange, spec.exchangeType, spec.routingKey], ["io", "direct", "io"]);
  });
  it("taskQueues: topic exchanges, quorum queues, per-queue max priority", () => {
    const t = new Topology({
      taskQueues: [
        { name: "web", exchange: "tasks", exchangeType: "topic", routingKey: "web.#" },
        { name: "q", queueArguments: { "x-queue-type": "quorum" } },
        { name: "p", maxPriority: 5 },
      ],
    });
    assert.deepEqual(t.target({ queue: "web", routingKey: "web.image" }), { exchange: "tasks", routingKey: "web.image" });
    assert.deepEqual(t.queue("q").arguments, { "x-queue-type": "quorum" });
    assert.deepEqual(t.queue("p").arguments, { "x-max-priority": 5 });
  });
  it("a direct route without an explicit exchange is published to the default exchange, keyed by queue (as Celery does)", () => {
    assert.deepEqual(new Topology().target({ queue: "celery", routingKey: "celery" }), { exchange: "", routingKey: "celery" });
    assert.deepEqual(new Topology().target({ queue: "celery", exchange: "celery", routingKey: "celery" }), { exchange: "celery", routingKey: "celery" });
    const topic = new Topology({ taskQueues: [{ name: "web", exchange: "tasks", exchangeType: "topic", routingKey: "web.#" }] });
    assert.deepEqual(topic.target({ queue: "web" }), { exchange: "", routingKey: "web" }, "a bare queue (a retry) goes to that queue only");
  });
  it("refuses unknown queues when taskCreateMissingQueues is off", () => {
    assert.throws(() => new Topology({ taskCreateMissingQueues: false }).queue("nope"), /taskCreateMissingQueues/);
  });
});

describe("quorum queues (Celery 5.5's task_default_queue_type)", () => {
  it("declares every task queue x-queue-type=quorum, unless it names its own type", () => {
    const t = new Topology({ taskDefaultQueueType: "quorum", taskQueues: [{ name: "old", queueArguments: { "x-queue-type": "classic" } }] });
    assert.deepEqual(t.queue("celery").arguments, { "x-queue-type": "quorum" });
    assert.equal(t.queue("celery").quorum, true);
    assert.equal(t.queue("missing-one").quorum, true);
    assert.equal(t.queue("old").quorum, false);
    assert.equal(new Topology().queue("celery").quorum, false);
  });

  it("refuses a max priority on a quorum queue, and an unknown queue type", () => {
    assert.throws(() => new Topology({ taskDefaultQueueType: "quorum", taskQueueMaxPriority: 10 }).queue("celery"), ConfigurationError);
    assert.throws(
      () => new Topology({ taskQueues: [{ name: "q", maxPriority: 5, queueArguments: { "x-queue-type": "quorum" } }] }).queue("q"),
      /no priorities/,
    );
    assert.throws(() => new Topology({ taskDefaultQueueType: "stream" as "quorum" }), /classic" or "quorum/);
  });
});

describe("AMQP failover lists", () => {
  it("moves along the list when the current node fails, and shows it masked", () => {
    const s = new AmqpServers("amqp://u:pw@n1:5672//;amqp://u:pw@n2:5673//");
    assert.equal(s.display, "amqp://u:***@n1:5672//;amqp://u:***@n2:5673//");
    assert.equal(s.size, 2);
    const first = s.current;
    assert.equal(first.connect.hostname, "n1");
    assert.equal(s.failed(first).connect.hostname, "n2");
    // A second report of the same failure follows, it does not skip back.
    assert.equal(s.failed(first).connect.hostname, "n2");
    assert.equal(s.failed(s.current).connect.hostname, "n1");
  });
});

describe("the delay cascade's routing keys", () => {
  it("spell the delay in binary, one word per level, then the queue", () => {
    const key = delayRoutingKey(5, "celery");
    const words = key.split(".");
    assert.equal(words.length, DELAY_LEVELS + 1);
    assert.equal(words.slice(0, DELAY_LEVELS).join(""), (5).toString(2).padStart(DELAY_LEVELS, "0"));
    assert.equal(words.at(-1), "celery");
    assert.equal(
      delayRoutingKey(MAX_DELAY_MS * 10, "q")
        .split(".")
        .slice(0, DELAY_LEVELS)
        .join(""),
      "1".repeat(DELAY_LEVELS),
      "clamped",
    );
  });
});

describe("headers for Python peers", () => {
  it("types integers as 32/64-bit (py-amqp misreads amqplib's byte and short types)", () => {
    assert.deepEqual(typedTable({ retries: 1, big: 2 ** 40, f: 1.5, list: [300, null], nested: { n: -1 }, skip: undefined }), {
      retries: { "!": "int", value: 1 },
      big: { "!": "long", value: 2 ** 40 },
      f: 1.5,
      list: [{ "!": "int", value: 300 }, null],
      nested: { n: { "!": "int", value: -1 } },
    });
  });
  it("publish options carry Celery's properties; a received message drops RabbitMQ's dead-letter headers", () => {
    const m = encodeTask({ task: "t", args: [1], replyTo: "reply-q", priority: 3 });
    const o = publishOptions(m, undefined);
    assert.deepEqual([o.contentType, o.correlationId, o.replyTo, o.deliveryMode, o.priority], ["application/json", m.headers.id, "reply-q", 2, 3]);
    const back = fromAmqp({
      content: m.body,
      fields: { exchange: "x", routingKey: "rk" },
      properties: {
        contentType: "application/json",
        contentEncoding: "utf-8",
        headers: { id: "a", "x-death": [{ count: 1 }], "x-first-death-queue": "q" },
        correlationId: "a",
      } as never,
    });
    assert.deepEqual(back.headers, { id: "a" });
    assert.deepEqual(back.properties.delivery_info, { exchange: "x", routing_key: "rk" });
  });
});

describe("ack batching", () => {
  it("one multiple-ack for a settled prefix; single acks above a tag still held", () => {
    const t = new AckTracker();
    for (let i = 1; i <= 6; i++) t.delivered(i);
    assert.deepEqual(t.ack([2, 1, 3]), { upTo: 3, singles: [] });
    assert.deepEqual(t.ack([5, 6]), { upTo: null, singles: [5, 6] }, "4 is still held");
    t.settle(4); // nacked
    t.delivered(7);
    assert.deepEqual(t.ack([7]), { upTo: 7, singles: [] });
  });
  it("a multiple-ack never names a tag acked one by one before (RabbitMQ: unknown delivery tag)", () => {
    const t = new AckTracker();
    for (let i = 1; i <= 6; i++) t.delivered(i);
    assert.deepEqual(t.ack([5, 6]), { upTo: null, singles: [5, 6] });
    assert.deepEqual(t.ack([2, 4]), { upTo: null, singles: [2, 4] }, "1 is still held");
    assert.deepEqual(t.ack([3, 1]), { upTo: 3, singles: [] }, "up to 3, not to 6: 4, 5 and 6 are acked already");
  });
});

describe("StallWatch (a consumer RabbitMQ stopped serving)", () => {
  it("is stalled only when two checks a timeout apart both find ready messages, with no delivery between", () => {
    const w = new StallWatch(1000);
    w.served("q", 0);
    assert.deepEqual(w.due(["q"], 500), [], "served recently");
    assert.deepEqual(w.due(["q"], 1000), ["q"]);
    assert.equal(w.checked("q", 3, 1000), false, "one check is not enough: they may just have arrived");
    assert.deepEqual(w.due(["q"], 1500), [], "checked recently");
    assert.equal(w.checked("q", 3, 2000), true, "ready at two checks in a row");
    assert.equal(w.checked("q", 3, 3000), false, "a stall is reported once, then needs two checks again");
    w.served("q", 3100);
    assert.equal(w.checked("q", 3, 4200), false, "a delivery between checks clears the suspicion");
    assert.equal(w.checked("q", 0, 5200), false);
    assert.equal(w.checked("q", 2, 6200), false, "an empty queue between checks clears it too");
    assert.deepEqual(new StallWatch(0).due(["q"], 1e9), [], "0 turns the check off");
  });
});
