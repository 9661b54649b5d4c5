// Task.addToChord across languages over Redis and RabbitMQ: chords started by a real
// Python Celery 5.2.6 producer (it records the size in `.s`, no chord_size in
// the messages) whose header task adds to the chord on a Celeriac worker
// (process pool). The added parts run on the Celeriac worker, or on a Python
// worker that completes the chord only if it counts the Celeriac worker's
// `.t`. Redis, RabbitMQ and Python are required under CI=true.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startMixedWorkers, type MixedWorkers, type PyOutcome } from "../support/mixed-workers.js";
import { pythonCeleryAvailable } from "../support/python.js";
import { AMQP_URL, requireRabbit } from "../support/amqp.js";
import { redisAvailable, redisUrl } from "../support/redis.js";

const REDIS = redisUrl(13);
const available = (await redisAvailable()) && (await pythonCeleryAvailable());
// Over Redis, and over RabbitMQ with the results in Redis.
const brokers: [string, string, boolean][] = [
  ["Redis", REDIS, available],
  ["RabbitMQ", AMQP_URL, available && (await requireRabbit()) === null],
];

for (const [brokerName, broker, runs] of brokers) {
  describe(`Task.addToChord interop with Python Celery 5.2.6 over ${brokerName}`, { skip: !runs }, () => {
    let workers: MixedWorkers;
    let out: Record<string, PyOutcome>;

    before(async () => {
      workers = await startMixedWorkers(`add-to-chord-${brokerName.toLowerCase()}`, REDIS, { broker });
      out = await workers.produce("add_to_chord_produce.py");
    });
    after(async () => {
      await workers?.stop();
    });

    it("tasks added on a Celeriac worker complete a Python-sized chord (0 + 5 + 6 + 7)", () => {
      assert.deepEqual(out.celeriac_parts, { state: "SUCCESS", result: 18 });
    });

    it("a Python worker running the added tasks counts the Celeriac worker's .t", () => {
      assert.deepEqual(out.python_parts, { state: "SUCCESS", result: 18 });
      assert.deepEqual(out.mixed, { state: "SUCCESS", result: 0 + 11 + 12 + 100 });
    });

    it("a chord added to the chord, its header run by Python (0 + (5 + 6 + 7))", () => {
      assert.deepEqual(out.chord_python_parts, { state: "SUCCESS", result: 18 });
    });

    it("a task in no chord: the Python caller gets ValueError", () => {
      assert.deepEqual(out.not_in_chord, { state: "FAILURE", type: "ValueError", message: "Current task is not member of any chord" });
    });
  });
}
