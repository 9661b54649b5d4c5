// Settings by Celery's names in camelCase, their defaults, and the three ways
// to set them: the constructor object, configFromObject(), CELERIAC_* env vars.
// Snake_case and Celery's old upper-case names (CELERY_TASK_SERIALIZER,
// CELERYD_CONCURRENCY, BROKER_URL…) are read too, so a celeryconfig ports as is.
import { availableParallelism } from "node:os";
import type { BeatEntryInput } from "./beat/entry.js";
import { ConfigurationError } from "./errors.js";
import { closestName } from "./util/did-you-mean.js";
import { joinUrlList, type FailoverStrategy } from "./failover.js";

export type RouteTarget = { queue?: string; exchange?: string; routingKey?: string; priority?: number };
export type RouteMatcher = (name: string, args: unknown[], kwargs: Record<string, unknown>) => RouteTarget | string | null | undefined;
/** Celery's task_routes: a map of name or glob (or /regex/) to a target, a function, or a list of those. */
export type TaskRoutes = Record<string, RouteTarget | string> | RouteMatcher | (Record<string, RouteTarget | string> | RouteMatcher)[];

export interface QueueDeclaration {
  name: string;
  exchange?: string;
  exchangeType?: "direct" | "topic" | "fanout";
  routingKey?: string;
  maxPriority?: number;
  queueArguments?: Record<string, unknown>;
}

/** Celery's retry policy keys in camelCase (snake_case keys are read too). null maxRetries: retry forever. */
export interface PublishRetryPolicy {
  maxRetries?: number | null;
  intervalStart?: number;
  intervalStep?: number;
  intervalMax?: number;
}

export interface Settings {
  /** Where task messages go: redis://, rediss://, amqp://, sqlite://, memory:// (Celery's broker_url), or a failover list "redis://h1;redis://h2" (a list given in code is joined so). Default `sqlite://./celeriac.db`, resolved against the worker's cwd. */
  brokerUrl: string;
  /** Where results are stored: redis://, sqlite://, rpc://, memory:// (Celery's result_backend). Default `sqlite://./celeriac.db`. */
  resultBackend: string;
  /** How the connections walk a failover list: Celery's broker_failover_strategy ("round-robin", "shuffle", or a function). */
  brokerFailoverStrategy: FailoverStrategy;
  /** Broker-specific options, e.g. `visibilityTimeout` in seconds (default 3600) (Celery's broker_transport_options). Default `{}`. */
  brokerTransportOptions: { visibilityTimeout?: number; [key: string]: unknown };
  /** Backend-specific options (Celery's result_backend_transport_options). Default `{}`. */
  resultBackendTransportOptions: Record<string, unknown>;
  /** Reconnect to the broker when a connection drops (Celery's broker_connection_retry). Default true. */
  brokerConnectionRetry: boolean;
  /** Retry the first connection to the broker and result backend, instead of failing at once (Celery's broker_connection_retry_on_startup). Default true. */
  brokerConnectionRetryOnStartup: boolean;
  /** Attempts of that first connection before giving up; null or 0: forever (Celery's broker_connection_max_retries). Default 100. */
  brokerConnectionMaxRetries: number | null;
  /** How task messages are encoded: "json", "msgpack" (Celery's task_serializer). Default "json". */
  taskSerializer: string;
  /** How results are encoded (Celery's result_serializer). Default "json". */
  resultSerializer: string;
  /** Content types a worker accepts; others are refused with ContentDisallowed (Celery's accept_content). Default ["json"]. */
  acceptContent: string[];
  /** Content types accepted for results; null: same as acceptContent (Celery's result_accept_content). Default null. */
  resultAcceptContent: string[] | null;
  /** Compression of task messages: "zlib", "gzip", "brotli" or null (Celery's task_compression). Default null. */
  taskCompression: string | null;
  /** Compression of results (Celery's result_compression). Default null. */
  resultCompression: string | null;
  /** Seconds a stored result is kept; null: forever (Celery's result_expires). Default 86400 (one day). */
  resultExpires: number | null;
  /** Message signing (app.setupSecurity()): the PEM private key file this process signs with. */
  securityKey: string | null;
  /** Its passphrase, if the key is encrypted (Celery 5.3's security_key_password). */
  securityKeyPassword: string | null;
  /** The PEM certificate of that key: its issuer and serial number name the signer. */
  securityCertificate: string | null;
  /** The trusted certificates: a directory, a file, or a glob such as /etc/certs/*.pem. */
  securityCertStore: string | null;
  /** The digest signed with (Celery's names: sha256, sha512, sha3_256…). */
  securityDigest: string;
  /** The serializer of the body inside a signed message. */
  securitySerializer: string;
  /** Store the task's name, args, kwargs, worker, retries and queue with its result (Celery's result_extended). Default false. */
  resultExtended: boolean;
  /** Time zone of crontab schedules and of local dates (Celery's timezone). Default "UTC". */
  timezone: string;
  /** Dates in messages are UTC (Celery's enable_utc). Default true. */
  enableUtc: boolean;
  /** Queue of a task with no route (Celery's task_default_queue). Default "celery". */
  taskDefaultQueue: string;
  /** Exchange of the default queue (Celery's task_default_exchange). Default "celery". */
  taskDefaultExchange: string;
  /** Type of the default exchange (Celery's task_default_exchange_type). Default "direct". */
  taskDefaultExchangeType: "direct" | "topic" | "fanout";
  /** Routing key of the default queue (Celery's task_default_routing_key). Default "celery". */
  taskDefaultRoutingKey: string;
  /** Priority of a task sent without one; null: none (Celery's task_default_priority). Default null. */
  taskDefaultPriority: number | null;
  /** x-max-priority of declared queues; null: no priorities (Celery's task_queue_max_priority). Default null. */
  taskQueueMaxPriority: number | null;
  /** RabbitMQ: the type of the task queues Celeriac declares, "classic" or "quorum" (replicated; Celery 5.5's task_default_queue_type). */
  taskDefaultQueueType: "classic" | "quorum";
  /** Queues to declare and consume, with exchange and routing key; null: the default queue (Celery's task_queues). Default null. */
  taskQueues: QueueDeclaration[] | null;
  /** Where tasks go by name, glob, /regex/ or function (Celery's task_routes). Default null. */
  taskRoutes: TaskRoutes | null;
  /** Declare a queue named by a route or -Q that is not in taskQueues (Celery's task_create_missing_queues). Default true. */
  taskCreateMissingQueues: boolean;
  /** Ack a message after its task ran, not before: a task whose worker dies runs again (Celery's task_acks_late). Default false. */
  taskAcksLate: boolean;
  /** With acksLate, a task whose pool child died goes back to the queue (null/true) or fails with WorkerLostError (false) (Celery's task_reject_on_worker_lost). Default null. */
  taskRejectOnWorkerLost: boolean | null;
  /** Store no results (Celery's task_ignore_result). Default false. */
  taskIgnoreResult: boolean;
  /** With ignoreResult, still store failures (Celery's task_store_errors_even_if_ignored). Default false. */
  taskStoreErrorsEvenIfIgnored: boolean;
  /** Store a STARTED state when a task begins (Celery's task_track_started). Default false. */
  taskTrackStarted: boolean;
  /** Seconds a task may run before its pool child is killed; null: no limit (Celery's task_time_limit). Default null. */
  taskTimeLimit: number | null;
  /** Seconds before the task's signal aborts with SoftTimeLimitExceeded; null: no limit (Celery's task_soft_time_limit). Default null. */
  taskSoftTimeLimit: number | null;
  /** Rate limit of tasks that set none, "10/s", "100/m"; null: none (Celery's task_default_rate_limit). Default null. */
  taskDefaultRateLimit: string | null;
  /** Seconds before a retry when the task gives no countdown (Celery's task_default_retry_delay). Default 180. */
  taskDefaultRetryDelay: number;
  /** Retries of a task that sets no maxRetries; null: forever (Celery's task_max_retries / Task.max_retries). Default 3. */
  taskMaxRetries: number | null;
  /** Run tasks in the caller at once instead of sending them (Celery's task_always_eager). Default false. */
  taskAlwaysEager: boolean;
  /** Send a task-sent event for every task sent (Celery's task_send_sent_event). Default false. */
  taskSendSentEvent: boolean;
  /** Retry a publish that failed (Celery's task_publish_retry). Default true. */
  taskPublishRetry: boolean;
  /** Retries after the first attempt, and the waits between them in seconds (Celery's task_publish_retry_policy). Default 3 retries, 0 s then 0.2 s apart. */
  taskPublishRetryPolicy: PublishRetryPolicy;
  /**
   * Seconds one publish attempt may go unanswered before it counts as failed
   * (Celeriac's own: a stalled broker then fails the send instead of hanging it). Default 4.
   */
  taskPublishTimeout: number;
  /** Tasks a worker runs at once (Celery's worker_concurrency, -c). Default: the number of CPUs. */
  workerConcurrency: number;
  /** Messages reserved per pool slot (Celery's worker_prefetch_multiplier). Default 4. */
  workerPrefetchMultiplier: number;
  /** Replace a pool child after this many tasks; null: never (Celery's worker_max_tasks_per_child). Default null. */
  workerMaxTasksPerChild: number | null;
  /** Replace a pool child whose resident memory is above this many KiB; null: never (Celery's worker_max_memory_per_child). Default null. */
  workerMaxMemoryPerChild: number | null;
  /** Send task events, for monitors (Celery's worker_send_task_events, -E). Default false. */
  workerSendTaskEvents: boolean;
  /** The pool: "process" (child processes), "thread" (worker_threads) or "async" (the worker's event loop) (Celery's worker_pool, -P). Default "async" for an in-process Worker; the CLI's default is "process". */
  workerPool: "process" | "thread" | "async";
  /** The node name; null: celeriac@<host> (Celery's worker -n). Default null. */
  workerHostname: string | null;
  /** File that keeps revoked ids across restarts; null: none (Celery's worker_state_db, -S). Default null. */
  workerStateDb: string | null;
  /** Ignore task rate limits (Celery's worker_disable_rate_limits). Default false. */
  workerDisableRateLimits: boolean;
  /**
   * Bytes a task message body may have, before and after decompression
   * (Celeriac's own; Celery has none). Over it the message is refused with
   * MessageTooLarge. null: no limit. Default 64 MiB.
   */
  workerMessageSizeLimit: number | null;
  /** Periodic tasks by entry name: `{ task, schedule, args?, kwargs?, options? }` (Celery's beat_schedule). Default `{}`. */
  beatSchedule: Record<string, BeatEntryInput>;
  /** Longest beat sleeps between passes, in seconds (Celery's beat_max_loop_interval). Default 300. */
  beatMaxLoopInterval: number;
  /** Where beat keeps its lease, last ticks and dynamic entries; null: the broker's URL (sqlite/redis), else the result backend's (Celeriac's own). Default null. */
  beatStoreUrl: string | null;
  /** Ticks missed while no beat ran: "none" skips them, "latest" sends the last one, "all" sends each (Celeriac's own). Default "latest". */
  beatCatchUp: "none" | "latest" | "all";
  /** Seconds a beat leader's lease lasts without renewal: how soon another beat takes over (Celeriac's own). Default 10. */
  beatLeaseSeconds: number;
  /** Modules to import so their tasks register (Celery's include / imports). Default []. */
  include: string[];
}

export const DEFAULT_URL = "sqlite://./celeriac.db";

export function defaultSettings(): Settings {
  return {
    brokerUrl: DEFAULT_URL,
    resultBackend: DEFAULT_URL,
    brokerFailoverStrategy: "round-robin",
    brokerTransportOptions: {},
    resultBackendTransportOptions: {},
    brokerConnectionRetry: true,
    brokerConnectionRetryOnStartup: true,
    brokerConnectionMaxRetries: 100,
    taskSerializer: "json",
    resultSerializer: "json",
    acceptContent: ["json"],
    resultAcceptContent: null,
    taskCompression: null,
    resultCompression: null,
    resultExpires: 86_400,
    securityKey: null,
    securityKeyPassword: null,
    securityCertificate: null,
    securityCertStore: null,
    securityDigest: "sha256",
    securitySerializer: "json",
    resultExtended: false,
    timezone: "UTC",
    enableUtc: true,
    taskDefaultQueue: "celery",
    taskDefaultExchange: "celery",
    taskDefaultExchangeType: "direct",
    taskDefaultRoutingKey: "celery",
    taskDefaultPriority: null,
    taskQueueMaxPriority: null,
    taskDefaultQueueType: "classic",
    taskQueues: null,
    taskRoutes: null,
    taskCreateMissingQueues: true,
    taskAcksLate: false,
    taskRejectOnWorkerLost: null,
    taskIgnoreResult: false,
    taskStoreErrorsEvenIfIgnored: false,
    taskTrackStarted: false,
    taskTimeLimit: null,
    taskSoftTimeLimit: null,
    taskDefaultRateLimit: null,
    taskDefaultRetryDelay: 180,
    taskMaxRetries: 3,
    taskAlwaysEager: false,
    taskSendSentEvent: false,
    taskPublishRetry: true,
    taskPublishRetryPolicy: { maxRetries: 3, intervalStart: 0, intervalStep: 0.2, intervalMax: 0.2 },
    taskPublishTimeout: 4,
    workerConcurrency: availableParallelism(),
    workerPrefetchMultiplier: 4,
    workerMaxTasksPerChild: null,
    workerMaxMemoryPerChild: null,
    workerSendTaskEvents: false,
    workerPool: "async",
    workerHostname: null,
    workerStateDb: null,
    workerDisableRateLimits: false,
    workerMessageSizeLimit: 64 * 1024 * 1024,
    beatSchedule: {},
    beatMaxLoopInterval: 300,
    beatStoreUrl: null,
    beatCatchUp: "latest",
    beatLeaseSeconds: 10,
    include: [],
  };
}

// Names that do not follow from a plain case change.
const aliases: Record<string, keyof Settings> = {
  broker: "brokerUrl",
  backend: "resultBackend",
  compression: "taskCompression",
  brokerUrl: "brokerUrl",
  BROKER_URL: "brokerUrl",
  BROKER_TRANSPORT_OPTIONS: "brokerTransportOptions",
  CELERY_RESULT_BACKEND: "resultBackend",
  CELERY_MESSAGE_COMPRESSION: "taskCompression",
  CELERY_TASK_RESULT_EXPIRES: "resultExpires",
  CELERY_ACCEPT_CONTENT: "acceptContent",
  CELERY_TIMEZONE: "timezone",
  CELERY_ENABLE_UTC: "enableUtc",
  CELERY_IGNORE_RESULT: "taskIgnoreResult",
  CELERY_ACKS_LATE: "taskAcksLate",
  CELERY_DEFAULT_QUEUE: "taskDefaultQueue",
  CELERY_DEFAULT_EXCHANGE: "taskDefaultExchange",
  CELERY_DEFAULT_EXCHANGE_TYPE: "taskDefaultExchangeType",
  CELERY_DEFAULT_ROUTING_KEY: "taskDefaultRoutingKey",
  CELERY_ROUTES: "taskRoutes",
  CELERY_QUEUES: "taskQueues",
  CELERY_TRACK_STARTED: "taskTrackStarted",
  CELERYD_CONCURRENCY: "workerConcurrency",
  CELERYD_PREFETCH_MULTIPLIER: "workerPrefetchMultiplier",
  CELERYD_MAX_TASKS_PER_CHILD: "workerMaxTasksPerChild",
  CELERYD_MAX_MEMORY_PER_CHILD: "workerMaxMemoryPerChild",
  CELERYD_TASK_TIME_LIMIT: "taskTimeLimit",
  CELERYD_TASK_SOFT_TIME_LIMIT: "taskSoftTimeLimit",
  CELERYBEAT_SCHEDULE: "beatSchedule",
  CELERY_IMPORTS: "include",
  CELERY_INCLUDE: "include",
};

const known = new Set(Object.keys(defaultSettings()));

function camel(snake: string): string {
  return snake.toLowerCase().replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

/** Maps any accepted spelling of a setting to its camelCase name, or null when unknown. */
export function settingName(key: string): keyof Settings | null {
  if (key in aliases) return aliases[key]!;
  if (known.has(key)) return key as keyof Settings;
  const stripped = key.replace(/^CELERY_/, "");
  const c = camel(stripped);
  if (known.has(c)) return c as keyof Settings;
  if (known.has(camel(key))) return camel(key) as keyof Settings;
  return null;
}

const flat = (name: string): string => name.replace(/_/g, "").toLowerCase();
const snake = (name: string): string => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/**
 * The setting an unknown key most likely meant, spelt as the key was
 * (CELERIAC_BROKR_URL → CELERIAC_BROKER_URL, task_serialiser → task_serializer,
 * brokr → broker), or null when nothing is close.
 */
export function suggestSetting(key: string): string | null {
  const env = key.startsWith("CELERIAC_");
  const bare = env ? key.slice("CELERIAC_".length) : key.replace(/^CELERY_/, "");
  const byFlat = new Map([...known, "broker", "backend"].map((n) => [flat(n), n]));
  const best = closestName(flat(bare), byFlat.keys());
  if (!best) return null;
  const name = byFlat.get(best)!;
  if (env) return `CELERIAC_${snake(name).toUpperCase()}`;
  if (/^[A-Z0-9_]+$/.test(key)) return snake(name).toUpperCase();
  if (key.includes("_")) return snake(name);
  return name;
}

/**
 * Merges `source` into `target`. Unknown keys are returned (for the app to
 * report), never silently dropped into the settings.
 */
export function applySettings(target: Settings, source: Record<string, unknown>): string[] {
  const unknown: string[] = [];
  for (const [key, value] of Object.entries(source)) {
    if (value === undefined) continue;
    const name = settingName(key);
    if (!name) {
      unknown.push(key);
      continue;
    }
    // Celery's broker_url may be a list of failover URLs; the brokers read them ";"-joined.
    const url = (name === "brokerUrl" || name === "resultBackend") && Array.isArray(value) ? joinUrlList(value as string[]) : value;
    (target as unknown as Record<string, unknown>)[name] = url;
  }
  return unknown;
}

/** Parses an env var's text into the type of the setting's default. */
function parseEnvValue(name: keyof Settings, text: string): unknown {
  const current = defaultSettings()[name];
  if (typeof current === "number" || name === "resultExpires" || name.endsWith("Limit") || name.startsWith("workerMax")) {
    if (text === "" || text.toLowerCase() === "none" || text.toLowerCase() === "null") return null;
    const n = Number(text);
    if (Number.isNaN(n)) throw new ConfigurationError(`CELERIAC setting ${name} wants a number, got ${JSON.stringify(text)}`);
    return n;
  }
  if (typeof current === "boolean") return /^(1|true|yes|on)$/i.test(text);
  if (Array.isArray(current))
    return text.trim().startsWith("[")
      ? JSON.parse(text)
      : text
          .split(",")
          .map((s) => s.trim())
          .filter(Boolean);
  if (current !== null && typeof current === "object") return JSON.parse(text);
  return text;
}

/** CELERIAC_* variables of the process (the CLI, the logger, pool children, the test runner), not app settings. */
const PROCESS_VARIABLES = ["LOG_FORMAT", "LOG_LEVEL", "LOG_FILE", "DETACHED", "CHILD", "CHILD_RSS", "APP", "APP_MODULE", "DASHBOARD_TOKEN"];

/** Settings from CELERIAC_* environment variables (CELERIAC_BROKER_URL, CELERIAC_TASK_SERIALIZER…). */
export function settingsFromEnv(env: NodeJS.ProcessEnv = process.env): { values: Partial<Settings>; unknown: string[] } {
  const values: Record<string, unknown> = {};
  const unknown: string[] = [];
  for (const [key, text] of Object.entries(env)) {
    if (!key.startsWith("CELERIAC_") || text === undefined) continue;
    const rest = key.slice("CELERIAC_".length);
    if (PROCESS_VARIABLES.includes(rest) || rest.startsWith("TEST_")) continue;
    const name = settingName(rest) ?? (rest === "BROKER" ? "brokerUrl" : rest === "BACKEND" ? "resultBackend" : null);
    if (!name) {
      unknown.push(key);
      continue;
    }
    values[name] = parseEnvValue(name, text);
  }
  return { values: values as Partial<Settings>, unknown };
}
