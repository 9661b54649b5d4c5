// Remote control and task execution options through real worker processes:
// ping, inspect, revoke (waiting, running with terminate, across a restart
// with --statedb), rate limits, consumers, pool resizing, signals.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { Celeriac, Worker } from "../../src/index.js";
import { CLI, startNode, startWorker } from "../support/processes.js";
import { waitUntil } from "../support/wait.js";

const APP = "test/fixtures/app.ts";
const dir = mkdtempSync(join(tmpdir(), "celeriac-control-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const lines = (file: string) => (existsSync(file) ? readFileSync(file, "utf8").split("\n").filter(Boolean) : []);

let n = 0;
function store() {
  const url = `sqlite://${join(dir, `c${n++}.db`)}`;
  return {
    url,
    env: { CELERIAC_BROKER_URL: url, CELERIAC_RESULT_BACKEND: url },
    app: new Celeriac({ name: "client", broker: url, backend: url }),
    log: join(dir, `log${n}.txt`),
  };
}

describe("remote control with worker processes", () => {
  it("ping, status and inspect see the worker; revoke skips a waiting task; terminate stops a running one", async () => {
    const s = store();
    const w = await startWorker(APP, ["-c", "2", "-l", "info", "-n", "alpha@%h"], s.env);
    const replies = await s.app.control.ping({ timeout: 1500 });
    assert.equal(replies.length, 1);
    const [host, reply] = Object.entries(replies[0]!)[0]!;
    assert.match(host, /^alpha@/);
    assert.deepEqual(reply, { ok: "pong" });

    const registered = await s.app.control.inspect().registered();
    assert.ok((Object.values(registered[0]!)[0] as string[]).includes("fixture.add"));

    // A running task shows in `inspect active`, and terminate stops it. The
    // client writes REVOKED itself when it revokes, so the state proves nothing
    // about the worker: what is asserted is the worker's own doing.
    const activeIds = async () => ((Object.values((await s.app.control.inspect().active())[0] ?? {})[0] ?? []) as { id: string }[]).map((t) => t.id);
    const hung = s.app.sendTask("fixture.hang", []);
    await waitUntil(`fixture.hang ${hung.id} in inspect active`, async () => (await activeIds()).includes(hung.id));
    assert.deepEqual(await activeIds(), [hung.id]);
    await hung.revoke({ terminate: true });
    await assert.rejects(hung.get({ timeout: 10_000 }), /revoked|terminated/);
    // fixture.hang spins forever: only the terminate takes it off the pool slot.
    await w.waitFor(new RegExp(`task fixture\\.hang\\[${hung.id}\\] terminated: revoked`));
    await waitUntil("the terminated task to leave inspect active", async () => (await activeIds()).length === 0);

    // A task revoked before it runs is skipped when it arrives.
    const later = s.app.sendTask("fixture.record", [s.log, 1], undefined, { countdown: 1.5 });
    await later.sent;
    await s.app.control.revoke(later.id);
    const revokedIds = async () => (Object.values((await s.app.control.inspect().revoked())[0] ?? {})[0] ?? []) as string[];
    await waitUntil(`the worker to list ${later.id} in inspect revoked`, async () => (await revokedIds()).includes(later.id));
    await assert.rejects(later.get({ timeout: 10_000 }), /revoked/);
    // The countdown ends and the worker drops the task instead of running it.
    await w.waitFor(new RegExp(`task fixture\\.record\\[${later.id}\\] is revoked: not run`), 15_000);
    assert.deepEqual(lines(s.log), [], "the revoked task never ran");
    assert.equal(await s.app.sendTask("fixture.add", [1, 2]).get({ timeout: 10_000 }), 3, "the worker goes on");

    // One revoked while it waits in a busy pool child's window is taken back, not run there.
    const windowLog = `${s.log}.window`;
    const busy = [s.app.sendTask("fixture.slowRecord", [windowLog, 1500]), s.app.sendTask("fixture.slowRecord", [windowLog, 1500])];
    const queued = s.app.sendTask("fixture.record", [windowLog, 2]);
    await w.waitFor(new RegExp(`fixture\\.record\\[${queued.id}\\] received`));
    await s.app.control.broadcast("revoke", { task_id: [queued.id] });
    await w.waitFor(new RegExp(`task fixture\\.record\\[${queued.id}\\] is revoked: not run`), 15_000);
    await Promise.all(busy.map((r) => r.get({ timeout: 15_000 })));
    assert.deepEqual(lines(windowLog).sort(), busy.map((r) => r.id).sort(), "the revoked task never ran");

    // The CLI shows the same.
    const status = startNode([CLI, "-A", APP, "status"], s.env);
    assert.equal(await status.exited, 0);
    assert.match(status.output(), /alpha@.*: OK[\s\S]*1 node online/);
    await w.stop();
    await s.app.close();
  });

  it("--statedb keeps revoked ids across a worker restart", async () => {
    const s = store();
    const state = join(dir, `state-${n}.json`);
    const first = await startWorker(APP, ["-c", "1", "-l", "info", "--statedb", state], s.env);
    const id = randomUUID();
    const revokedIds = async () => (Object.values((await s.app.control.inspect().revoked())[0] ?? {})[0] ?? []) as string[];
    // A bare broadcast, not control.revoke(): nothing but the worker writes REVOKED for this id.
    await s.app.control.broadcast("revoke", { task_id: [id] });
    await waitUntil(`the first worker to list ${id} in inspect revoked`, async () => (await revokedIds()).includes(id));
    assert.equal(await first.stop(), 0);
    const second = await startWorker(APP, ["-c", "1", "-l", "info", "--statedb", state], s.env);
    assert.deepEqual(await revokedIds(), [id], "the restarted worker read the id back from its statedb");
    const r = s.app.sendTask("fixture.record", [s.log, 2], undefined, { taskId: id });
    await assert.rejects(r.get({ timeout: 10_000 }), /revoked/);
    await second.waitFor(new RegExp(`task fixture\\.record\\[${id}\\] is revoked: not run`));
    assert.deepEqual(lines(s.log), []);
    await second.stop();
    await s.app.close();
  });

  it("rateLimit spaces a task's runs on a worker; rate_limit changes it at run time", async () => {
    const s = store();
    const w = await startWorker(APP, ["-c", "2", "-l", "warning"], s.env);
    const t0 = Date.now();
    await Promise.all(Array.from({ length: 8 }, () => s.app.sendTask("fixture.limited", [s.log]).get({ timeout: 30_000 })));
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 1200, `8 tasks at 5/s took ${elapsed} ms`);
    const stamps = lines(s.log).map(Number);
    for (let i = 1; i < stamps.length; i++) assert.ok(stamps[i]! - stamps[i - 1]! >= 120, `runs spaced: ${stamps.join(",")}`);
    await s.app.control.rateLimit("fixture.limited", "1000/s");
    // At 5/s no two runs come closer than 200 ms; lifted, two pool slots soon run two together.
    await Promise.all(Array.from({ length: 20 }, () => s.app.sendTask("fixture.limited", [s.log]).get({ timeout: 30_000 })));
    const later = lines(s.log)
      .map(Number)
      .slice(stamps.length)
      .sort((a, b) => a - b);
    const closest = Math.min(...later.slice(1).map((t, i) => t - later[i]!));
    assert.ok(closest < 120, `no longer spaced after rate_limit: closest runs ${closest} ms apart`);
    await w.stop();
    await s.app.close();
  });

  it("add_consumer, cancel_consumer and pool_grow change a running worker", async () => {
    const s = store();
    const w = await startWorker(APP, ["-c", "1", "-l", "info"], s.env);
    const extra = s.app.sendTask("fixture.add", [2, 2], undefined, { queue: "extra" });
    // One worker on this store: its reply ends the wait (limit), not the timeout.
    const added = await s.app.control.addConsumer("extra", { timeout: 5000, limit: 1 });
    assert.equal(added.length, 1, `add_consumer answered; worker output:\n${w.output()}`);
    assert.equal(await extra.get({ timeout: 30_000 }), 4, `worker output:\n${w.output()}`);
    const grown = await s.app.control.poolGrow(1, { timeout: 30_000, limit: 1 });
    assert.equal((Object.values(grown[0]!)[0] as { size: number }).size, 2);
    const pids = await Promise.all(Array.from({ length: 2 }, () => s.app.sendTask<number>("fixture.sleep", [600]).get({ timeout: 30_000 })));
    assert.equal(pids.length, 2);
    await s.app.control.cancelConsumer("extra");
    const queues = await s.app.control.inspect().activeQueues();
    assert.deepEqual(
      (Object.values(queues[0]!)[0] as { name: string }[]).map((q) => q.name),
      ["celery"],
    );
    // Its last queue cancelled, the worker consumes nothing (a paused queue) until add_consumer.
    assert.equal((await s.app.control.cancelConsumer("celery", { timeout: 5000, limit: 1 })).length, 1);
    const paused = s.app.sendTask<number>("fixture.add", [3, 3]);
    await paused.sent;
    const broker = await s.app.broker();
    // Two fetch waits of the worker's consumer pass without it taking the task.
    const until = Date.now() + 2500;
    await waitUntil("the paused worker's fetch waits to pass", () => Date.now() >= until, 5000, 100);
    assert.equal(await broker.size("celery"), 1, `still waiting; worker output:\n${w.output()}`);
    await s.app.control.addConsumer("celery", { timeout: 5000, limit: 1 });
    assert.equal(await paused.get({ timeout: 30_000 }), 6);
    await w.stop();
    await s.app.close();
  });
});

describe("signals", () => {
  it("fires taskPrerun, taskSuccess, taskFailure, taskRetry, taskPostrun, workerReady and workerShutdown", async () => {
    const url = `memory://signals-${randomUUID()}`;
    const app = new Celeriac({ name: "sig", broker: url, backend: url });
    const ok = app.task("sig.ok", () => 1);
    const bad = app.task("sig.bad", () => {
      throw new Error("no");
    });
    const seen: string[] = [];
    for (const name of ["taskPrerun", "taskSuccess", "taskFailure", "taskPostrun", "workerReady", "workerShutdown"] as const) {
      app.on(name, () => seen.push(name));
    }
    const w = new Worker(app, { pool: "async", concurrency: 1 });
    await w.start();
    await ok.delay().get({ timeout: 5000 });
    await bad.delay().get({ timeout: 5000, propagate: false });
    await w.stop();
    assert.deepEqual(seen, ["workerReady", "taskPrerun", "taskSuccess", "taskPostrun", "taskPrerun", "taskFailure", "taskPostrun", "workerShutdown"]);
  });
});
