// `this.log` in a task: lines tagged with the task's id, printed on the
// worker's log and kept with the task's result (bounded), as BullMQ's
// job.log(): the dashboard shows them on the task's page. Lines are batched
// (one report per LOG_FLUSH_MS or LOG_BATCH lines) and the last batch is
// stored before the task's outcome.
import { format } from "node:util";
import { logSafe, type Logger } from "../log.js";
import type { TaskRequest } from "../task.js";
import type { TaskReport } from "./task-report.js";

export type TaskLogLevel = "debug" | "info" | "warning" | "error";

/** One line a task logged, as it is kept with the task. */
export interface TaskLogLine {
  /** ISO-8601 UTC. */
  time: string;
  level: TaskLogLevel;
  message: string;
  /** Which attempt logged it (the task's retries count then). */
  retries: number;
}

/** `this.log` in a task; arguments are formatted as console.log formats them. */
export interface TaskLogger {
  debug(message: unknown, ...args: unknown[]): void;
  info(message: unknown, ...args: unknown[]): void;
  warn(message: unknown, ...args: unknown[]): void;
  error(message: unknown, ...args: unknown[]): void;
}

/** Lines kept per task: the oldest go first past it. */
export const TASK_LOG_MAX_LINES = 1000;
/** Characters kept per line; the rest is cut with "…". */
export const TASK_LOG_LINE_MAX = 2000;
const LOG_FLUSH_MS = 100;
const LOG_BATCH = 100;

const PINO_LEVEL = { debug: "debug", info: "info", warning: "warn", error: "error" } as const;

export class TaskLog implements TaskLogger {
  #pending: TaskLogLine[] = [];
  #timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly request: TaskRequest,
    private readonly logger: Logger,
    /** Sends a report (tracked by the task call, so the outcome waits for it); null where nothing is kept. */
    private readonly send: ((report: TaskReport) => void) | null,
  ) {}

  debug(message: unknown, ...args: unknown[]): void {
    this.write("debug", message, args);
  }

  info(message: unknown, ...args: unknown[]): void {
    this.write("info", message, args);
  }

  warn(message: unknown, ...args: unknown[]): void {
    this.write("warning", message, args);
  }

  error(message: unknown, ...args: unknown[]): void {
    this.write("error", message, args);
  }

  private write(level: TaskLogLevel, message: unknown, args: unknown[]): void {
    const pinoLevel = PINO_LEVEL[level];
    const printed = this.logger.isLevelEnabled(pinoLevel);
    // Kept whatever the worker prints (its -l warning must not empty the task's page), but debug only when asked for.
    const kept = this.send !== null && (level !== "debug" || printed);
    if (!printed && !kept) return;
    let text = format(message, ...args);
    if (text.length > TASK_LOG_LINE_MAX) text = `${text.slice(0, TASK_LOG_LINE_MAX)}…`;
    const { id, task, retries } = this.request;
    if (printed) this.logger[pinoLevel](`${logSafe(task)}[${logSafe(id)}]: ${logSafe(text, TASK_LOG_LINE_MAX)}`);
    if (!kept) return;
    this.#pending.push({ time: new Date().toISOString(), level, message: text, retries });
    if (this.#pending.length >= LOG_BATCH) this.flush();
    else this.#timer ??= setTimeout(() => this.flush(), LOG_FLUSH_MS);
  }

  /** Sends the lines logged since the last flush. */
  flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (!this.#pending.length || !this.send) return;
    const lines = this.#pending;
    this.#pending = [];
    this.send({ type: "log", taskId: this.request.id, lines });
  }
}
