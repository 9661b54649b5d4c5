// The dashboard end to end: a real worker process, the `celeriac dashboard`
// process, real HTTP and headless Chromium driving the page: the live view,
// a task's own page (found by search, opened by its URL, retried until it
// succeeds, its progress bar and logs), and the history after a restart.
// Saves screenshots to test-artifacts/dashboard*.png.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { BrowserContext, Page } from "playwright-core";
import { Celeriac, chain } from "../../src/index.js";
import { acceptDialog, launchChromium, openPage, skipWithoutChromium as skip } from "../support/browser.js";
import { CLI, ROOT, startNode, startWorker, type RunningProcess } from "../support/processes.js";
import { waitUntil } from "../support/wait.js";

const APP = "test/fixtures/app.ts";
const TOKEN = "s3cret-dashboard-token";

const dir = mkdtempSync(join(tmpdir(), "celeriac-dashboard-"));
const url = `sqlite://${join(dir, "dash.db")}`;
const env = { CELERIAC_BROKER_URL: url, CELERIAC_RESULT_BACKEND: url, CELERIAC_DASHBOARD_TOKEN: undefined };

let dashboard: RunningProcess;
let worker: RunningProcess;
let base = "";
let browser: BrowserContext | null = null;
let app: Celeriac;

const HISTORY = join(dir, "dashboard-history.db");

async function startDashboard(args: string[], history = join(dir, `history-${randomUUID()}.db`)): Promise<{ proc: RunningProcess; url: string }> {
  // Polled every second, so what the tests change shows within a second.
  const proc = startNode([CLI, "-A", APP, "dashboard", "--port", "0", "--history", history, "--poll-interval", "1", ...args], env);
  await proc.waitFor(/celeriac dashboard on (http:\/\/\S+)\//, 30_000);
  return { proc, url: /celeriac dashboard on (http:\/\/\S+)\//.exec(proc.output())![1]! };
}

/**
 * Opens a task's detail by clicking its row; if the click landed on another
 * row (the list is redrawn every second, and a row can move between
 * Playwright's aim and its click), through the page's own open().
 */
async function openDetail(page: Page, id: string): Promise<void> {
  const shown = () =>
    page
      .waitForFunction((id) => document.querySelector("#d-fields .mono")?.textContent === id, id, { timeout: 2_000 })
      .then(() => true)
      .catch(() => false);
  await page.click(`[data-task-id="${id}"]`);
  if (await shown()) return;
  // Playwright aims at where the row was; the list, redrawn every second, may have moved it.
  await page.evaluate((id) => (window as unknown as { CeleriacTask: { open(id: string): void } }).CeleriacTask.open(id), id);
  assert.ok(await shown(), `the detail of ${id} opened`);
}

const auth = { authorization: `Bearer ${TOKEN}` };

/** A real HTTP request with headers fetch will not send (Host), as a rebinding browser would. */
function rawRequest(
  base: string,
  path: string,
  headers: Record<string, string>,
  method = "GET",
  body = "",
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method, headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("dashboard", { skip }, () => {
  before(async () => {
    const d = await startDashboard(["--token", TOKEN], HISTORY);
    dashboard = d.proc;
    base = d.url;
    worker = await startWorker(APP, ["-c", "2", "-l", "info", "-E", "-n", "dash@%h"], env);
    app = new Celeriac({ name: "client", broker: url, backend: url, taskSendSentEvent: true });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await worker?.stop();
    await dashboard?.stop();
    await app?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses requests without the token, and refuses to listen on the network without one", async () => {
    for (const path of ["/api/overview", "/metrics", "/api/tasks"]) {
      const res = await fetch(`${base}${path}`);
      assert.equal(res.status, 401, `${path} without a token`);
    }
    assert.equal((await fetch(`${base}/api/overview`, { headers: { authorization: "Bearer wrong" } })).status, 401);
    assert.equal((await fetch(`${base}/api/overview`, { headers: auth })).status, 200);
    const page = await fetch(`${base}/`);
    assert.equal(page.status, 401);
    assert.match(await page.text(), /needs its access token/);
    const post = await fetch(`${base}/api/rate-limit`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    assert.equal(post.status, 401);
    // Changes need a JSON body from the same origin: a cross-site form cannot make them.
    const form = await fetch(`${base}/api/rate-limit`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/x-www-form-urlencoded" },
      body: "task=x",
    });
    assert.equal(form.status, 415);
    const cross = await fetch(`${base}/api/rate-limit`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json", origin: "http://evil.example" },
      body: "{}",
    });
    assert.equal(cross.status, 403);

    const open = startNode([CLI, "-A", APP, "dashboard", "--port", "0", "--host", "0.0.0.0"], env);
    assert.equal(await open.exited, 2);
    assert.match(open.output(), /give it a token/);
  });

  it("without a token answers only to loopback Host names, so DNS rebinding cannot reach it", async () => {
    const open = await startDashboard([]);
    try {
      const port = new URL(open.url).port;
      for (const host of [`evil.test:${port}`, "evil.test", `127.evil.test:${port}`, `localhost.evil.test:${port}`]) {
        const res = await rawRequest(open.url, "/api/tasks", { host });
        assert.equal(res.status, 403, `Host: ${host}`);
        assert.match(res.body, /answers only to localhost/);
      }
      const revoke = await rawRequest(
        open.url,
        "/api/tasks/some-task-id/revoke",
        { host: `evil.test:${port}`, origin: `http://evil.test:${port}`, "content-type": "application/json" },
        "POST",
        "{}",
      );
      assert.equal(revoke.status, 403, "a rebinding page cannot revoke");
      assert.equal((await rawRequest(open.url, "/", { host: `evil.test:${port}` })).status, 403);
      for (const host of [`localhost:${port}`, "localhost", `127.0.0.1:${port}`, `127.1.2.3:${port}`, `[::1]:${port}`, "[::1]", `LOCALHOST:${port}`]) {
        assert.equal((await rawRequest(open.url, "/api/tasks", { host })).status, 200, `Host: ${host}`);
      }
    } finally {
      await open.proc.stop();
    }
  });

  it("takes the Bearer scheme in any case, and a token in the query only on the page", async () => {
    for (const scheme of ["bearer", "BEARER", "Bearer"]) {
      assert.equal((await fetch(`${base}/api/overview`, { headers: { authorization: `${scheme} ${TOKEN}` } })).status, 200, scheme);
    }
    for (const path of [`/api/overview?token=${TOKEN}`, `/api/tasks?token=${TOKEN}`, `/metrics?token=${TOKEN}`, `/app.js?token=${TOKEN}`]) {
      const res = await fetch(`${base}${path}`, { redirect: "manual" });
      assert.equal(res.status, 401, `${path.split("?")[0]} refuses a token in the query`);
    }
    const page = await fetch(`${base}/?token=${TOKEN}`, { redirect: "manual" });
    assert.equal(page.status, 303);
    assert.equal(page.headers.get("location"), "/");
    assert.match(page.headers.get("set-cookie") ?? "", /^celeriac_dashboard=.*HttpOnly; SameSite=Strict/);
    // With a token the Host is not what guards it: the token is.
    assert.equal((await rawRequest(base, "/api/overview", { host: "dashboard.example", ...auth })).status, 200);
  });

  it("shows workers, tasks and a failure's traceback; revoke, terminate, retry and rate limit work from the page", async () => {
    const { page, errors } = await openPage(browser!);
    // The token in the address becomes a cookie; the page then works without it.
    await page.goto(`${base}/?token=${TOKEN}`);
    assert.equal(new URL(page.url()).search, "", "token removed from the address");
    await page.waitForSelector("[data-testid=worker-row][data-online=true]", { timeout: 15_000 });
    assert.match((await page.textContent("[data-testid=worker-row]"))!, /dash@/);

    const ok = app.sendTask("fixture.add", [2, 3]);
    const bad = app.sendTask("fixture.fail", ["boom from the test"]);
    assert.equal(await ok.get({ timeout: 10_000 }), 5);
    await bad.get({ timeout: 10_000, propagate: false });
    await page.waitForSelector(`[data-task-id="${ok.id}"][data-state=SUCCESS]`, { timeout: 10_000 });
    await page.waitForSelector(`[data-task-id="${bad.id}"][data-state=FAILURE]`, { timeout: 10_000 });

    // Filters: by state, then by search text.
    await page.selectOption("[data-testid=filter-state]", "FAILURE");
    await page.waitForFunction(() => document.querySelectorAll("[data-testid=task-row]").length === 1);
    assert.equal(await page.getAttribute("[data-testid=task-row]", "data-task-id"), bad.id);
    await page.selectOption("[data-testid=filter-state]", "");
    await page.fill("[data-testid=filter-search]", "(2, 3)");
    await page.waitForFunction((id) => {
      const rows = [...document.querySelectorAll("[data-testid=task-row]")];
      return rows.length === 1 && rows[0]!.getAttribute("data-task-id") === id;
    }, ok.id);
    await page.fill("[data-testid=filter-search]", "");
    await page.waitForSelector(`[data-task-id="${bad.id}"]`);

    // A running task, terminated from the page.
    const hung = app.sendTask("fixture.hang", []);
    await page.waitForSelector(`[data-task-id="${hung.id}"][data-state=STARTED]`, { timeout: 10_000 });
    await page.click(`[data-task-id="${hung.id}"]`);
    await page.waitForSelector("[data-testid=task-detail]:not([hidden])");
    await page.click("[data-testid=terminate]");
    await page.waitForSelector(`[data-task-id="${hung.id}"][data-state=REVOKED]`, { timeout: 15_000 });
    await assert.rejects(hung.get({ timeout: 5_000 }), /revoked|terminated/i);

    // A waiting task, revoked from the page before it runs.
    // Due in 15 s, long after the revoke even on a loaded machine; the worker records REVOKED when it comes due.
    const later = app.sendTask("fixture.add", [40, 2], {}, { countdown: 15 });
    await page.waitForSelector(`[data-task-id="${later.id}"][data-state=PENDING]`, { timeout: 10_000 });
    await openDetail(page, later.id);
    await page.click("[data-testid=revoke]", { timeout: 10_000 }).catch(async (err: Error) => {
      const drawer = await page.evaluate(() => document.querySelector("#drawer")?.textContent?.replace(/\s+/g, " ").slice(0, 1500));
      const api = await (await fetch(`${base}/api/tasks/${later.id}`, { headers: auth })).text();
      throw new Error(`${err.message}\nthe drawer: ${drawer}\n/api/tasks/${later.id}: ${api.slice(0, 1500)}`);
    });
    await assert.rejects(later.get({ timeout: 25_000 }), /revoked/i);
    await page.waitForSelector(`[data-task-id="${later.id}"][data-state=REVOKED]`, { timeout: 20_000 });

    // Retry sends the same arguments again, as a new task.
    await openDetail(page, ok.id);
    await page.click("[data-testid=retry]");
    await page.waitForFunction(
      (id) =>
        [...document.querySelectorAll("[data-testid=task-row][data-state=SUCCESS]")].some(
          (r) => r.getAttribute("data-task-id") !== id && r.textContent!.includes("(2, 3)"),
        ),
      ok.id,
      { timeout: 10_000 },
    );

    // A chain: the second task's detail links to its parent, the parent's to its child.
    const second = chain(app.signature("fixture.add", [1, 2]), app.signature("fixture.add", [10])).applyAsync();
    assert.equal(await second.get({ timeout: 10_000 }), 13);
    const first = second.parent!;
    await page.waitForSelector(`[data-task-id="${second.id}"][data-state=SUCCESS]`, { timeout: 10_000 });
    await page.click(`[data-task-id="${second.id}"]`);
    await page.waitForSelector(`#d-fields [data-task-link="${first.id}"]`, { timeout: 5_000 });
    await page.click(`#d-fields [data-task-link="${first.id}"]`);
    await page.waitForSelector(`#d-fields [data-task-link="${second.id}"]`, { timeout: 5_000 });
    assert.match((await page.textContent("[data-testid=detail-result]"))!, /^3$/);

    // Rate limit through remote control.
    await page.fill("[data-testid=rate-input]", "100/s");
    await page.click("[data-testid=rate-apply]");
    await page.waitForSelector(".toast:has-text('Rate limit of fixture.add set to 100/s')", { timeout: 5_000 });

    // Pool size through remote control (the buttons show on hover).
    await page.hover("[data-testid=worker-row]");
    await page.click("[data-testid=pool-grow]");
    await page.waitForSelector(".toast:has-text('pool size 3')", { timeout: 5_000 });
    await page.waitForFunction(() => /× 3/.test(document.querySelector("[data-testid=worker-row] .pool")?.textContent ?? ""), undefined, { timeout: 8_000 });

    // The failure's detail, with its traceback, for the screenshot.
    await page.click(`[data-task-id="${bad.id}"]`);
    await page.waitForFunction(() => /boom from the test/.test(document.querySelector("[data-testid=detail-traceback]")?.textContent ?? ""));
    assert.match((await page.textContent("[data-testid=detail-traceback]"))!, /RangeError: boom from the test/);
    assert.match((await page.textContent("[data-testid=detail-args]"))!, /boom from the test/);
    assert.equal(await page.textContent("#d-state"), "FAILURE");
    // Charts drew bars for the finished tasks.
    assert.ok((await page.locator("[data-testid=chart-throughput] rect").count()) >= 1, "throughput bars");
    assert.equal(await page.textContent("[data-testid=workers-online]"), "1");
    mkdirSync(join(ROOT, "test-artifacts"), { recursive: true });
    await page.screenshot({ path: join(ROOT, "test-artifacts", "dashboard.png"), fullPage: true });
    assert.deepEqual(errors, [], "no script errors on the page");
    await page.close();
  });

  it("a failed task found by search opens at its own URL, with JSON arguments, logs and one traceback; retried, it succeeds", async () => {
    const marker = join(dir, `needs-file-${randomUUID()}`);
    const failed = app.sendTask("fixture.needsFile", [marker]);
    await failed.get({ timeout: 10_000, propagate: false });
    const retried = app.sendTask<string>("fixture.retryOnce", ["again"]);
    assert.equal(await retried.get({ timeout: 10_000 }), "again after 1 retry");
    const { page, errors } = await openPage(browser!);
    await page.goto(`${base}/`);
    await page.fill("[data-testid=filter-search]", marker.slice(-20));
    await page.waitForSelector(`[data-testid=task-row][data-task-id="${failed.id}"][data-state=FAILURE]`, { timeout: 10_000 });
    await page.waitForFunction(() => document.querySelectorAll("[data-testid=task-row]").length === 1, undefined, { timeout: 5_000 }); // the search finds only it
    // The id column shows the end of the id, which tells tasks of one producer apart.
    assert.equal(await page.textContent(`[data-task-id="${failed.id}"] td.mono a`), `…${failed.id.slice(-12)}`);
    await page.click(`[data-task-id="${failed.id}"]`);
    await page.waitForFunction((id) => location.pathname === `/tasks/${id}`, failed.id);

    // The URL pasted into another tab opens the task directly.
    const direct: Page = await browser!.newPage();
    direct.on("pageerror", (e) => errors.push(e.message));
    await direct.goto(`${base}/tasks/${failed.id}`);
    await direct.waitForFunction(() => document.getElementById("d-state")?.textContent === "FAILURE");
    assert.equal(await direct.textContent("[data-testid=detail-args]"), JSON.stringify([marker], null, 2), "arguments as JSON, not a Python repr");
    assert.match((await direct.textContent("[data-testid=detail-logs]"))!, new RegExp(`INFO looking for ${marker.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
    assert.match((await direct.textContent("[data-testid=detail-traceback]"))!, /FileMissing: no file at/);
    assert.equal((await direct.content()).split("FileMissing: no file at").length - 1, 1, "the stack is shown once");
    assert.equal(await direct.getAttribute("[data-testid=task-link]", "href"), `/tasks/${failed.id}`);

    // Fixed, then retried from its page: the new task opens and succeeds.
    writeFileSync(marker, "here");
    await direct.click("[data-testid=retry]");
    await direct.waitForFunction((id) => /^\/tasks\/[\w-]+$/.test(location.pathname) && location.pathname !== `/tasks/${id}`, failed.id);
    await direct.waitForFunction(() => document.getElementById("d-state")?.textContent === "SUCCESS", undefined, { timeout: 15_000 });
    assert.equal(await direct.textContent("[data-testid=detail-result]"), '"found"');

    // A task retried and then successful: no stale error in its row; its page lists the retry.
    await page.fill("[data-testid=filter-search]", retried.id);
    await page.waitForSelector(`[data-task-id="${retried.id}"][data-state=SUCCESS]`, { timeout: 10_000 });
    assert.equal(await page.textContent(`[data-task-id="${retried.id}"] td:nth-child(5)`), "'again after 1 retry'");
    await direct.goto(`${base}/tasks/${retried.id}`);
    await direct.waitForFunction(() => document.getElementById("d-state")?.textContent === "SUCCESS");
    assert.match((await direct.textContent("[data-testid=detail-attempts]"))!, /Attempt 1 .*first attempt fails/);
    assert.equal(await direct.isHidden("#d-tb-wrap"), true, "no traceback once it succeeded");
    mkdirSync(join(ROOT, "test-artifacts"), { recursive: true });
    await direct.screenshot({ path: join(ROOT, "test-artifacts", "dashboard-task.png"), fullPage: true });
    assert.deepEqual(errors, []);
    await page.close();
    await direct.close();
  });

  it("a running task's page shows its progress bar moving to 100 % and its log lines", async () => {
    const r = app.sendTask("fixture.steps", [5, 400]);
    const page: Page = await browser!.newPage();
    await page.goto(`${base}/tasks/${r.id}`);
    await page.waitForFunction(
      () => {
        const now = Number(document.querySelector("[data-testid=detail-progress]")?.getAttribute("aria-valuenow"));
        return document.getElementById("d-progress-wrap")?.hidden === false && now > 0 && now < 100;
      },
      undefined,
      { timeout: 15_000 },
    );
    await page.waitForFunction(() => document.getElementById("d-state")?.textContent === "SUCCESS", undefined, { timeout: 15_000 });
    assert.equal(await page.getAttribute("[data-testid=detail-progress]", "aria-valuenow"), "100");
    assert.equal(await page.textContent("[data-testid=detail-progress-text]"), "5 / 5 (100 %)");
    assert.match((await page.textContent("[data-testid=detail-logs]"))!, /step 1 of 5 done[\s\S]*step 5 of 5 done/);
    await page.screenshot({ path: join(ROOT, "test-artifacts", "dashboard-progress.png"), fullPage: true });
    await page.close();
  });

  it("periodic tasks: added in the page, a beat process runs it; edited, disabled, run now and removed from the page", async () => {
    const beat = startNode([CLI, "-A", APP, "beat", "--max-interval", "1", "--lease", "3"], env);
    const { page, errors } = await openPage(browser!, acceptDialog);
    try {
      await page.goto(`${base}/?token=${TOKEN}`);
      const name = `add-every-second-${randomUUID().slice(0, 6)}`;
      await page.fill("[data-testid=beat-name]", name);
      await page.fill("[data-testid=beat-task]", "fixture.add");
      await page.fill("[data-testid=beat-schedule]", "every 1s");
      await page.fill("[data-testid=beat-args]", "[20, 22]");
      await page.click("[data-testid=beat-save]");
      const row = `[data-testid=beat-row][data-name="${name}"]`;
      await page.waitForSelector(row, { timeout: 5_000 });
      // The beat process picks the entry up from the store and sends it; the worker runs it.
      await page.waitForSelector(`${row} [data-testid=beat-last-task]:has-text("SUCCESS")`, { timeout: 15_000 });
      await page.waitForSelector("[data-testid=beat-leader]:has-text('leader:')");
      const listed = (await (await fetch(`${base}/api/beat`, { headers: auth })).json()) as {
        entries: { name: string; lastRun: number; nextRun: number; lastTask: { id: string } }[];
      };
      const entry = listed.entries.find((e) => e.name === name)!;
      assert.ok(entry.nextRun > entry.lastRun, "next run after the last");
      assert.equal(await app.AsyncResult(entry.lastTask.id).get({ timeout: 5_000 }), 42);
      await page.screenshot({ path: join(ROOT, "test-artifacts", "dashboard-beat.png"), fullPage: true });

      // Edited: the same name with a new schedule replaces the entry.
      await page.click(`${row} [data-testid=beat-edit]`);
      assert.equal(await page.inputValue("[data-testid=beat-schedule]"), "every 1s");
      await page.fill("[data-testid=beat-schedule]", "0 3 * * *");
      await page.click("[data-testid=beat-save]");
      await page.waitForSelector(`${row} td:nth-child(3):has-text("0 3 * * *")`, { timeout: 5_000 });

      // Disabled: listed, nothing more is sent for it.
      await page.click(`${row} [data-testid=beat-toggle]`);
      await page.waitForSelector(`${row}[data-enabled=false]`, { timeout: 5_000 });
      const disabled = (await (await fetch(`${base}/api/beat`, { headers: auth })).json()) as { entries: { name: string; nextRun: number | null }[] };
      assert.equal(disabled.entries.find((e) => e.name === name)!.nextRun, null);

      // Run now sends it at once, disabled or not.
      await page.click(`${row} [data-testid=beat-run]`);
      const toast = await page.waitForSelector(`.toast:has-text("${name} sent as")`, { timeout: 5_000 });
      const id = /sent as (\S+)/.exec((await toast.textContent())!)![1]!;
      assert.equal(await app.AsyncResult(id).get({ timeout: 10_000 }), 42);

      // Removed, after the page asked.
      await page.click(`${row} [data-testid=beat-remove]`);
      await page.waitForSelector(row, { state: "detached", timeout: 5_000 });
      const bad = await fetch(`${base}/api/beat/entries`, {
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify({ name: "x", task: "fixture.add", schedule: "every banana" }),
      });
      assert.equal(bad.status, 400);
      assert.match(((await bad.json()) as { error: string }).error, /beat entry "x"/);
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
      await beat.stop();
    }
  });

  it("scheduled tasks listed per queue, run now and revoked; a queue paused, purged after asking, and resumed", async () => {
    const { page, errors } = await openPage(browser!, acceptDialog);
    try {
      await page.goto(`${base}/?token=${TOKEN}`);
      const soon = app.sendTask<number>("fixture.add", [1, 1], {}, { countdown: 120 });
      const doomed = app.sendTask<number>("fixture.add", [2, 2], {}, { countdown: 120 });
      await Promise.all([soon.sent, doomed.sent]);
      await page.waitForSelector(`[data-testid=scheduled-row][data-task-id="${soon.id}"][data-queue=celery]`, { timeout: 10_000 });
      await page.waitForSelector(`[data-testid=scheduled-row][data-task-id="${doomed.id}"]`);
      await page.waitForFunction(() => Number(document.querySelector("[data-queue=celery] [data-testid=queue-scheduled]")?.textContent) >= 2);
      await page.screenshot({ path: join(ROOT, "test-artifacts", "dashboard-scheduled.png"), fullPage: true });
      await page.click(`[data-testid=scheduled-row][data-task-id="${soon.id}"] [data-testid=scheduled-run]`);
      assert.equal(await soon.get({ timeout: 10_000 }), 2, "run now: done long before its ETA");
      await page.click(`[data-testid=scheduled-row][data-task-id="${doomed.id}"] [data-testid=scheduled-revoke]`);
      await assert.rejects(doomed.get({ timeout: 10_000 }), /revoked/i);
      await page.waitForSelector(`[data-testid=scheduled-row][data-task-id="${doomed.id}"]`, { state: "detached", timeout: 5_000 });

      // Paused on every worker: a new task waits in the queue.
      const celery = "[data-testid=queue-row][data-queue=celery]";
      await page.click(`${celery} [data-testid=queue-pause]`);
      await page.waitForSelector(`${celery}[data-paused=true]`, { timeout: 10_000 });
      const waiting = app.sendTask("fixture.add", [3, 3]);
      await waiting.sent;
      await page.waitForFunction((sel) => document.querySelector(`${sel} [data-testid=queue-depth]`)?.textContent === "1", celery, { timeout: 10_000 });
      assert.equal(await app.AsyncResult(waiting.id).ready(), false, "not run while paused");
      await page.waitForSelector(`${celery} [data-testid=queue-spark] polyline`, { timeout: 10_000 });
      await page.screenshot({ path: join(ROOT, "test-artifacts", "dashboard-queues.png"), fullPage: true });
      // Purged, after the page asked: the waiting task is gone.
      await page.click(`${celery} [data-testid=queue-purge]`);
      await page.waitForSelector(".toast:has-text('celery: 1 purged')", { timeout: 5_000 });
      await page.waitForFunction((sel) => document.querySelector(`${sel} [data-testid=queue-depth]`)?.textContent === "0", celery, { timeout: 10_000 });
      // Resumed: tasks run again.
      await page.click(`${celery} [data-testid=queue-resume]`);
      await page.waitForSelector(`${celery}[data-paused=false]`, { timeout: 10_000 });
      assert.equal(await app.sendTask("fixture.add", [4, 4]).get({ timeout: 10_000 }), 8);
      assert.deepEqual(errors, []);
    } finally {
      // Never leave the shared worker paused for the tests after this one.
      await app.control.addConsumer("celery", { timeout: 2000 });
      await page.close();
    }
  });

  it("workers: a consumer added and cancelled, the pool's children restarted, autoscale bounds changed, the worker shut down, from the page", async () => {
    const name = `spare-${randomUUID().slice(0, 6)}`;
    const spare = await startWorker(APP, ["--autoscale", "2,1", "-l", "info", "-E", "-n", `${name}@%h`], env);
    const { page, errors } = await openPage(
      browser!,
      (d) => void (d.type() !== "prompt" ? d.accept() : d.accept(/Autoscale/.test(d.message()) ? "3,1" : "dash-extra")),
    );
    try {
      await page.goto(`${base}/?token=${TOKEN}`);
      const row = `[data-testid=worker-row][data-hostname^="${name}@"]`;
      await page.waitForSelector(`${row}[data-online=true] [data-testid=pool-restart]`, { timeout: 15_000 });
      await page.click(`${row} [data-testid=consumer-add]`);
      await page.waitForSelector(`${row} [data-testid=worker-queue][data-queue=dash-extra]`, { timeout: 5_000 });
      const pidBefore = await app.sendTask<number>("fixture.pid", [], {}, { queue: "dash-extra" }).get({ timeout: 10_000 });

      // Restarted: the next task runs in a new child.
      await page.click(`${row} [data-testid=pool-restart]`);
      await page.waitForSelector(".toast:has-text('pool children')", { timeout: 5_000 });
      const pidAfter = await app.sendTask<number>("fixture.pid", [], {}, { queue: "dash-extra" }).get({ timeout: 15_000 });
      assert.notEqual(pidAfter, pidBefore, "a new pool child");
      assert.match(spare.output(), /pool restart: replacing \d+ child/);

      // Autoscale bounds, changed from the page, reach the worker.
      await page.waitForSelector(`${row} [data-testid=worker-autoscale]:has-text("autoscale 1–2")`, { timeout: 10_000 });
      await page.click(`${row} [data-testid=worker-autoscale-set]`);
      await page.waitForSelector(`${row} [data-testid=worker-autoscale]:has-text("autoscale 1–3")`, { timeout: 5_000 });
      const stats = await app.control.broadcast(
        "stats",
        {},
        { reply: true, destination: [(await page.getAttribute(row, "data-hostname"))!], timeout: 2000, limit: 1 },
      );
      assert.deepEqual((Object.values(stats[0]!)[0] as { autoscaler: unknown }).autoscaler, { max: 3, min: 1 });

      await page.click(`${row} [data-testid=worker-queue][data-queue=dash-extra] [data-testid=consumer-cancel]`);
      await page.waitForSelector(`${row} [data-testid=worker-queue][data-queue=dash-extra]`, { state: "detached", timeout: 5_000 });
      await page.screenshot({ path: join(ROOT, "test-artifacts", "dashboard-workers.png"), fullPage: true });

      // Shut down after the page asked: the process exits and the row goes offline.
      await page.click(`${row} [data-testid=worker-shutdown]`);
      assert.equal(await spare.exited, 0);
      await page.waitForSelector(`${row}[data-online=false]`, { timeout: 10_000 });
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
      await spare.stop();
    }
  });

  it("on a phone-sized screen the charts' axis labels do not overlap", async () => {
    const page: Page = await browser!.newPage();
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${base}/?token=${TOKEN}`);
    await page.waitForSelector("[data-testid=chart-throughput] svg text");
    for (const chart of ["chart-throughput", "chart-latency"]) {
      const boxes = await page.$$eval(`[data-testid=${chart}] svg text`, (ts) =>
        ts.map((t) => {
          const r = t.getBoundingClientRect();
          return { text: t.textContent, left: r.left, right: r.right, top: r.top, bottom: r.bottom };
        }),
      );
      assert.ok(boxes.length >= 5, `${chart}: labels drawn`);
      for (const [i, a] of boxes.entries())
        for (const b of boxes.slice(i + 1)) {
          const overlap = a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5;
          assert.ok(!overlap, `${chart}: "${a.text}" overlaps "${b.text}"`);
        }
    }
    await page.screenshot({ path: join(ROOT, "test-artifacts", "dashboard-phone.png"), fullPage: true });
    await page.close();
  });

  it("GET /api/ lists the API", async () => {
    const res = await fetch(`${base}/api/`, { headers: auth });
    assert.equal(res.status, 200);
    const { routes } = (await res.json()) as { routes: { method: string; path: string }[] };
    for (const path of ["/api/overview", "/api/tasks/<id>", "/api/tasks/<id>/retry", "/api/stream"])
      assert.ok(
        routes.some((r) => r.path.startsWith(path)),
        path,
      );
    assert.equal((await fetch(`${base}/api/`)).status, 401, "with the same auth");
  });

  it("pages through the history: limit, offset and total", async () => {
    const res = await fetch(`${base}/api/tasks?limit=2&offset=1`, { headers: auth });
    const body = (await res.json()) as { tasks: { uuid: string }[]; total: number; offset: number };
    assert.equal(body.tasks.length, 2);
    assert.equal(body.offset, 1);
    assert.ok(body.total >= 10, `total ${body.total}`);
    const first = (await (await fetch(`${base}/api/tasks?limit=3`, { headers: auth })).json()) as { tasks: { uuid: string }[] };
    assert.deepEqual(
      body.tasks.map((t) => t.uuid),
      first.tasks.slice(1, 3).map((t) => t.uuid),
    );
  });

  it("serves Prometheus metrics at /metrics", async () => {
    const res = await fetch(`${base}/metrics`, { headers: auth });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /text\/plain/);
    const text = await res.text();
    assert.match(text, /^celeriac_tasks_total\{name="fixture.add",state="SUCCESS"\} [1-9]/m);
    assert.match(text, /^celeriac_tasks_total\{name="fixture.fail",state="FAILURE"\} 1$/m);
    assert.match(text, /^celeriac_task_runtime_seconds_count\{name="fixture.add"\} [1-9]/m);
    assert.match(text, /^celeriac_queue_depth\{queue="celery"\} \d+$/m);
    assert.match(text, /^celeriac_workers_online 1$/m);
    assert.match(text, /^# TYPE celeriac_task_retries_total counter$/m);
    assert.match(text, /^celeriac_worker_prefetch_limit\{worker="dash@[^"]+"\} 8$/m);
    assert.match(text, /^celeriac_worker_prefetched_tasks\{worker="dash@[^"]+"\} \d+$/m);
  });

  it("keeps the task history across a restart of the dashboard", async () => {
    const before = (await (await fetch(`${base}/api/tasks?state=FAILURE`, { headers: auth })).json()) as { tasks: { uuid: string }[]; total: number };
    assert.ok(before.total >= 2);
    await dashboard.stop();
    const again = await startDashboard(["--token", TOKEN], HISTORY);
    dashboard = again.proc;
    base = again.url;
    const after = (await (await fetch(`${base}/api/tasks?state=FAILURE`, { headers: auth })).json()) as { tasks: { uuid: string }[]; total: number };
    assert.deepEqual(
      after.tasks.map((t) => t.uuid),
      before.tasks.map((t) => t.uuid),
      "the same failures, with no event sent since",
    );
    const page: Page = await browser!.newPage();
    await page.goto(`${base}/?token=${TOKEN}`);
    await page.selectOption("[data-testid=filter-state]", "FAILURE");
    await page.waitForSelector(`[data-testid=task-row][data-task-id="${before.tasks[0]!.uuid}"]`, { timeout: 10_000 });
    await page.screenshot({ path: join(ROOT, "test-artifacts", "dashboard-after-restart.png"), fullPage: true });
    await page.close();
  });
  it("bulk actions: retry the failed tasks a search finds, revoke the waiting tasks of a name, clean finished tasks (last: it empties the history)", async () => {
    const { page, errors } = await openPage(browser!, acceptDialog);
    try {
      const marker = `bulk-${randomUUID().slice(0, 8)}`;
      const failures = [app.sendTask("fixture.fail", [`${marker} one`]), app.sendTask("fixture.fail", [`${marker} two`])];
      for (const f of failures) await f.get({ timeout: 10_000, propagate: false });
      const failedCount = async () =>
        ((await (await fetch(`${base}/api/tasks?state=FAILURE&search=${marker}`, { headers: auth })).json()) as { total: number }).total;
      await waitUntil("both failures in the history", async () => (await failedCount()) === 2, 10_000, 100);
      await page.goto(`${base}/?token=${TOKEN}`);
      await page.fill("[data-testid=filter-search]", marker);
      await page.waitForFunction(() => document.querySelectorAll("[data-testid=task-row]").length === 2, undefined, { timeout: 10_000 });
      await page.click("[data-testid=bulk-retry]");
      await page.waitForSelector(".toast:has-text('2 failed tasks sent again')", { timeout: 10_000 });
      // Sent again with the same arguments, they fail again: four failures match now.
      await waitUntil("the two retries to fail", async () => (await failedCount()) === 4, 15_000, 100);

      const waiting = [app.sendTask("fixture.add", [7, 7], {}, { countdown: 120 }), app.sendTask("fixture.add", [8, 8], {}, { countdown: 120 })];
      await Promise.all(waiting.map((w) => w.sent));
      await page.fill("[data-testid=filter-search]", "");
      await page.waitForFunction(() => [...document.querySelectorAll("[data-testid=filter-name] option")].some((o) => o.textContent === "fixture.add"));
      await page.selectOption("[data-testid=filter-name]", "fixture.add");
      await page.click("[data-testid=bulk-revoke]");
      await page.waitForSelector(".toast:has-text('waiting fixture.add task')", { timeout: 10_000 });
      for (const w of waiting) await assert.rejects(w.get({ timeout: 10_000 }), /revoked/i);
      await page.screenshot({ path: join(ROOT, "test-artifacts", "dashboard-bulk.png"), fullPage: true });

      await page.selectOption("[data-testid=filter-name]", "");
      await page.selectOption("[data-testid=bulk-clean-age]", "0");
      await page.click("[data-testid=bulk-clean]");
      await page.waitForSelector(".toast:has-text('finished tasks removed')", { timeout: 10_000 });
      const left = (await (await fetch(`${base}/api/tasks?state=SUCCESS`, { headers: auth })).json()) as { total: number };
      assert.equal(left.total, 0, "no finished task left in the history");
      const bad = await fetch(`${base}/api/bulk/clean`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: "{}" });
      assert.equal(bad.status, 400);
      assert.equal(
        (await fetch(`${base}/api/bulk/clean`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"olderThanSeconds": 0}' })).status,
        401,
      );
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
    }
  });
});
