import { after } from "node:test";
import type { AmqpBroker } from "../../src/brokers/amqp/index.js";
import { createBroker } from "../../src/brokers/index.js";
import { brokerConformance, fanoutConformance } from "../support/broker-suite.js";
import { AMQP_URL, deleteAmqpEntities, requireRabbit } from "../support/amqp.js";

const skip = await requireRabbit();
if (skip) {
  console.log(`# SKIP broker-amqp: ${skip}`);
} else {
  const made: AmqpBroker[] = [];
  after(async () => {
    // The suite's queues are uniquely named: delete them so the shared server stays clean.
    // Each got an exchange of its own name too (Celery's rule for queues not in taskQueues).
    const queues = [...new Set(made.flatMap((b) => [...b.declaredQueues]))];
    await deleteAmqpEntities({ queues, exchanges: queues });
  });
  fanoutConformance("amqp", { make: async (opts) => (await createBroker(AMQP_URL, opts)) as AmqpBroker });
  brokerConformance("amqp", {
    make: async (opts) => {
      // Priorities need x-max-priority on the queue (as in Celery, only when configured).
      const b = (await createBroker(AMQP_URL, { ...opts, topology: { taskQueueMaxPriority: 10 } })) as AmqpBroker;
      made.push(b);
      return b;
    },
  });
}
