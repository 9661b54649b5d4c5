import { after } from "node:test";
import { AmqpBroker } from "../../src/brokers/amqp/index.js";
import { createBroker } from "../../src/brokers/index.js";
import { brokerConformance } from "../support/broker-suite.js";
import { AMQP_URL, requireRabbit } from "../support/amqp.js";

const skip = await requireRabbit();
if (skip) {
  console.log(`# SKIP broker-amqp: ${skip}`);
} else {
  const made: AmqpBroker[] = [];
  after(async () => {
    // The suite's queues are uniquely named: delete them so the shared server stays clean.
    const queues = new Set(made.flatMap((b) => [...b.declaredQueues]));
    const b = new AmqpBroker(AMQP_URL);
    await b.connect();
    for (const q of queues) await b.deleteQueue(q).catch(() => {});
    await b.close();
  });
  brokerConformance("amqp", {
    make: async (opts) => {
      // Priorities need x-max-priority on the queue (as in Celery, only when configured).
      const b = (await createBroker(AMQP_URL, { ...opts, topology: { taskQueueMaxPriority: 10 } })) as AmqpBroker;
      made.push(b);
      return b;
    },
  });
}
