// The dashboard on RabbitMQ, through its JSON API (the page is the same on
// every broker; dashboard.test.ts drives it): workers and tasks heard from
// events, queue depth measured by the broker, pause, purge and resume, and a
// clear answer where RabbitMQ cannot list countdown tasks. On a vhost of its
// own, so no other test's worker hears its broadcasts.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Celeriac } from "../../src/index.js";
import { requireRabbit } from "../support/amqp.js";
import { CLI, startNode, startWorker, type RunningProcess } from "../support/processes.js";
import { redisAvailable, redisUrl } from "../support/redis.js";
import { waitUntil } from "../support/wait.js";

const APP = "test/fixtures/app.ts";
const TOKEN = "dash-amqp-token";
const noRabbit = await requireRabbit();
const noRedis = (await redisAvailable()) ? false : "Redis is not reachable";
const vhost = `celeriac-dash-${randomUUID().slice(0, 8)}`;
const broker = `amqp://guest:guest@127.0.0.1:5672/${vhost}`;
const queue = `dash-amqp-${randomUUID().slice(0, 6)}`;
const rabbitmqctl = (...args: string[]) => execFileSync("rabbitmqctl", ["-q", ...args], { stdio: "pipe" });

interface QueueView {
  name: string;
  depth: number | null;
  /** Online workers consuming it: 0 is what the page shows as paused. */
  consumers: number;
}

describe("dashboard on RabbitMQ", { skip: noRabbit ?? noRedis }, () => {
  const dir = mkdtempSync(join(tmpdir(), "celeriac-dash-amqp-"));
  const env = { CELERIAC_BROKER_URL: broker, CELERIAC_RESULT_BACKEND: redisUrl(4), CELERIAC_DASHBOARD_TOKEN: undefined };
  let dashboard: RunningProcess;
  let worker: RunningProcess;
  let base = "";
  let app: Celeriac;
  const api = async <T>(path: string, method = "GET"): Promise<T> => {
    const res = await fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" } });
    assert.equal(res.status, 200, `${method} ${path}: ${res.status}`);
    return (await res.json()) as T;
  };
  const queueView = async () => (await api<{ queues: QueueView[] }>("/api/queues")).queues.find((q) => q.name === queue);

  before(async () => {
    rabbitmqctl("add_vhost", vhost);
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*");
    worker = await startWorker(APP, ["-c", "2", "-E", "-Q", queue, "-n", "dashamqp@%h"], env);
    dashboard = startNode([CLI, "-A", APP, "dashboard", "--port", "0", "--history", join(dir, "history.db"), "--poll-interval", "1", "--token", TOKEN], env);
    await dashboard.waitFor(/celeriac dashboard on (http:\/\/\S+)\//, 30_000);
    base = /celeriac dashboard on (http:\/\/\S+)\//.exec(dashboard.output())![1]!;
    app = new Celeriac({ name: "dash-amqp-client", broker, backend: redisUrl(4), taskSendSentEvent: true });
  });

  after(async () => {
    await app?.close();
    await worker?.stop();
    await dashboard?.stop();
    rmSync(dir, { recursive: true, force: true });
    try {
      rabbitmqctl("delete_vhost", vhost);
    } catch {
      // Gone already, or RabbitMQ is down: nothing to clean.
    }
  });

  it("hears the worker and its tasks, measures the queue, pauses, purges and resumes it", async () => {
    await waitUntil("the worker online in the dashboard", async () =>
      (await api<{ workers: { hostname: string; online: boolean }[] }>("/api/workers")).workers.some((w) => w.hostname.startsWith("dashamqp@") && w.online),
    );
    const done = app.sendTask<number>("fixture.add", [20, 22], {}, { queue });
    assert.equal(await done.get({ timeout: 10_000 }), 42);
    await waitUntil("the task SUCCESS in the history", async () => {
      const { tasks } = await api<{ tasks: { uuid: string; state: string }[] }>(`/api/tasks?search=${done.id}`);
      return tasks.some((t) => t.uuid === done.id && t.state === "SUCCESS");
    });
    await waitUntil("the queue measured with its consumer", async () => (await queueView())?.consumers === 1);

    await api(`/api/queues/${queue}/pause`, "POST");
    await waitUntil("the queue paused", async () => (await queueView())?.consumers === 0);
    const waiting = [1, 2, 3].map((i) => app.sendTask("fixture.add", [i, i], {}, { queue }));
    await Promise.all(waiting.map((r) => r.sent));
    let seen: QueueView | undefined;
    await waitUntil(
      () =>
        `three tasks waiting, none taken; the dashboard shows ${JSON.stringify(seen)}; rabbitmqctl: ${rabbitmqctl("list_queues", "-p", vhost, "name", "messages_ready", "messages_unacknowledged", "consumers").toString()}; the worker:\n${worker.output().slice(-2000)}`,
      async () => (seen = await queueView())?.depth === 3,
      15_000,
    );
    const { purged } = await api<{ purged: number }>(`/api/queues/${queue}/purge`, "POST");
    assert.equal(purged, 3);
    await waitUntil("the queue empty", async () => (await queueView())?.depth === 0);

    await api(`/api/queues/${queue}/resume`, "POST");
    await waitUntil("the queue resumed", async () => (await queueView())?.consumers === 1);
    assert.equal(await app.sendTask("fixture.add", [4, 4], {}, { queue }).get({ timeout: 10_000 }), 8);
    for (const r of waiting) assert.equal(await r.ready(), false, "a purged task never ran");
  });

  it("says why it cannot list countdown tasks on RabbitMQ", async () => {
    const scheduled = await api<{ supported: boolean; reason: string }>("/api/scheduled");
    assert.equal(scheduled.supported, false);
    assert.match(scheduled.reason, /RabbitMQ|AMQP/i);
  });
});
