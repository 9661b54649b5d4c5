// The dashboard end to end: a real worker process, the `celeriac dashboard`
// process, real HTTP and headless Chromium driving the page. Saves a
// screenshot to test-artifacts/dashboard.png.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { Celeriac, chain } from "../../src/index.js";
import { CLI, ROOT, startNode, startWorker, type RunningProcess } from "../support/processes.js";

const APP = "test/fixtures/app.ts";
const CHROMIUM = "/usr/bin/chromium";
const TOKEN = "s3cret-dashboard-token";
const haveChromium = existsSync(CHROMIUM);
// In CI a missing browser is a failure, not a skip.
const skip = !haveChromium && process.env.CI !== "true" ? "chromium is not installed (apt-get install chromium)" : false;

const dir = mkdtempSync(join(tmpdir(), "celeriac-dashboard-"));
const url = `sqlite://${join(dir, "dash.db")}`;
const env = { CELERIAC_BROKER_URL: url, CELERIAC_RESULT_BACKEND: url, CELERIAC_DASHBOARD_TOKEN: undefined };

let dashboard: RunningProcess;
let worker: RunningProcess;
let base = "";
let browser: BrowserContext | null = null;
let app: Celeriac;

async function startDashboard(args: string[]): Promise<{ proc: RunningProcess; url: string }> {
  const proc = startNode([CLI, "-A", APP, "dashboard", "--port", "0", ...args], env);
  await proc.waitFor(/celeriac dashboard on (http:\/\/\S+)\//, 30_000);
  return { proc, url: /celeriac dashboard on (http:\/\/\S+)\//.exec(proc.output())![1]! };
}

const auth = { authorization: `Bearer ${TOKEN}` };

/** A real HTTP request with headers fetch will not send (Host), as a rebinding browser would. */
function rawRequest(base: string, path: string, headers: Record<string, string>, method = "GET", body = ""): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
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
    assert.ok(haveChromium, `${CHROMIUM} is missing: CI installs Debian's chromium package`);
    const d = await startDashboard(["--token", TOKEN]);
    dashboard = d.proc;
    base = d.url;
    worker = await startWorker(APP, ["-c", "2", "-l", "info", "-E", "-n", "dash@%h"], env);
    app = new Celeriac({ name: "client", broker: url, backend: url, taskSendSentEvent: true });
    browser = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "celeriac-chromium-")), {
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
      viewport: { width: 1600, height: 1000 },
    });
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
    const form = await fetch(`${base}/api/rate-limit`, { method: "POST", headers: { ...auth, "content-type": "application/x-www-form-urlencoded" }, body: "task=x" });
    assert.equal(form.status, 415);
    const cross = await fetch(`${base}/api/rate-limit`, { method: "POST", headers: { ...auth, "content-type": "application/json", origin: "http://evil.example" }, body: "{}" });
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
      const revoke = await rawRequest(open.url, "/api/tasks/some-task-id/revoke", { host: `evil.test:${port}`, origin: `http://evil.test:${port}`, "content-type": "application/json" }, "POST", "{}");
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
    const page: Page = await browser!.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    // The token in the address becomes a cookie; the page then works without it.
    await page.goto(`${base}/?token=${TOKEN}`);
    assert.equal(new URL(page.url()).search, "", "token removed from the address");
    await page.waitForSelector('[data-testid=worker-row][data-online=true]', { timeout: 15_000 });
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
    const later = app.sendTask("fixture.add", [40, 2], {}, { countdown: 6 });
    await page.waitForSelector(`[data-task-id="${later.id}"][data-state=PENDING]`, { timeout: 10_000 });
    await page.click(`[data-task-id="${later.id}"]`);
    await page.waitForFunction((id) => document.querySelector("#d-fields .mono")?.textContent === id, later.id);
    await page.click("[data-testid=revoke]");
    await assert.rejects(later.get({ timeout: 10_000 }), /revoked/i);
    await page.waitForSelector(`[data-task-id="${later.id}"][data-state=REVOKED]`, { timeout: 20_000 });

    // Retry sends the same arguments again, as a new task.
    await page.click(`[data-task-id="${ok.id}"]`);
    await page.waitForFunction((id) => document.querySelector("#d-fields .mono")?.textContent === id, ok.id);
    await page.click("[data-testid=retry]");
    await page.waitForFunction(
      (id) => [...document.querySelectorAll('[data-testid=task-row][data-state=SUCCESS]')].some((r) => r.getAttribute("data-task-id") !== id && r.textContent!.includes("(2, 3)")),
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
});
