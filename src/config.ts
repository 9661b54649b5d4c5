// Settings by Celery's names in camelCase, their defaults, and the three ways
// to set them: the constructor object, configFromObject(), CELERIAC_* env vars.
// Snake_case and Celery's old upper-case names (CELERY_TASK_SERIALIZER,
// CELERYD_CONCURRENCY, BROKER_URL…) are read too, so a celeryconfig ports as is.
import { availableParallelism } from "node:os";
import { ConfigurationError } from "./errors.js";

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
  brokerUrl: string;
  resultBackend: string;
  brokerTransportOptions: { visibilityTimeout?: number; [key: string]: unknown };
  resultBackendTransportOptions: Record<string, unknown>;
  brokerConnectionRetry: boolean;
  /** Retry the first connection to the broker and result backend, instead of failing at once (Celery's broker_connection_retry_on_startup). */
  brokerConnectionRetryOnStartup: boolean;
  /** Attempts of that first connection before giving up (null or 0: forever). */
  brokerConnectionMaxRetries: number | null;
  taskSerializer: string;
  resultSerializer: string;
  acceptContent: string[];
  resultAcceptContent: string[] | null;
  taskCompression: string | null;
  resultCompression: string | null;
  resultExpires: number | null;
  resultExtended: boolean;
  timezone: string;
  enableUtc: boolean;
  taskDefaultQueue: string;
  taskDefaultExchange: string;
  taskDefaultExchangeType: "direct" | "topic" | "fanout";
  taskDefaultRoutingKey: string;
  taskDefaultPriority: number | null;
  taskQueueMaxPriority: number | null;
  taskQueues: QueueDeclaration[] | null;
  taskRoutes: TaskRoutes | null;
  taskCreateMissingQueues: boolean;
  taskAcksLate: boolean;
  /** With acksLate, a task whose pool child died goes back to the queue (null/true) or fails with WorkerLostError (false). */
  taskRejectOnWorkerLost: boolean | null;
  taskIgnoreResult: boolean;
  taskStoreErrorsEvenIfIgnored: boolean;
  taskTrackStarted: boolean;
  taskTimeLimit: number | null;
  taskSoftTimeLimit: number | null;
  taskDefaultRateLimit: string | null;
  taskDefaultRetryDelay: number;
  taskMaxRetries: number | null;
  taskAlwaysEager: boolean;
  taskSendSentEvent: boolean;
  /** Retry a publish that failed (Celery's task_publish_retry). */
  taskPublishRetry: boolean;
  /** Celery's task_publish_retry_policy: retries after the first attempt, and the waits between them in seconds. */
  taskPublishRetryPolicy: PublishRetryPolicy;
  /**
   * Seconds one publish attempt may go unanswered before it counts as failed
   * (Celeriac's own: a stalled broker then fails the send instead of hanging it).
   */
  taskPublishTimeout: number;
  workerConcurrency: number;
  workerPrefetchMultiplier: number;
  workerMaxTasksPerChild: number | null;
  workerMaxMemoryPerChild: number | null;
  workerSendTaskEvents: boolean;
  workerPool: "process" | "thread" | "async";
  workerHostname: string | null;
  workerStateDb: string | null;
  workerDisableRateLimits: boolean;
  /**
   * Bytes a task message body may have, before and after decompression
   * (Celeriac's own; Celery has none). Over it the message is refused with
   * MessageTooLarge. null: no limit.
   */
  workerMessageSizeLimit: number | null;
  beatSchedule: Record<string, unknown>;
  beatMaxLoopInterval: number;
  /** Where beat keeps its lease, last ticks and dynamic entries; null: the broker's URL (sqlite/redis), else the result backend's. */
  beatStoreUrl: string | null;
  /** Ticks missed while no beat ran: "none" skips them, "latest" sends the last one, "all" sends each. */
  beatCatchUp: "none" | "latest" | "all";
  /** Seconds a beat leader's lease lasts without renewal: how soon another beat takes over. */
  beatLeaseSeconds: number;
  include: string[];
}

export const DEFAULT_URL = "sqlite://./celeriac.db";

export function defaultSettings(): Settings {
  return {
    brokerUrl: DEFAULT_URL,
    resultBackend: DEFAULT_URL,
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
    resultExtended: false,
    timezone: "UTC",
    enableUtc: true,
    taskDefaultQueue: "celery",
    taskDefaultExchange: "celery",
    taskDefaultExchangeType: "direct",
    taskDefaultRoutingKey: "celery",
    taskDefaultPriority: null,
    taskQueueMaxPriority: null,
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
    (target as unknown as Record<string, unknown>)[name] = value;
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
  if (Array.isArray(current)) return text.trim().startsWith("[") ? JSON.parse(text) : text.split(",").map((s) => s.trim()).filter(Boolean);
  if (current !== null && typeof current === "object") return JSON.parse(text);
  return text;
}

/** Settings from CELERIAC_* environment variables (CELERIAC_BROKER_URL, CELERIAC_TASK_SERIALIZER…). */
export function settingsFromEnv(env: NodeJS.ProcessEnv = process.env): { values: Partial<Settings>; unknown: string[] } {
  const values: Record<string, unknown> = {};
  const unknown: string[] = [];
  for (const [key, text] of Object.entries(env)) {
    if (!key.startsWith("CELERIAC_") || text === undefined) continue;
    const rest = key.slice("CELERIAC_".length);
    if (["LOG_FORMAT", "LOG_LEVEL", "CHILD", "APP"].includes(rest)) continue; // process-level, not app settings
    const name = settingName(rest) ?? (rest === "BROKER" ? "brokerUrl" : rest === "BACKEND" ? "resultBackend" : null);
    if (!name) {
      unknown.push(key);
      continue;
    }
    values[name] = parseEnvValue(name, text);
  }
  return { values: values as Partial<Settings>, unknown };
}
