// Faults on RabbitMQ, all on a private node (rabbitfault-<random>@localhost on a free port)
// so the machine's shared server on 5672 is never touched: a worker killed
// with -9 three times mid-drain, and the node itself killed with -9 and
// booted again mid-run. Results go to a sqlite file, so they outlive the node.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { startOwnRabbit, type OwnRabbit } from "../support/rabbit.js";
import { freePort } from "../support/ports.js";
import { killRabbitWhileDraining, killWorkerWhileDraining, type Target } from "./scenarios.js";

// A node name and ports of its own: another checkout may boot one at the same time.
const RABBIT = { nodeName: `rabbitfault-${randomUUID().slice(0, 8)}@localhost`, port: await freePort(), distPort: await freePort() };
const installed = existsSync("/usr/lib/rabbitmq/bin/rabbitmq-server");
if (!installed && process.env.CI === "true") throw new Error("rabbitmq-server is required for the AMQP fault tests under CI");

const dir = mkdtempSync(join(tmpdir(), "celeriac-fault-amqp-"));
after(() => rmSync(dir, { recursive: true, force: true }));
// Booted here, not in a before() hook: its after() hook must belong to the file, not to that hook.
const rabbit: OwnRabbit | null = installed ? await startOwnRabbit(RABBIT) : null;

describe("AMQP faults on a private RabbitMQ node (acksLate)", { skip: !installed }, () => {
  const target = (queue: string): Target => ({ broker: "amqp", brokerUrl: rabbit!.url, backendUrl: `sqlite://${join(dir, `${queue}.db`)}`, queue });

  it("kill -9 of a worker mid-drain, three times: none lost, the running ones come back marked redelivered", { timeout: 120_000 }, async () => {
    const runsFile = join(dir, "kill.runs");
    const size = { tasks: 300, taskMs: 20, concurrency: 8, kills: 3, timeoutMs: 90_000 };
    const outcome = await killWorkerWhileDraining({ ...size, target: target("fault-kill"), runsFile });
    try {
      assert.equal(outcome.workers.length, size.kills + 1, "a worker per kill, and the first");
      assert.equal(outcome.sent, size.tasks);
      assert.equal(outcome.lost, 0, "every task's result is SUCCESS");
      const redelivered = readFileSync(runsFile, "utf8")
        .split("\n")
        .filter((l) => l.endsWith(" redelivered"));
      assert.ok(redelivered.length >= 1, "a task a killed worker held came back marked redelivered");
    } finally {
      await outcome.worker.stop();
    }
  });

  it(
    "kill -9 of the RabbitMQ node mid-run, booted again: the worker reconnects, none lost, sends made while it was down arrive",
    { timeout: 180_000 },
    async () => {
      const size = { tasks: 300, taskMs: 5, concurrency: 8, timeoutMs: 150_000 };
      const outcome = await killRabbitWhileDraining({ ...size, target: target("fault-node"), runsFile: join(dir, "node.runs") }, rabbit!, 20);
      try {
        assert.equal(outcome.sent, size.tasks + 20, "the broker confirmed the sends made while it was down, once back");
        assert.equal(outcome.lost, 0, "every task's result is SUCCESS");
        const out = outcome.worker.output();
        assert.match(out, /AMQP connection to .* (lost|restored)/);
        assert.doesNotMatch(out, /guest:guest@/, "no password in the logs");
      } finally {
        assert.equal(await outcome.worker.stop(), 0, "warm shutdown after the outage");
      }
    },
  );
});
