// The dashboard: a node:http server that folds the event stream into a
// State, asks workers about themselves now and then (pool, queues, prefetch),
// measures queue depths, and serves one page, a JSON API under /api/, live
// updates over Server-Sent Events and Prometheus metrics at /metrics.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Celeriac } from "../app.js";
import type { Broker } from "../brokers/broker.js";
import { CeleriacError, ConfigurationError } from "../errors.js";
import { EventReceiver } from "../events/receiver.js";
import { State, workerAlive, type TaskFilter, type TaskState, type WorkerState } from "../events/state.js";
import { parsePythonLiteral } from "../protocol/literal.js";
import { COOKIE, authorized, checkExposure, hostAllowed, isPageRequest } from "./auth.js";
import { ClusterMetrics, type WorkerLoad } from "./metrics.js";
import { asset } from "./page.js";
import { TaskSeries } from "./series.js";
import { maskUrl } from "../url.js";

export interface DashboardOptions {
  port?: number;
  /** Address to bind; default 127.0.0.1. Anything but loopback needs a token. */
  host?: string;
  token?: string | null;
  /** How often workers are inspected and queues measured (ms). */
  pollIntervalMs?: number;
  /** Width of a chart bucket (s). */
  bucketSeconds?: number;
}

/** What the dashboard knows of a worker beyond its heartbeats, from inspect. */
interface WorkerInfo {
  pool: string | null;
  concurrency: number | null;
  queues: string[];
  prefetchLimit: number | null;
  prefetched: number;
  uptime: number | null;
  pid: number | null;
}

/** A client error: its message is shown to the user, with this HTTP status. */
class HttpError extends CeleriacError {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

const SECURITY_HEADERS = {
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "content-security-policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
};

/** The host of an Origin header; null for "null" or anything unreadable. */
function originHost(origin: string): string | null {
  try {
    return new URL(origin).host;
  } catch {
    return null;
  }
}

function taskSummary(t: TaskState): Record<string, unknown> {
  const cut = (s: string | null, n = 300) => (s && s.length > n ? `${s.slice(0, n - 1)}…` : s);
  return {
    uuid: t.uuid, name: t.name, state: t.state, worker: t.worker, args: cut(t.args), kwargs: cut(t.kwargs),
    result: cut(t.result), exception: cut(t.exception), runtime: t.runtime, retries: t.retries,
    sent: t.sent, received: t.received, started: t.started, timestamp: t.timestamp,
  };
}

export class Dashboard {
  readonly state: State;
  readonly series: TaskSeries;
  readonly metrics: ClusterMetrics;
  private server: Server | null = null;
  private receiver: EventReceiver | null = null;
  private broker!: Broker;
  private readonly clients = new Set<ServerResponse>();
  private readonly changed = new Map<string, TaskState>();
  private readonly workerInfo = new Map<string, WorkerInfo>();
  private readonly depths = new Map<string, number>();
  private readonly queues = new Set<string>();
  private pollTimer: NodeJS.Timeout | null = null;
  private pushTimer: NodeJS.Timeout | null = null;
  private closed = false;
  /** The dashboard's address once started. */
  url = "";

  constructor(private readonly app: Celeriac, private readonly opts: DashboardOptions = {}) {
    this.state = new State({ maxTasks: 20_000 });
    this.series = new TaskSeries(opts.bucketSeconds ?? 5, 360);
    this.metrics = new ClusterMetrics({
      state: this.state,
      queueDepths: () => this.depths,
      workerLoads: () => {
        const m = new Map<string, WorkerLoad>();
        for (const [host, info] of this.workerInfo) m.set(host, { prefetched: info.prefetched, prefetchLimit: info.prefetchLimit });
        return m;
      },
    });
    this.queues.add(app.settings.taskDefaultQueue);
  }

  async start(): Promise<string> {
    const host = this.opts.host ?? "127.0.0.1";
    checkExposure(host, this.opts.token);
    asset("index.html"); // fail now, not on the first request, if the page is missing
    this.broker = await this.app.broker();
    if (!this.broker.subscribeFanout) throw new ConfigurationError(`broker ${this.broker.displayUrl} has no fanout: the dashboard needs events`);
    this.receiver = new EventReceiver(this.broker, { log: this.app.log });
    await this.receiver.start((e) => {
      const change = this.state.event(e);
      if (change?.kind === "task") {
        const t = change.task;
        this.changed.set(t.uuid, t);
        if (t.queue) this.queues.add(t.queue);
        if (e.type === "task-succeeded") this.series.record("succeeded", e.timestamp, typeof e.runtime === "number" ? e.runtime : null);
        if (e.type === "task-failed") this.series.record("failed", e.timestamp, null);
        this.metrics.observe(e, t);
      }
    });
    this.server = createServer((req, res) => {
      void this.handle(req, res).catch((err: Error) => {
        const status = err instanceof HttpError ? err.status : 500;
        if (status === 500) this.app.log.error(`dashboard: ${req.method} ${req.url?.split("?")[0]}: ${err.message}`);
        if (!res.headersSent) this.json(res, status, { error: maskUrl(err.message) });
        else res.end();
      });
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once("error", reject);
      this.server!.listen(this.opts.port ?? 5555, host, () => resolve());
    });
    const addr = this.server.address() as AddressInfo;
    this.url = `http://${addr.family === "IPv6" ? `[${addr.address}]` : addr.address}:${addr.port}`;
    void this.poll();
    this.pushTimer = setInterval(() => this.push(), 1000);
    this.pushTimer.unref();
    return this.url;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.pollTimer) clearTimeout(this.pollTimer);
    if (this.pushTimer) clearInterval(this.pushTimer);
    for (const c of this.clients) c.end();
    this.clients.clear();
    await this.receiver?.stop();
    if (this.server) {
      this.server.closeAllConnections();
      await new Promise<void>((r) => this.server!.close(() => r()));
    }
  }

  // ---- what the cluster looks like ---------------------------------------------

  /** Asks live workers for pool, queues and prefetch, and measures every known queue. */
  private async poll(): Promise<void> {
    try {
      const alive = [...this.state.workers.values()].filter((w) => workerAlive(w));
      if (alive.length) {
        const opts = { timeout: 1500, limit: alive.length };
        const ask = (m: string) => this.app.control.broadcast(m, {}, { reply: true, ...opts }).catch(() => []);
        const [stats, queues, reserved] = await Promise.all([ask("stats"), ask("active_queues"), ask("reserved")]);
        const merged = (replies: Record<string, unknown>[]) => Object.assign({}, ...replies) as Record<string, unknown>;
        const s = merged(stats);
        const q = merged(queues);
        const r = merged(reserved);
        for (const w of alive) {
          const st = (s[w.hostname] ?? {}) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
          const qs = Array.isArray(q[w.hostname]) ? (q[w.hostname] as { name: string }[]).map((x) => x.name) : this.workerInfo.get(w.hostname)?.queues ?? [];
          for (const name of qs) this.queues.add(name);
          const nReserved = Array.isArray(r[w.hostname]) ? (r[w.hostname] as unknown[]).length : 0;
          this.workerInfo.set(w.hostname, {
            // Celeriac names its pool; Python Celery's stats give only the size.
            pool: st.pool?.implementation ?? null,
            concurrency: st.pool?.["max-concurrency"] ?? null,
            queues: qs,
            prefetchLimit: typeof st.prefetch_count === "number" ? st.prefetch_count : null,
            prefetched: nReserved + (w.active ?? 0),
            uptime: typeof st.uptime === "number" ? st.uptime : null,
            pid: typeof st.pid === "number" ? st.pid : w.pid,
          });
        }
      }
      for (const [host] of this.workerInfo) {
        const w = this.state.workers.get(host);
        if (!w || !workerAlive(w)) this.workerInfo.delete(host);
      }
      await this.measureQueues();
    } catch (err) {
      this.app.log.warn(`dashboard: cannot poll workers: ${(err as Error).message}`);
    } finally {
      if (!this.closed) {
        this.pollTimer = setTimeout(() => void this.poll(), this.opts.pollIntervalMs ?? 3000);
        this.pollTimer.unref();
      }
    }
  }

  private async measureQueues(): Promise<void> {
    for (const q of this.queues) this.depths.set(q, await this.broker.size(q).catch(() => this.depths.get(q) ?? 0));
  }

  private workersJson(): Record<string, unknown>[] {
    const now = Date.now() / 1000;
    return [...this.state.workers.values()]
      .sort((a, b) => a.hostname.localeCompare(b.hostname))
      .map((w: WorkerState) => {
        const info = this.workerInfo.get(w.hostname);
        return {
          hostname: w.hostname, online: workerAlive(w, now), pid: w.pid, active: w.active, processed: w.processed,
          loadavg: w.loadavg, sw: w.sw_ident ? `${w.sw_ident} ${w.sw_ver ?? ""}`.trim() : null, sw_sys: w.sw_sys,
          lastHeartbeat: w.heartbeats[w.heartbeats.length - 1] ?? null, freq: w.freq,
          pool: info?.pool ?? null, concurrency: info?.concurrency ?? null, queues: info?.queues ?? [],
          prefetched: info?.prefetched ?? null, prefetchLimit: info?.prefetchLimit ?? null, uptime: info?.uptime ?? null,
        };
      });
  }

  private overview(): Record<string, unknown> {
    const byState: Record<string, number> = {};
    for (const t of this.state.tasks.values()) byState[t.state] = (byState[t.state] ?? 0) + 1;
    const points = this.series.points(Date.now() / 1000, 60);
    const lastMinute = points.slice(-Math.ceil(60 / this.series.bucketSeconds));
    const workers = this.workersJson();
    return {
      broker: this.broker.displayUrl,
      summary: {
        workersOnline: workers.filter((w) => w.online).length,
        workersTotal: workers.length,
        tasksSeen: this.state.taskCount,
        events: this.state.eventCount,
        byState,
        perMinute: lastMinute.reduce((s, p) => s + p.succeeded + p.failed, 0),
      },
      workers,
      queues: [...this.queues].sort().map((name) => ({ name, depth: this.depths.get(name) ?? null, consumers: workers.filter((w) => w.online && (w.queues as string[]).includes(name)).length })),
      series: { bucketSeconds: this.series.bucketSeconds, points },
      names: this.state.taskNames(),
    };
  }

  /** Sends changes to live pages: once a second, the overview and the tasks that changed. */
  private push(): void {
    if (!this.clients.size) {
      this.changed.clear();
      return;
    }
    const tasks = [...this.changed.values()].slice(-300).map(taskSummary);
    this.changed.clear();
    const data = `event: update\ndata: ${JSON.stringify({ ...this.overview(), tasks })}\n\n`;
    for (const c of this.clients) c.write(data);
  }

  // ---- HTTP ---------------------------------------------------------------------

  private json(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", ...SECURITY_HEADERS });
    res.end(JSON.stringify(body));
  }

  private send(res: ServerResponse, status: number, type: string, body: string, extra: Record<string, string> = {}): void {
    res.writeHead(status, { "content-type": type, "cache-control": "no-store", ...SECURITY_HEADERS, ...extra });
    res.end(body);
  }

  private async readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
    // A JSON content type cannot be sent cross-site without CORS approval: it is our CSRF guard.
    if (!/^application\/json/.test(req.headers["content-type"] ?? "")) throw new HttpError(415, "send JSON (content-type: application/json)");
    const origin = req.headers.origin;
    if (origin && originHost(origin) !== req.headers.host) throw new HttpError(403, "cross-origin request refused");
    let size = 0;
    const chunks: Buffer[] = [];
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size > 64 * 1024) throw new HttpError(413, "request body too large");
      chunks.push(c as Buffer);
    }
    if (!size) return {};
    try {
      const v = JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown;
      return v && typeof v === "object" ? (v as Record<string, unknown>) : {};
    } catch {
      throw new HttpError(400, "the body is not valid JSON");
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://dashboard");
    const path = url.pathname;
    const token = this.opts.token ?? null;
    if (!hostAllowed(token, req.headers.host, this.opts.host)) {
      return this.json(res, 403, { error: "without a token this dashboard answers only to localhost, 127.0.0.1 or [::1] (a page from another site may be reaching it by DNS rebinding): open it by one of those names, or give it a token" });
    }
    if (!authorized(token, req, url)) {
      if (req.method === "GET" && path === "/") {
        // The sign-in page is self-contained: its own small inline style, nothing else.
        const csp = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'";
        return this.send(res, 401, "text/html; charset=utf-8", asset("login.html"), { "content-security-policy": csp });
      }
      res.setHeader("www-authenticate", 'Bearer realm="celeriac"');
      return this.json(res, 401, { error: "a valid token is required" });
    }
    // The token in the address is swapped for a cookie, so it leaves the address bar and history.
    if (token && url.searchParams.has("token") && isPageRequest(req, url)) {
      url.searchParams.delete("token");
      const cookie = `${COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/`;
      return this.send(res, 303, "text/plain", "", { location: `${path}${url.search}`, "set-cookie": cookie });
    }
    const m = (re: RegExp) => re.exec(path);
    if (req.method === "GET") {
      if (path === "/") return this.send(res, 200, "text/html; charset=utf-8", asset("index.html"));
      if (path === "/app.js") return this.send(res, 200, "text/javascript; charset=utf-8", asset("app.js"));
      if (path === "/app.css") return this.send(res, 200, "text/css; charset=utf-8", asset("app.css"));
      if (path === "/metrics") {
        await this.measureQueues();
        return this.send(res, 200, this.metrics.contentType, await this.metrics.text());
      }
      if (path === "/api/overview") return this.json(res, 200, this.overview());
      if (path === "/api/workers") return this.json(res, 200, { workers: this.workersJson() });
      if (path === "/api/queues") {
        await this.measureQueues();
        return this.json(res, 200, { queues: this.overview().queues });
      }
      if (path === "/api/tasks") return this.json(res, 200, { tasks: this.state.tasksList(this.filterOf(url)).map(taskSummary) });
      const detail = m(/^\/api\/tasks\/([\w.:-]+)$/);
      if (detail) return this.json(res, 200, await this.taskDetail(detail[1]!));
      if (path === "/api/stream") return this.stream(req, res);
    }
    if (req.method === "POST") {
      const body = await this.readJson(req);
      const revoke = m(/^\/api\/tasks\/([\w.:-]+)\/revoke$/);
      if (revoke) {
        const replies = await this.app.control.revoke(revoke[1]!, { terminate: body.terminate === true, reply: true, timeout: 1500, limit: this.onlineCount() || undefined });
        return this.json(res, 200, { ok: true, replies });
      }
      const retry = m(/^\/api\/tasks\/([\w.:-]+)\/retry$/);
      if (retry) return this.json(res, 200, await this.retry(retry[1]!));
      const pool = m(/^\/api\/workers\/([^/]+)\/pool$/);
      if (pool) {
        const host = decodeURIComponent(pool[1]!);
        const delta = body.delta === -1 ? -1 : body.delta === 1 ? 1 : 0;
        if (!delta) throw new HttpError(400, "delta must be 1 or -1");
        const opts = { destination: [host], timeout: 2000 };
        const replies = delta > 0 ? await this.app.control.poolGrow(1, opts) : await this.app.control.poolShrink(1, opts);
        if (!replies.length) throw new HttpError(504, `worker ${host} did not answer`);
        const size = (Object.values(replies[0]!)[0] as { size?: number }).size;
        const info = this.workerInfo.get(host);
        if (info && typeof size === "number") info.concurrency = size;
        return this.json(res, 200, { ok: true, size: size ?? null });
      }
      if (path === "/api/rate-limit") {
        const task = typeof body.task === "string" ? body.task : "";
        if (!task) throw new HttpError(400, "name the task (task)");
        const rate = typeof body.rate === "string" && body.rate.trim() ? body.rate.trim() : null;
        if (rate && !/^\d+(\.\d+)?(\/[smh])?$/.test(rate)) throw new HttpError(400, `bad rate ${JSON.stringify(rate)}: use e.g. 10/s, 100/m, 1000/h`);
        const replies = await this.app.control.rateLimit(task, rate, { timeout: 1500, limit: this.onlineCount() || undefined });
        return this.json(res, 200, { ok: true, replies });
      }
    }
    this.json(res, 404, { error: `no such page: ${req.method} ${path}` });
  }

  private onlineCount(): number {
    return [...this.state.workers.values()].filter((w) => workerAlive(w)).length;
  }

  private filterOf(url: URL): TaskFilter {
    const p = url.searchParams;
    const num = (k: string) => (p.get(k) ? Number(p.get(k)) : undefined);
    return {
      name: p.get("name") || undefined,
      state: p.get("state") || undefined,
      worker: p.get("worker") || undefined,
      search: p.get("search") || undefined,
      since: num("since"),
      until: num("until"),
      limit: Math.min(1000, num("limit") ?? 200),
    };
  }

  private async taskDetail(id: string): Promise<Record<string, unknown>> {
    const t = this.state.tasks.get(id) ?? null;
    const backend = await this.app.backend();
    const meta = await backend.get(id).catch(() => null);
    if (!t && !meta) throw new HttpError(404, `no task ${id} in events or results`);
    const brief = (x: string) => {
      const o = this.state.tasks.get(x);
      return { uuid: x, name: o?.name ?? null, state: o?.state ?? null };
    };
    const children = new Set<string>(t?.children ?? []);
    for (const c of meta?.children ?? []) {
      // Celery stores children as [[id, parent], null] tuples.
      const cid = Array.isArray(c) && Array.isArray(c[0]) ? c[0][0] : typeof c === "string" ? c : null;
      if (typeof cid === "string") children.add(cid);
    }
    return {
      task: t,
      result: meta ? { status: meta.status, result: meta.result ?? null, traceback: meta.traceback ?? null, date_done: meta.date_done ?? null, args: meta.args ?? null, kwargs: meta.kwargs ?? null } : null,
      parent: t?.parent_id ? brief(t.parent_id) : meta?.parent_id ? brief(meta.parent_id) : null,
      root: t?.root_id && t.root_id !== id ? brief(t.root_id) : null,
      children: [...children].map(brief),
    };
  }

  /** Sends the task again with the same arguments (a new task id). */
  private async retry(id: string): Promise<Record<string, unknown>> {
    const t = this.state.tasks.get(id);
    const meta = await (await this.app.backend()).get(id).catch(() => null);
    const name = t?.name ?? (typeof meta?.name === "string" ? meta.name : null);
    if (!name) throw new HttpError(404, `task ${id}: its name is not known, so it cannot be sent again`);
    let args: unknown[];
    let kwargs: Record<string, unknown>;
    if (Array.isArray(meta?.args)) {
      args = meta!.args;
      kwargs = (meta!.kwargs as Record<string, unknown>) ?? {};
    } else {
      try {
        const a = parsePythonLiteral(t?.args ?? "()");
        const k = parsePythonLiteral(t?.kwargs ?? "{}");
        args = Array.isArray(a) ? a : [a];
        kwargs = k && typeof k === "object" && !Array.isArray(k) ? (k as Record<string, unknown>) : {};
      } catch (err) {
        throw new HttpError(409, `the arguments of ${id} cannot be recovered (${(err as Error).message}); enable resultExtended to keep them`);
      }
    }
    const r = this.app.sendTask(name, args, kwargs, t?.queue ? { queue: t.queue } : {});
    await r.sent;
    this.app.log.info(`dashboard: task ${name}[${id}] sent again as ${r.id}`);
    return { ok: true, id: r.id, name };
  }

  private stream(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive", ...SECURITY_HEADERS });
    res.write(`retry: 2000\nevent: update\ndata: ${JSON.stringify({ ...this.overview(), tasks: [] })}\n\n`);
    this.clients.add(res);
    const keepAlive = setInterval(() => res.write(": ping\n\n"), 15_000);
    keepAlive.unref();
    const drop = () => {
      clearInterval(keepAlive);
      this.clients.delete(res);
    };
    req.on("close", drop);
    // A page gone mid-write must not take the server down.
    res.on("error", drop);
  }
}
