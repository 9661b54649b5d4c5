// Task semantics through a real worker (async pool, in this process) on the
// memory and sqlite brokers: results, errors, retries, expiry, kwargs, parents.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Celeriac, RemoteTaskError, States, TaskNotRegistered, Worker, type TaskContext } from "../../src/index.js";
import { encodeTask } from "../../src/protocol/message.js";

class PaymentDeclined extends Error {
  override name = "PaymentDeclined";
}

const dir = mkdtempSync(join(tmpdir(), "celeriac-inproc-"));
after(() => rmSync(dir, { recursive: true, force: true }));

for (const kind of ["memory", "sqlite"] as const) {
  describe(`worker semantics on ${kind}`, () => {
    const url = kind === "memory" ? `memory://inproc-${randomUUID()}` : `sqlite://${join(dir, "inproc.db")}`;
    const app = new Celeriac({ name: "sem", broker: url, backend: url });
    let attempts = 0;
    const add = app.task("sem.add", (x: number, y: number) => x + y);
    const kw = app.task({ name: "sem.kw", kwargsAsObject: true }, (a: number, kwargs?: { b?: number }) => [a, kwargs?.b ?? null]);
    const boom = app.task("sem.boom", () => {
      throw new PaymentDeclined("card refused");
    });
    const retrying = app.task({ name: "sem.retrying", bind: true, maxRetries: 2 }, function (this: TaskContext) {
      this.retry({ countdown: 0.05, exc: new PaymentDeclined(`attempt ${this.request.retries}`) });
    });
    const auto = app.task({ name: "sem.auto", autoretryFor: [PaymentDeclined], maxRetries: 3, defaultRetryDelay: 0.05 }, function (this: TaskContext) {
      attempts++;
      if (this.request.retries < 2) throw new PaymentDeclined("flaky");
      return this.request.retries;
    });
    const parentOf = app.task({ name: "sem.parent", bind: true }, async function (this: TaskContext) {
      const child = add.delay(1, 1);
      await child.sent;
      return child.id;
    });
    const info = app.task({ name: "sem.info", bind: true }, function (this: TaskContext) {
      return { id: this.request.id, retries: this.request.retries, hostname: this.request.hostname, queue: this.request.deliveryInfo.routing_key };
    });
    const slowSoft = app.task({ name: "sem.soft", bind: true, softTimeLimit: 0.2 }, async function (this: TaskContext) {
      await new Promise((resolve, reject) => {
        const t = setTimeout(resolve, 120_000); // far past the get's timeout: only the abort can end it in time
        this.signal.addEventListener("abort", () => {
          clearTimeout(t);
          reject(this.signal.reason);
        });
      });
    });
    const ignored = app.task({ name: "sem.ignored", ignoreResult: true }, () => 1);
    const worker = new Worker(app, { pool: "async", concurrency: 4, hostname: "sem@test" });

    before(async () => {
      await worker.start();
    });
    after(async () => {
      await worker.stop();
      await app.close();
    });

    it("runs a task and returns its typed result", async () => {
      const r = add.delay(2, 3);
      const v: number = await r.get({ timeout: 5000 });
      assert.equal(v, 5);
      assert.equal(r.state, States.SUCCESS);
      assert.equal(await r.successful(), true);
      assert.equal(r.info?.date_done?.length ? true : false, true);
    });

    it("passes kwargs as one final object argument", async () => {
      assert.deepEqual(await kw.applyAsync([1], { kwargs: { b: 2 } }).get({ timeout: 5000 }), [1, 2]);
      assert.deepEqual(await app.sendTask("sem.kw", [7]).get({ timeout: 5000 }), [7, null]);
    });

    it("re-creates a task's error with its type name and message", async () => {
      const r = boom.delay();
      await assert.rejects(r.get({ timeout: 5000 }), (err: Error) => {
        assert.ok(err instanceof RemoteTaskError);
        assert.equal(err.name, "PaymentDeclined");
        assert.equal(err.message, "card refused");
        return true;
      });
      assert.equal(r.state, States.FAILURE);
      assert.equal(await r.failed(), true);
      assert.match(r.traceback ?? "", /card refused/);
      const e = await r.get({ propagate: false });
      assert.equal((e as unknown as Error).name, "PaymentDeclined");
    });

    it("retries with this.retry() and fails with the original error when retries run out", async () => {
      const r = retrying.delay();
      await assert.rejects(r.get({ timeout: 5000 }), (err: Error) => err.name === "PaymentDeclined" && err.message === "attempt 2");
    });

    it("autoretryFor retries matching errors", async () => {
      attempts = 0;
      assert.equal(await auto.delay().get({ timeout: 5000 }), 2);
      assert.equal(attempts, 3);
    });

    it("does not run a task received after it expired (REVOKED)", async () => {
      const r = add.applyAsync([1, 1], { expires: new Date(Date.now() - 1000) });
      await assert.rejects(r.get({ timeout: 5000 }), /expired/);
      assert.equal(r.state, States.REVOKED);
    });

    it("stores FAILURE TaskNotRegistered for an unknown task and goes on", async () => {
      const r = app.sendTask("sem.nope", []);
      await assert.rejects(r.get({ timeout: 5000 }), (e: Error) => e instanceof TaskNotRegistered);
      assert.equal(await add.delay(1, 2).get({ timeout: 5000 }), 3);
    });

    it("survives a malformed message and a disallowed content type", async () => {
      const broker = await app.broker();
      const bad = encodeTask({ task: "sem.add", args: [1, 2] });
      await broker.publish({ queue: "celery" }, { ...bad, body: Buffer.from("{not json") });
      const msgpack = encodeTask({ task: "sem.add", args: [1, 2] }, { serializer: "msgpack" });
      await broker.publish({ queue: "celery" }, msgpack);
      await assert.rejects(app.AsyncResult(String(bad.headers.id)).get({ timeout: 5000 }), /cannot decode/);
      await assert.rejects(app.AsyncResult(String(msgpack.headers.id)).get({ timeout: 5000 }), /acceptContent/);
      assert.equal(await add.delay(2, 2).get({ timeout: 5000 }), 4);
    });

    it("gives a task its request: id, retries, hostname, delivery info", async () => {
      const r = info.delay();
      const got = await r.get({ timeout: 5000 });
      assert.deepEqual(got, { id: r.id, retries: 0, hostname: "sem@test", queue: "celery" });
    });

    it("sets parent and root ids on tasks sent from a task", async () => {
      const parent = parentOf.delay();
      const childId = await parent.get({ timeout: 5000 });
      const child = app.AsyncResult(childId);
      await child.get({ timeout: 5000 });
      assert.equal(child.info?.parent_id, parent.id);
    });

    it("aborts this.signal at the soft time limit with SoftTimeLimitExceeded", async () => {
      // The abort is what ends it: without one the task would outlive the get's timeout.
      await assert.rejects(slowSoft.delay().get({ timeout: 30_000 }), (e: Error) => e.name === "SoftTimeLimitExceeded");
    });

    it("keeps no result for ignoreResult tasks", async () => {
      const r = ignored.delay();
      await r.sent;
      await add.delay(0, 0).get({ timeout: 5000 });
      await new Promise((res) => setTimeout(res, 100)); // nothing to wait for: that no result appears is the assertion
      assert.equal(await r.refresh(), null);
    });

    it("holds countdown tasks in the broker until due", async () => {
      const t0 = Date.now();
      const r = add.applyAsync([5, 5], { countdown: 0.5 });
      assert.equal(await r.get({ timeout: 5000 }), 10);
      assert.ok(Date.now() - t0 >= 450, `ran after ${Date.now() - t0} ms`);
    });
  });
}
