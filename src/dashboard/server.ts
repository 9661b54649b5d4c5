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
import { ClusterView } from "./cluster.js";
import { HttpError, SECURITY_HEADERS, readJsonBody, sendJson, sendText } from "./http.js";
import { ClusterMetrics } from "./metrics.js";
import { asset } from "./page.js";
import type { TaskSeries } from "./series.js";
import { resendTask, taskDetail, taskFilterOf, taskSummary } from "./tasks.js";

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
  /** The dashboard's address once started. */
  url = "";

  constructor(
    private readonly app: Celeriac,
    private readonly opts: DashboardOptions = {},
  ) {
    this.cluster = new ClusterView(app, opts.bucketSeconds ?? 5);
    this.metrics = new ClusterMetrics({
      state: this.cluster.state,
      queueDepths: () => this.cluster.depths,
      workerLoads: () => this.cluster.workerLoads(),
    });
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

  /** Sends changes to live pages: once a second, the overview and the tasks that changed. */
  private push(): void {
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
      return sendJson(res, 403, { error: "without a token this dashboard answers only to localhost, 127.0.0.1 or [::1] (a page from another site may be reaching it by DNS rebinding): open it by one of those names, or give it a token" });
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
    const m = (re: RegExp) => re.exec(path);
    if (req.method === "GET") {
      if (path === "/") return sendText(res, 200, "text/html; charset=utf-8", asset("index.html"));
      if (path === "/app.js") return sendText(res, 200, "text/javascript; charset=utf-8", asset("app.js"));
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
      if (path === "/api/tasks") return sendJson(res, 200, { tasks: this.state.tasksList(taskFilterOf(url)).map(taskSummary) });
      const detail = m(/^\/api\/tasks\/([\w.:-]+)$/);
      if (detail) return sendJson(res, 200, await taskDetail(this.app, this.state, detail[1]!));
      if (path === "/api/stream") return this.stream(req, res);
    }
    if (req.method === "POST") {
      const body = await readJsonBody(req);
      const revoke = m(/^\/api\/tasks\/([\w.:-]+)\/revoke$/);
      if (revoke) {
        const replies = await this.app.control.revoke(revoke[1]!, { terminate: body.terminate === true, reply: true, timeout: 1500, limit: this.cluster.onlineCount() || undefined });
        return sendJson(res, 200, { ok: true, replies });
      }
      const retry = m(/^\/api\/tasks\/([\w.:-]+)\/retry$/);
      if (retry) return sendJson(res, 200, await resendTask(this.app, this.state, retry[1]!));
      const pool = m(/^\/api\/workers\/([^/]+)\/pool$/);
      if (pool) {
        const host = decodeURIComponent(pool[1]!);
        const delta = body.delta === -1 ? -1 : body.delta === 1 ? 1 : 0;
        if (!delta) throw new HttpError(400, "delta must be 1 or -1");
        const opts = { destination: [host], timeout: 2000 };
        const replies = delta > 0 ? await this.app.control.poolGrow(1, opts) : await this.app.control.poolShrink(1, opts);
        if (!replies.length) throw new HttpError(504, `worker ${host} did not answer`);
        const size = (Object.values(replies[0]!)[0] as { size?: number }).size;
        if (typeof size === "number") this.cluster.setConcurrency(host, size);
        return sendJson(res, 200, { ok: true, size: size ?? null });
      }
      if (path === "/api/rate-limit") {
        const task = typeof body.task === "string" ? body.task : "";
        if (!task) throw new HttpError(400, "name the task (task)");
        const rate = typeof body.rate === "string" && body.rate.trim() ? body.rate.trim() : null;
        if (rate && !/^\d+(\.\d+)?(\/[smh])?$/.test(rate)) throw new HttpError(400, `bad rate ${JSON.stringify(rate)}: use e.g. 10/s, 100/m, 1000/h`);
        const replies = await this.app.control.rateLimit(task, rate, { timeout: 1500, limit: this.cluster.onlineCount() || undefined });
        return sendJson(res, 200, { ok: true, replies });
      }
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
