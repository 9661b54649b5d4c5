// The app: configuration, the task registry, and the one path by which every
// task message is sent (tasks, signatures and sendTask all come here).
import { EventEmitter } from "node:events";
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { pathToFileURL } from "node:url";
import { resolve as resolvePath } from "node:path";
import type { Broker, Route } from "./brokers/broker.js";
import { createBroker } from "./brokers/index.js";
import { connectOnStartup, type StartupRetry } from "./brokers/connect-on-startup.js";
import type { ResultBackend } from "./backends/backend.js";
import { createBackend } from "./backends/index.js";
import { registerBuiltinTasks } from "./canvas/builtins.js";
import { registerSignatureKinds } from "./canvas/kinds.js";
import { Signature } from "./canvas/signature.js";
import { applySettings, defaultSettings, settingsFromEnv, suggestSetting, type RouteTarget, type Settings, type TaskRoutes } from "./config.js";
import { ConfigurationError, DuplicateTaskName, PublishError } from "./errors.js";
import { Control } from "./control/control.js";
import { announceSent } from "./events/sent.js";
import { createLogger, type Logger } from "./log.js";
import { Sender, type SendFailure } from "./sending.js";
import { schemeOf } from "./url.js";
import { OpenedOnce } from "./util/opened-once.js";
import { encodeTask, type Embed, type SignatureDict } from "./protocol/message.js";
import { registerSerializer } from "./protocol/serializers.js";
import { authSerializerFromSettings, type SecurityFiles } from "./protocol/signing/auth.js";
import { AsyncResult } from "./result.js";
import { Task, type ApplyOptions, type TaskFunction, type TaskOptions } from "./task.js";
import { addToTrail, currentTask } from "./trail.js";

export type CeleriacOptions = Omit<Partial<Settings>, "brokerUrl" | "resultBackend"> & {
  name?: string;
  /** Broker URL (alias of brokerUrl), or a failover list of them. */
  broker?: string | string[];
  brokerUrl?: string | string[];
  /** Result backend URL (alias of resultBackend), or a failover list of them. */
  backend?: string | string[];
  resultBackend?: string | string[];
};

/** Celery's `origin` header, `<pid>@<host>`: computed once (os.hostname() is a system call). */
const ORIGIN = `${process.pid}@${hostname()}`;

/** Marks app objects, so a module loader can find the app even across package copies. */
export const APP_MARK = Symbol.for("celeriac.app");

export { currentTask };

/**
 * Signals, Celery's names in camelCase. Task signals fire where the task runs
 * (in a pool child for the process and thread pools), worker signals in the
 * worker process.
 */
export interface CeleriacSignals {
  taskPrerun: [info: { taskId: string; task: string; args: unknown[]; kwargs: Record<string, unknown> }];
  taskPostrun: [info: { taskId: string; task: string; state: string; retval: unknown }];
  taskSuccess: [info: { taskId: string; task: string; result: unknown }];
  taskFailure: [info: { taskId: string; task: string; exception: Error }];
  taskRetry: [info: { taskId: string; task: string; reason: Error }];
  workerReady: [worker: unknown];
  workerShutdown: [worker: unknown];
  /** A send failed for good (its publish retries used up): fired where it was sent, for every such send. */
  sendFailed: [info: SendFailure];
}

export class Celeriac extends EventEmitter<CeleriacSignals> {
  readonly [APP_MARK] = true;
  readonly name: string;
  readonly settings: Settings;
  readonly tasks = new Map<string, Task<any, any>>(); // eslint-disable-line @typescript-eslint/no-explicit-any
  /** Settings that were given but are not known: reported, never silently used. */
  readonly unknownSettings: string[] = [];
  readonly log: Logger;
  /** This app's reply queue name, sent as reply_to with every task (Celery's app.oid): rpc:// results come back there. */
  readonly oid = randomUUID();
  /**
   * The first 14 characters of every task id this app makes ("xxxxxxxx-xxxx-";
   * the rest is a fresh uuid4's, so ids stay uuid4s): a Redis result backend
   * listens for all of them with one pattern subscription instead of one
   * SUBSCRIBE per get().
   */
  readonly taskIdPrefix = randomUUID().slice(0, 14);
  /** The broker, at hand once connected for sending without waiting a tick. */
  private readonly brokerConnection = new OpenedOnce<Broker>(
    async () => {
      const b = await createBroker(this.settings.brokerUrl, {
        visibilityTimeout: this.settings.brokerTransportOptions.visibilityTimeout,
        failoverStrategy: this.settings.brokerFailoverStrategy,
        ...this.settings.brokerTransportOptions,
        topology: this.settings,
      });
      await connectOnStartup(() => b.connect(), this.startupRetry("broker"));
      return b;
    },
    (b) => b.close(),
  );
  private readonly backendConnection = new OpenedOnce<ResultBackend>(
    async () => {
      const b = await createBackend(this.settings.resultBackend, {
        resultExpires: this.settings.resultExpires,
        brokerUrl: this.settings.brokerUrl,
        replyTo: this.oid,
        taskIdPrefix: this.taskIdPrefix,
        failoverStrategy: this.settings.brokerFailoverStrategy,
        ...this.settings.resultBackendTransportOptions,
      });
      await connectOnStartup(() => b.connect(), this.startupRetry("results"));
      return b;
    },
    (b) => b.close(),
  );

  /** Sends in flight: publish retries and timeouts, and failures nobody awaited. */
  private readonly sender = new Sender(this);

  /** Remote control of workers: ping, inspect, revoke, rate limits… */
  readonly control: Control;

  constructor(opts: CeleriacOptions = {}) {
    super();
    this.control = new Control(this);
    const { name, ...rest } = opts;
    this.name = name ?? "celeriac";
    this.log = createLogger(this.name);
    this.settings = defaultSettings();
    this.configure(rest);
    registerSignatureKinds();
    registerBuiltinTasks(this);
  }

  /** Applies settings; CELERIAC_* env vars are re-applied on top, so the environment wins. */
  private configure(values: Record<string, unknown>): void {
    const unknown = applySettings(this.settings, values);
    const env = settingsFromEnv();
    applySettings(this.settings, env.values);
    for (const key of [...unknown, ...env.unknown]) {
      if (this.unknownSettings.includes(key)) continue;
      this.unknownSettings.push(key);
      const hint = suggestSetting(key);
      this.log.warn(`unknown setting ${JSON.stringify(key)} ignored${hint ? ` (did you mean ${hint}?)` : ""}`);
    }
  }

  /** Celery's config_from_object: a plain object or a module namespace (e.g. `await import("./celeryconfig.js")`). */
  configFromObject(obj: Record<string, unknown>): this {
    const source = obj && typeof obj === "object" && "default" in obj && typeof obj.default === "object" ? (obj.default as Record<string, unknown>) : obj;
    this.configure(source);
    return this;
  }

  /**
   * Celery's app.setup_security(): signs every task this app sends with
   * securityKey/securityCertificate and accepts only messages signed by a
   * certificate in securityCertStore. As in Celery, taskSerializer must be
   * "auth" and acceptContent exactly ["auth"], so an unsigned message is
   * refused (ContentDisallowed) and a badly signed one fails with SecurityError.
   * Call it where the app is made, so every process that loads the app
   * (workers, pool children, producers) signs and verifies alike.
   */
  setupSecurity(opts: Partial<SecurityFiles> = {}): this {
    registerSerializer(authSerializerFromSettings(this.settings, opts));
    return this;
  }

  /** Imports task modules so their tasks register (Celery's autodiscover_tasks / include). */
  async autodiscoverTasks(modules: readonly string[] = this.settings.include): Promise<void> {
    for (const m of modules) {
      const spec = m.startsWith(".") || m.startsWith("/") ? pathToFileURL(resolvePath(m)).href : m;
      await import(spec);
    }
  }

  // ---- tasks -------------------------------------------------------------

  task<A extends unknown[], R>(fn: TaskFunction<A, R>): Task<A, Awaited<R>>;
  task<A extends unknown[], R>(name: string, fn: TaskFunction<A, R>): Task<A, Awaited<R>>;
  task<A extends unknown[], R>(options: TaskOptions, fn: TaskFunction<A, R>): Task<A, Awaited<R>>;
  task<A extends unknown[], R>(a: string | TaskOptions | TaskFunction<A, R>, b?: TaskFunction<A, R>): Task<A, Awaited<R>> {
    const fn = (typeof a === "function" ? a : b) as TaskFunction<A, Awaited<R>> | undefined;
    if (typeof fn !== "function") throw new TypeError("app.task() needs a function");
    const options: TaskOptions = typeof a === "string" ? { name: a } : typeof a === "object" ? a : {};
    const name = options.name ?? options.base?.name ?? (fn.name ? `${this.name}.${fn.name}` : "");
    if (!name) throw new ConfigurationError("a task needs a name: pass one, or use a named function");
    if (this.tasks.has(name)) throw new DuplicateTaskName(`a task named ${JSON.stringify(name)} is already registered`);
    const task = new Task<A, Awaited<R>>(this, name, fn, { ...options, name });
    this.tasks.set(name, task);
    return task;
  }

  /** A signature by task name, for tasks defined elsewhere (another service, Python). */
  signature(name: string, args: unknown[] = [], kwargs: Record<string, unknown> = {}, options: ApplyOptions = {}): Signature {
    return new Signature(this, name, args, kwargs).set(options);
  }

  /** A handle on a task result by id. */
  AsyncResult<T = unknown>(id: string): AsyncResult<T> {
    return new AsyncResult<T>(id, this);
  }

  /** Revokes a task (see AsyncResult.revoke and app.control.revoke). */
  async revoke(taskId: string, opts: { terminate?: boolean; signal?: string } = {}): Promise<void> {
    await this.control.revoke(taskId, opts);
  }

  // ---- connections ---------------------------------------------------------

  /** Replaced at each close(): aborts the first-connection retries that close() interrupts. */
  private closing = new AbortController();

  /** How the first connection of the broker or backend is retried (brokerConnectionRetryOnStartup). */
  private startupRetry(role: string): StartupRetry {
    const s = this.settings;
    return { retry: s.brokerConnectionRetryOnStartup, maxRetries: s.brokerConnectionMaxRetries, log: this.log, role, signal: this.closing.signal };
  }

  broker(): Promise<Broker> {
    return this.brokerConnection.get();
  }

  backend(): Promise<ResultBackend> {
    return this.backendConnection.get();
  }

  /** The result backend if it is connected already: no await between a send and its get(). */
  backendNow(): ResultBackend | null {
    return this.backendConnection.current;
  }

  /**
   * Waits for the sends in flight (at most `timeout` seconds, default 30; the
   * retry policy bounds each one anyway), closes the connections, then rejects
   * with a PublishError if any send failed whose `sent` nobody awaited (they
   * were logged at ERROR when they failed), so a script that ends with
   * `await app.close()` does not lose tasks silently. Its `failures` lists them.
   */
  async close(opts: { timeout?: number } = {}): Promise<void> {
    const unseen = await this.sender.drain((opts.timeout ?? 30) * 1000);
    // A first connection still being retried gives up now; the app may be opened again after.
    this.closing.abort();
    this.closing = new AbortController();
    await Promise.all([this.brokerConnection.close(), this.backendConnection.close()]);
    if (!unseen.length) return;
    const tasks = unseen.flatMap((e) => e.tasks);
    const error =
      unseen.length === 1
        ? unseen[0]!
        : new PublishError(`${tasks.length} sends failed: ${unseen.map((e) => e.message).join("; ")}`, { cause: unseen[0], tasks });
    throw error;
  }

  // ---- sending ---------------------------------------------------------------

  /** Where a task goes: call options, then the task's own, then taskRoutes, then the defaults. */
  route(name: string, args: unknown[], kwargs: Record<string, unknown>, options: ApplyOptions = {}): Route & { priority?: number } {
    const task = this.tasks.get(name);
    const fromRoutes = options.queue ? null : matchRoutes(this.settings.taskRoutes, name, args, kwargs);
    const queue = options.queue ?? task?.options.queue ?? fromRoutes?.queue ?? this.settings.taskDefaultQueue;
    const exchange = options.exchange ?? task?.options.exchange ?? fromRoutes?.exchange;
    const routingKey = options.routingKey ?? task?.options.routingKey ?? fromRoutes?.routingKey ?? queue;
    const priority = options.priority ?? task?.options.priority ?? fromRoutes?.priority ?? this.settings.taskDefaultPriority ?? undefined;
    return { queue, exchange, routingKey, priority };
  }

  /** Sends a task by name. Returns at once; `result.sent` resolves when the broker has it. */
  sendTask<T = unknown>(name: string, args: unknown[] = [], kwargs?: Record<string, unknown>, options: ApplyOptions = {}): AsyncResult<T> {
    const id = options.taskId ?? this.taskIdPrefix + randomUUID().slice(14);
    let built: ReturnType<Celeriac["buildMessage"]>;
    try {
      built = this.buildMessage(id, name, args, kwargs ?? options.kwargs ?? {}, options);
    } catch (err) {
      return new AsyncResult<T>(id, this, Promise.reject(err));
    }
    const { message, route, eta } = built;
    const publishOptions = { priority: route.priority, eta };
    let attempt: Promise<void>;
    // rpc:// receives the result on this app's reply queue: it must exist before the task is sent.
    const replyQueue = schemeOf(this.settings.resultBackend) === "rpc" ? this.backend().then((b) => b.onTaskCall?.()) : null;
    const connected = this.brokerConnection.current;
    if (connected && !replyQueue && !this.settings.taskSendSentEvent) {
      // Connected already: publish now, not a tick later, so a loop of sends does not
      // keep every message alive until it ends (the broker encodes and batches at once).
      attempt = connected.publish(route, message, publishOptions);
    } else {
      attempt = Promise.all([this.broker(), replyQueue]).then(async ([b]) => {
        await b.publish(route, message, publishOptions);
        if (this.settings.taskSendSentEvent) announceSent(b, message, route, this.log);
      });
    }
    // The result is made before its guarded promise: the guard needs it to tell whether anyone awaited it.
    const result = new AsyncResult<T>(id, this, undefined);
    result.name = name;
    const sent = this.sender.track(attempt, result, name, route, message, publishOptions, options.retry, options.retryPolicy);
    result.attachSend(sent);
    addToTrail(result, options.addToParent);
    return result;
  }

  private buildMessage(id: string, name: string, args: unknown[], kwargs: Record<string, unknown>, options: ApplyOptions) {
    if (!Array.isArray(args)) throw new TypeError(`args for ${name} must be an array`);
    const task = this.tasks.get(name);
    const topts = task?.options ?? {};
    const route = this.route(name, args, kwargs, options);
    const now = Date.now();
    const eta = options.eta !== undefined ? new Date(options.eta) : options.countdown ? new Date(now + options.countdown * 1000) : null;
    const expiresOpt = options.expires ?? topts.expires;
    const expires =
      expiresOpt === undefined || expiresOpt === null ? null : typeof expiresOpt === "number" ? new Date(now + expiresOpt * 1000) : new Date(expiresOpt);
    if (eta && Number.isNaN(eta.getTime())) throw new TypeError(`bad eta for ${name}: ${String(options.eta)}`);
    if (expires && Number.isNaN(expires.getTime())) throw new TypeError(`bad expires for ${name}: ${String(expiresOpt)}`);
    const parent = currentTask.getStore();
    const link = toDicts(options.link);
    const linkError = toDicts(options.linkError);
    const embed: Partial<Embed> = {
      callbacks: link,
      errbacks: linkError,
      chain: (options.chain as SignatureDict[] | null | undefined) ?? null,
      chord: (options.chord as SignatureDict | null | undefined) ?? null,
    };
    const message = encodeTask(
      {
        task: name,
        id,
        args,
        kwargs,
        embed,
        eta,
        expires,
        retries: options.retries ?? 0,
        timeLimit: options.timeLimit ?? topts.timeLimit ?? null,
        softTimeLimit: options.softTimeLimit ?? topts.softTimeLimit ?? null,
        rootId: options.rootId ?? parent?.request.rootId ?? id,
        parentId: options.parentId ?? parent?.request.id ?? null,
        group: options.groupId ?? null,
        groupIndex: options.groupIndex ?? null,
        shadow: options.shadow ?? null,
        origin: ORIGIN,
        ignoreResult: options.ignoreResult ?? topts.ignoreResult ?? this.settings.taskIgnoreResult,
        replyTo: options.replyTo ?? this.oid,
        priority: route.priority,
        headers: options.headers,
        deliveryInfo: { exchange: route.exchange ?? "", routing_key: route.routingKey ?? route.queue },
      },
      {
        serializer: options.serializer ?? topts.serializer ?? this.settings.taskSerializer,
        compression: options.compression ?? topts.compression ?? this.settings.taskCompression,
      },
    );
    return { message, route, eta: eta ? eta.getTime() : null };
  }
}

function toDicts(v: Signature | Signature[] | undefined): SignatureDict[] | null {
  if (!v) return null;
  const list = Array.isArray(v) ? v : [v];
  return list.map((s) => (s instanceof Signature ? s.toDict() : (s as SignatureDict)));
}

function globToRegExp(glob: string): RegExp {
  return new RegExp(
    `^${glob
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replace(/\*/g, ".*")
      .replace(/\?/g, ".")}$`,
  );
}

/** Celery's task_routes: the first matching entry wins. */
export function matchRoutes(routes: TaskRoutes | null, name: string, args: unknown[], kwargs: Record<string, unknown>): RouteTarget | null {
  if (!routes) return null;
  const list = Array.isArray(routes) ? routes : [routes];
  for (const entry of list) {
    if (typeof entry === "function") {
      const r = entry(name, args, kwargs);
      if (r) return typeof r === "string" ? { queue: r } : r;
      continue;
    }
    for (const [pattern, target] of Object.entries(entry)) {
      const re = pattern.length > 2 && pattern.startsWith("/") && pattern.endsWith("/") ? new RegExp(pattern.slice(1, -1)) : null;
      const hit = re ? re.test(name) : pattern.includes("*") || pattern.includes("?") ? globToRegExp(pattern).test(name) : pattern === name;
      if (hit) return typeof target === "string" ? { queue: target } : target;
    }
  }
  return null;
}

export function isApp(v: unknown): v is Celeriac {
  return typeof v === "object" && v !== null && (v as Record<symbol, unknown>)[APP_MARK] === true;
}
