// The dashboard: a node:http server over a ClusterView (the event stream
// folded into a State, workers inspected now and then, queue depths measured).
// It serves one page, a JSON API under /api/, live updates over Server-Sent
// Events and Prometheus metrics at /metrics. Task views live in tasks.ts,
// response helpers in http.ts.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Celeriac } from "../app.js";
import type { Broker } from "../brokers/broker.js";
import { ConfigurationError } from "../errors.js";
import { EventReceiver } from "../events/receiver.js";
import type { State } from "../events/state.js";
import { maskUrl } from "../url.js";
import { COOKIE, authorized, checkExposure, hostAllowed, isPageRequest } from "./auth.js";
import { ClusterView, MAX_TASKS } from "./cluster.js";
import { HttpError, SECURITY_HEADERS, readJsonBody, sendJson, sendText } from "./http.js";
import { ClusterMetrics } from "./metrics.js";
import { asset } from "./page.js";
import type { TaskSeries } from "./series.js";
import { taskSummary } from "./tasks.js";
import { TaskHistory } from "./history.js";
import { API_ROUTES } from "./api-index.js";
import { sqlitePath } from "../url.js";
import { BeatRoutes } from "./beat-routes.js";
import { QueueRoutes } from "./queue-routes.js";
import { WorkerRoutes } from "./worker-routes.js";
import { BulkRoutes } from "./bulk-routes.js";
import { TaskRoutes } from "./task-routes.js";
import type { RouteGroup } from "./routes.js";

export interface DashboardOptions {
  port?: number;
  /** Address to bind; default 127.0.0.1. Anything but loopback needs a token. */
  host?: string;
  token?: string | null;
  /** How often workers are inspected and queues measured (ms). */
  pollIntervalMs?: number;
  /** Width of a chart bucket (s). */
  bucketSeconds?: number;
  /**
   * The SQLite file that keeps the task history across restarts (default
   * ./celeriac-dashboard.db); null keeps it in memory only, as before.
   */
  history?: string | null;
  /** Tasks older than this leave the history (seconds; default 7 days). */
  historyMaxAgeSeconds?: number;
  /** The history keeps at most this many tasks, the newest (default 100,000). */
  historyMaxTasks?: number;
}

/** The page's scripts, each served at /<name>. */
const SCRIPTS = ["app.js", "task.js", "ops.js", "beat.js", "bulk.js"] as const;

/** At most this many changed tasks go to live pages per push. */
const MAX_PUSHED_TASKS = 300;

export class Dashboard {
  readonly cluster: ClusterView;
  readonly metrics: ClusterMetrics;
  private server: Server | null = null;
  private receiver: EventReceiver | null = null;
  private broker!: Broker;
  private readonly clients = new Set<ServerResponse>();
  private pollTimer: NodeJS.Timeout | null = null;
  private pushTimer: NodeJS.Timeout | null = null;
  private closed = false;
  /** The kept task history; null when kept in memory only. */
  readonly history: TaskHistory | null;
  /** The dashboard's address once started. */
  url = "";
  /** The API's route groups by concern, asked in turn. */
  private readonly routes: RouteGroup[];

  constructor(
    private readonly app: Celeriac,
    private readonly opts: DashboardOptions = {},
  ) {
    this.cluster = new ClusterView(app, opts.bucketSeconds ?? 5);
    const file = opts.history === undefined ? "./celeriac-dashboard.db" : opts.history;
    this.history = file
      ? new TaskHistory({
          path: file.includes("://") ? sqlitePath(file) : file,
          maxAgeSeconds: opts.historyMaxAgeSeconds,
          maxTasks: opts.historyMaxTasks,
        })
      : null;
    this.metrics = new ClusterMetrics({
      state: this.cluster.state,
      queueDepths: () => this.cluster.depths,
      workerLoads: () => this.cluster.workerLoads(),
    });
    const ctx = { app, cluster: this.cluster, broker: () => this.broker, history: this.history, saveHistory: () => this.saveHistory() };
    this.routes = [
      new TaskRoutes(ctx),
      new BeatRoutes(app, this.cluster.state),
      new QueueRoutes(app, this.cluster, ctx.broker),
      new WorkerRoutes(app, this.cluster),
      new BulkRoutes(ctx),
    ];
  }

  get state(): State {
    return this.cluster.state;
  }

  get series(): TaskSeries {
    return this.cluster.series;
  }

  async start(): Promise<string> {
    const host = this.opts.host ?? "127.0.0.1";
    checkExposure(host, this.opts.token);
    asset("index.html"); // fail now, not on the first request, if the page is missing
    if (this.history) {
      this.history.open();
      this.cluster.restore(this.history.recent(MAX_TASKS));
    }
    this.broker = await this.app.broker();
    if (!this.broker.subscribeFanout) throw new ConfigurationError(`broker ${this.broker.displayUrl} has no fanout: the dashboard needs events`);
    this.receiver = new EventReceiver(this.broker, { log: this.app.log });
    await this.receiver.start((e) => {
      const t = this.cluster.observe(e);
      if (t) this.metrics.observe(e, t);
    });
    this.server = createServer((req, res) => {
      void this.handle(req, res).catch((err: Error) => {
        const status = err instanceof HttpError ? err.status : 500;
        if (status === 500) this.app.log.error(`dashboard: ${req.method} ${req.url?.split("?")[0]}: ${err.message}`);
        if (!res.headersSent) sendJson(res, status, { error: maskUrl(err.message) });
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
    for (const r of this.routes) await r.close?.();
    this.saveHistory();
    this.history?.close();
    if (this.server) {
      this.server.closeAllConnections();
      await new Promise<void>((r) => this.server!.close(() => r()));
    }
  }

  /** Refreshes the cluster view, then again after the poll interval, until closed. */
  private async poll(): Promise<void> {
    try {
      await this.cluster.refresh(this.broker);
    } catch (err) {
      this.app.log.warn(`dashboard: cannot poll workers: ${(err as Error).message}`);
    } finally {
      if (!this.closed) {
        this.pollTimer = setTimeout(() => void this.poll(), this.opts.pollIntervalMs ?? 3000);
        this.pollTimer.unref();
      }
    }
  }

  private overview(): Record<string, unknown> {
    return this.cluster.overview(this.broker.displayUrl);
  }

  /** Writes the tasks changed since the last save to the history. */
  private saveHistory(): void {
    if (!this.history) return;
    try {
      this.history.save(this.cluster.takeUnsaved());
    } catch (err) {
      this.app.log.warn(`dashboard: cannot save the task history in ${this.history.path}: ${(err as Error).message}`);
    }
  }

  /** Sends changes to live pages: once a second, the overview and the tasks that changed (and saves them). */
  private push(): void {
    this.saveHistory();
    const tasks = this.cluster.takeChanged(MAX_PUSHED_TASKS);
    if (!this.clients.size) return;
    const data = `event: update\ndata: ${JSON.stringify({ ...this.overview(), tasks: tasks.map(taskSummary) })}\n\n`;
    for (const c of this.clients) c.write(data);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://dashboard");
    const path = url.pathname;
    const token = this.opts.token ?? null;
    if (!hostAllowed(token, req.headers.host, this.opts.host)) {
      return sendJson(res, 403, {
        error:
          "without a token this dashboard answers only to localhost, 127.0.0.1 or [::1] (a page from another site may be reaching it by DNS rebinding): open it by one of those names, or give it a token",
      });
    }
    if (!authorized(token, req, url)) {
      if (req.method === "GET" && path === "/") {
        // The sign-in page is self-contained: its own small inline style, nothing else.
        const csp = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'";
        return sendText(res, 401, "text/html; charset=utf-8", asset("login.html"), { "content-security-policy": csp });
      }
      res.setHeader("www-authenticate", 'Bearer realm="celeriac"');
      return sendJson(res, 401, { error: "a valid token is required" });
    }
    // The token in the address is swapped for a cookie, so it leaves the address bar and history.
    if (token && url.searchParams.has("token") && isPageRequest(req, url)) {
      url.searchParams.delete("token");
      const cookie = `${COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/`;
      return sendText(res, 303, "text/plain", "", { location: `${path}${url.search}`, "set-cookie": cookie });
    }
    // One body read for every POST: readJsonBody is also the CSRF guard.
    const body = req.method === "POST" ? await readJsonBody(req) : {};
    for (const group of this.routes) {
      const reply = group.handle({ method: req.method ?? "GET", path, url, body });
      if (reply) return sendJson(res, 200, await reply);
    }
    if (req.method === "GET") {
      // A task's own address (/tasks/<id>, to paste in a chat) is the page, opened on it.
      if (path === "/" || /^\/tasks\/[\w.:-]+$/.test(path)) return sendText(res, 200, "text/html; charset=utf-8", asset("index.html"));
      if (path === "/api" || path === "/api/") return sendJson(res, 200, { routes: API_ROUTES });
      const script = SCRIPTS.find((s) => `/${s}` === path);
      if (script) return sendText(res, 200, "text/javascript; charset=utf-8", asset(script));
      if (path === "/app.css") return sendText(res, 200, "text/css; charset=utf-8", asset("app.css"));
      if (path === "/metrics") {
        await this.cluster.measureQueues(this.broker);
        return sendText(res, 200, this.metrics.contentType, await this.metrics.text());
      }
      if (path === "/api/overview") return sendJson(res, 200, this.overview());
      if (path === "/api/workers") return sendJson(res, 200, { workers: this.cluster.workers() });
      if (path === "/api/queues") {
        await this.cluster.measureQueues(this.broker);
        return sendJson(res, 200, { queues: this.cluster.queueRows() });
      }
      if (path === "/api/stream") return this.stream(req, res);
    }
    sendJson(res, 404, { error: `no such page: ${req.method} ${path}` });
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
