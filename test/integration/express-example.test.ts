// examples/express: real HTTP against the Express app, a real worker process
// running the tasks. The request returns at once; the slow task finishes later;
// a long import's progress streams over Server-Sent Events to a progress bar
// (headless Chromium; screenshot in test-artifacts/express-progress.png).
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { launchChromium, skipWithoutChromium } from "../support/browser.js";
import { ROOT, startNode, startWorker, type RunningProcess } from "../support/processes.js";
import { waitUntil } from "../support/wait.js";

const TASKS = "examples/express/tasks.ts";
const dir = mkdtempSync(join(tmpdir(), "celeriac-express-"));
const url = `sqlite://${join(dir, "web.db")}`;
const env = { CELERIAC_BROKER_URL: url, CELERIAC_RESULT_BACKEND: url, SMS_DELAY_MS: "5000", IMPORT_ROW_MS: "150" }; // long enough that "not done yet" holds on a loaded machine

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
  let t: Record<string, unknown> = {};
  await waitUntil(
    () => `task ${id} to be ready: ${JSON.stringify(t)}`,
    async () => Boolean((t = await getTask(id)).ready),
    timeoutMs,
    100,
  );
  return t;
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

  it("GET /tasks/:id/events streams an import's progress as Server-Sent Events, then its result, and ends", async () => {
    const sent = await post("/imports", { rows: 5 });
    assert.equal(sent.status, 202);
    const res = await fetch(`${base}/tasks/${String(sent.body.task_id)}/events`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
    const events = (await res.text()) // the stream ends after "done"
      .split("\n\n")
      .filter(Boolean)
      .map((block) => {
        const [, event, data] = /^event: (\S+)\ndata: (.*)$/.exec(block)!;
        return { event: event!, data: JSON.parse(data!) as Record<string, unknown> };
      });
    const progress = events.filter((e) => e.event === "progress").map((e) => e.data.percent as number);
    assert.ok(progress.length >= 2, `several progress events: ${JSON.stringify(events)}`);
    assert.deepEqual(
      progress,
      [...progress].sort((a, b) => a - b),
      "progress only grows",
    );
    // Polled (SQLite), the last step may be stored just before SUCCESS replaces it: "done" says the rest.
    assert.ok(progress.every((p) => p > 0 && p <= 100) && progress.length <= 5, JSON.stringify(progress));
    assert.deepEqual(events.at(-1), { event: "done", data: { state: "SUCCESS", result: { imported: 5 } } });
    assert.equal((await post("/imports", { rows: 0 })).status, 400);
  });

  it("the page's progress bar moves to 100 % in a browser", { skip: skipWithoutChromium }, async () => {
    const browser = await launchChromium({ width: 800, height: 600 });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(`${base}/`);
      await page.fill("#rows", "8");
      await page.click("button[type=submit]");
      // Part way first: the bar moves, it does not jump from 0 to done.
      await page.waitForFunction(() => {
        const now = Number(document.getElementById("bar")!.getAttribute("aria-valuenow"));
        return now > 0 && now < 100;
      });
      await page.waitForFunction(() => document.getElementById("status")!.textContent === "Done: 8 rows imported.", undefined, { timeout: 30_000 });
      assert.equal(await page.getAttribute("#bar", "aria-valuenow"), "100");
      assert.equal(await page.evaluate(() => document.getElementById("fill")!.style.width), "100%");
      mkdirSync(join(ROOT, "test-artifacts"), { recursive: true });
      await page.screenshot({ path: join(ROOT, "test-artifacts", "express-progress.png") });
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
  });

  it("an unknown id is PENDING", async () => {
    const t = await getTask("00000000-0000-4000-8000-000000000000");
    assert.equal(t.state, "PENDING");
    assert.equal(t.ready, false);
  });
});
