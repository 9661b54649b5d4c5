// Task.replace across languages over Redis and RabbitMQ: workflows started by a real Python
// Celery 5.2.6 producer whose steps replace themselves on a Celeriac worker
// (process pool: the replacement is sent from the pool child), the rest of the
// workflow continuing on either side, and a Python task's replacement followed
// by a Celeriac step. Redis, RabbitMQ and Python are required under CI=true.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startMixedWorkers, type MixedWorkers, type PyOutcome } from "../support/mixed-workers.js";
import { pythonCeleryAvailable } from "../support/python.js";
import { AMQP_URL, requireRabbit } from "../support/amqp.js";
import { redisAvailable, redisUrl } from "../support/redis.js";

const REDIS = redisUrl(15);
const available = (await redisAvailable()) && (await pythonCeleryAvailable());
// Over Redis, and over RabbitMQ with the results in Redis.
const brokers: [string, string, boolean][] = [
  ["Redis", REDIS, available],
  ["RabbitMQ", AMQP_URL, available && (await requireRabbit()) === null],
];

for (const [brokerName, broker, runs] of brokers) {
  describe(`Task.replace interop with Python Celery 5.2.6 over ${brokerName}`, { skip: !runs }, () => {
    let workers: MixedWorkers;
    let out: Record<string, PyOutcome & Record<string, PyOutcome>>;

    before(async () => {
      workers = await startMixedWorkers(`replace-${brokerName.toLowerCase()}`, REDIS, { broker });
      out = await workers.produce("replace_produce.py");
    });
    after(async () => {
      await workers?.stop();
    });

    it("a task replaced by a task, by a chain in the middle of a chain, by a group", () => {
      assert.deepEqual(out.task, { state: "SUCCESS", result: 15 });
      assert.deepEqual(out.chain_middle, { state: "SUCCESS", result: 40 });
      assert.deepEqual(out.group, { state: "SUCCESS", result: [6, 7] });
    });

    it("a chord header part and a chord body replaced", () => {
      assert.deepEqual(out.chord_part, { state: "SUCCESS", result: 13 });
      assert.deepEqual(out.chord_body, { state: "SUCCESS", result: 6 });
    });

    it("a Python-linked callback follows the replacement", () => {
      assert.deepEqual(out.callback, { task: { state: "SUCCESS", result: 11 }, callback: { state: "SUCCESS", result: 111 } });
    });

    it("the workflow goes on across languages after a replacement on either side", () => {
      assert.deepEqual(out.then_python, { state: "SUCCESS", result: 16 });
      assert.deepEqual(out.python_replaced, { state: "SUCCESS", result: 150 });
    });
  });
}
