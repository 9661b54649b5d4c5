// Faults on RabbitMQ with real worker processes: a worker killed with -9
// while it holds late-ack tasks, and RabbitMQ itself stopped and started
// mid-run (rabbitmqctl stop_app / start_app: this briefly takes the shared
// server's AMQP listener down, so it is the last test here and kept short).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { Celeriac } from "../../src/index.js";
import { AMQP_URL, deleteAmqpEntities, rabbitAnswers, requireRabbit } from "../support/amqp.js";
import { startWorker } from "../support/processes.js";

const APP = "test/fixtures/amqp-faults.ts";
const skip = await requireRabbit();
const dir = mkdtempSync(join(tmpdir(), "celeriac-amqp-faults-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function setup(name: string) {
  const queue = `faults-${name}-${randomUUID().slice(0, 8)}`;
  const backend = `sqlite://${join(dir, `${queue}.db`)}`;
  const env = { FAULTS_AMQP_URL: AMQP_URL, FAULTS_QUEUE: queue, FAULTS_BACKEND: backend };
  const app = new Celeriac({ name: "client", broker: AMQP_URL, backend, taskDefaultQueue: queue, taskDefaultExchange: queue, taskDefaultRoutingKey: queue });
  return { queue, env, app, log: join(dir, `${queue}.log`), cleanup: () => deleteAmqpEntities({ queues: [queue], exchanges: [queue] }) };
}

const lines = (file: string) => (existsSync(file) ? readFileSync(file, "utf8").split("\n").filter(Boolean) : []);

describe("AMQP faults", { skip: skip ?? false }, () => {
  it("kill -9 of a worker holding acksLate tasks: RabbitMQ redelivers them and they complete", async () => {
    const s = setup("kill");
    try {
      const victim = await startWorker(APP, ["-P", "async", "-c", "2", "--prefetch-multiplier", "2", "-l", "info"], s.env);
      const results = Array.from({ length: 6 }, () => s.app.sendTask<number>("faults.slow", [s.log, 1200]));
      await Promise.all(results.map((r) => r.sent));
      await victim.waitFor(/faults\.slow\[.*\] received/);
      victim.proc.kill("SIGKILL");
      await victim.exited;
      assert.equal(lines(s.log).length, 0, "the victim finished nothing");
      const rescuer = await startWorker(APP, ["-P", "async", "-c", "6", "-l", "info"], s.env);
      const values = await Promise.all(results.map((r) => r.get({ timeout: 30_000 })));
      assert.deepEqual(values, Array(6).fill(1200));
      const ran = lines(s.log);
      assert.equal(new Set(ran.map((l) => l.split(" ")[0])).size, 6, "every task ran to the end");
      assert.ok(ran.filter((l) => l.endsWith("redelivered")).length >= 1, `the victim's tasks came back marked redelivered:\n${ran.join("\n")}`);
      await rescuer.stop();
    } finally {
      await s.app.close();
      await s.cleanup();
    }
  });

  it("RabbitMQ stopped and started mid-run: the worker reconnects by itself and every task completes", async () => {
    const s = setup("restart");
    let stopped = false;
    try {
      const worker = await startWorker(APP, ["-P", "async", "-c", "8", "-l", "info"], s.env);
      const total = 300;
      const results = Array.from({ length: total }, (_, i) => s.app.sendTask<number>(i % 2 ? "faults.quick" : "faults.quickLate", [i]));
      await Promise.all(results.map((r) => r.sent));
      await worker.waitFor(/faults\.quick.*succeeded/);
      execFileSync("rabbitmqctl", ["stop_app"], { stdio: "ignore", timeout: 60_000 });
      stopped = true;
      await new Promise((r) => setTimeout(r, 1000));
      // Tasks sent while the broker is down are published once it is back.
      const late = Array.from({ length: 20 }, (_, i) => s.app.sendTask<number>("faults.quick", [total + i]));
      execFileSync("rabbitmqctl", ["start_app"], { stdio: "ignore", timeout: 60_000 });
      stopped = false;
      const values = await Promise.all([...results, ...late].map((r) => r.get({ timeout: 60_000 })));
      assert.deepEqual(values, Array.from({ length: total + 20 }, (_, i) => i));
      assert.match(worker.output(), /AMQP connection to .* (lost|restored)/);
      assert.doesNotMatch(worker.output(), /guest:guest@/, "no password in the logs");
      assert.equal(await worker.stop(), 0);
    } finally {
      if (stopped) execFileSync("rabbitmqctl", ["start_app"], { stdio: "ignore", timeout: 60_000 });
      for (let i = 0; i < 60 && !(await rabbitAnswers()); i++) await new Promise((r) => setTimeout(r, 500));
      await s.app.close();
      await s.cleanup();
    }
  });
});
