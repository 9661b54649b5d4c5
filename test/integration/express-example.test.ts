// examples/express: real HTTP against the Express app, a real worker process
// running the tasks. The request returns at once; the slow task finishes later.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startNode, startWorker, type RunningProcess } from "../support/processes.js";

const TASKS = "examples/express/tasks.ts";
const dir = mkdtempSync(join(tmpdir(), "celeriac-express-"));
const url = `sqlite://${join(dir, "web.db")}`;
const env = { CELERIAC_BROKER_URL: url, CELERIAC_RESULT_BACKEND: url, SMS_DELAY_MS: "5000" }; // long enough that "not done yet" holds on a loaded machine

let web: RunningProcess;
let worker: RunningProcess;
let base = "";

async function post(path: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function getTask(id: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${base}/tasks/${id}`);
  assert.equal(res.status, 200);
  return (await res.json()) as Record<string, unknown>;
}

async function waitReady(id: string, timeoutMs = 30_000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const t = await getTask(id);
    if (t.ready) return t;
    if (Date.now() > deadline) throw new Error(`task ${id} not ready: ${JSON.stringify(t)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("examples/express", () => {
  before(async () => {
    web = startNode(["examples/express/server.ts"], { ...env, PORT: "0" });
    await web.waitFor(/listening on (http:\/\/\S+)/, 30_000);
    base = /listening on (http:\/\/\S+)/.exec(web.output())![1]!;
    worker = await startWorker(TASKS, ["-c", "2", "-l", "info", "-P", "async"], env);
  });
  after(async () => {
    await web?.stop();
    await worker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("POST /tasks/add returns a task id at once; GET /tasks/:id gives the state and result", async () => {
    const sent = await post("/tasks/add", { x: 2, y: 3 });
    assert.equal(sent.status, 202);
    assert.match(String(sent.body.task_id), /^[0-9a-f-]{36}$/);
    const done = await waitReady(String(sent.body.task_id));
    assert.deepEqual({ state: done.state, result: done.result }, { state: "SUCCESS", result: 5 });
    const bad = await post("/tasks/add", { x: "2" });
    assert.equal(bad.status, 400);
  });

  it("a slow SMS task runs on the worker while the HTTP request returns immediately", async () => {
    const sent = await post("/sms", { phone: "+33612345678", text: "Your code is 123456" });
    assert.equal(sent.status, 202);
    // The answer came before the task finished: it is not ready when asked right after.
    const id = String(sent.body.task_id);
    const early = await getTask(id);
    assert.ok(["PENDING", "STARTED"].includes(String(early.state)), `not done yet: ${String(early.state)}`);
    assert.equal(early.ready, false);
    const done = await waitReady(id);
    assert.equal(done.state, "SUCCESS");
    assert.equal((done.result as { status: string }).status, "delivered");

    const wrong = await post("/sms", { phone: "not-a-number", text: "hi" });
    const failed = await waitReady(String(wrong.body.task_id));
    assert.equal(failed.state, "FAILURE");
    assert.deepEqual(failed.error, { type: "RangeError", message: "not a phone number: not-a-number" });
  });

  it("an unknown id is PENDING", async () => {
    const t = await getTask("00000000-0000-4000-8000-000000000000");
    assert.equal(t.state, "PENDING");
    assert.equal(t.ready, false);
  });
});
