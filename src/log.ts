// The logger: pino, printed as readable lines unless CELERIAC_LOG_FORMAT=json.
// Every message passes through maskUrl, so no password reaches a log.
import { Writable } from "node:stream";
import { pino, type Logger } from "pino";
import { ConfigurationError } from "./errors.js";
import { maskUrl } from "./url.js";

export type { Logger };

const levelNames: Record<number, string> = { 10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARNING", 50: "ERROR", 60: "CRITICAL" };

function prettyStream(out: { write(text: string): unknown }): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (!line) continue;
        try {
          // The task fields (taskId, task, state, runtime, worker, queue) are for JSON logs: the line says them already.
          const {
            level,
            time,
            msg,
            pid,
            name,
            hostname: _h,
            err,
            taskId: _i,
            task: _t,
            state: _s,
            runtime: _r,
            worker: _w,
            queue: _q,
            ...rest
          } = JSON.parse(line) as Record<string, unknown>;
          const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : "";
          const stack = err && typeof err === "object" && "stack" in err ? `\n${String((err as { stack: unknown }).stack)}` : "";
          out.write(
            `[${new Date(time as number).toISOString()}: ${levelNames[level as number] ?? level}/${name ?? "celeriac"}:${pid}] ${msg}${extra}${stack}\n`,
          );
        } catch {
          out.write(`${line}\n`);
        }
      }
      done();
    },
  });
}

/** Log level names a user may give (-l, CELERIAC_LOG_LEVEL), Celery's and pino's, to pino's. */
const LEVELS: Record<string, string> = {
  trace: "trace",
  debug: "debug",
  info: "info",
  warning: "warn",
  warn: "warn",
  error: "error",
  critical: "fatal",
  fatal: "fatal",
  silent: "silent",
};

/** Pino's name for a level given as Celery names it (DEBUG, INFO, WARNING, ERROR, CRITICAL, FATAL), any case; ConfigurationError when unknown. */
export function normalizeLogLevel(level: string): string {
  const known = LEVELS[level.toLowerCase()];
  if (!known) {
    throw new ConfigurationError(`unknown log level ${JSON.stringify(level)} (known: DEBUG, INFO, WARNING, ERROR, CRITICAL, FATAL, TRACE, SILENT)`);
  }
  return known;
}

/** Where log lines go: CELERIAC_LOG_FILE (appended; the CLI's --logfile), else stderr. */
function logDestination(): { write(text: string): unknown } {
  const file = process.env.CELERIAC_LOG_FILE;
  return file ? pino.destination({ dest: file, append: true, mkdir: true, sync: true }) : process.stderr;
}

export function createLogger(name: string, level = process.env.CELERIAC_LOG_LEVEL ?? "info"): Logger {
  const normalized = normalizeLogLevel(level);
  const json = process.env.CELERIAC_LOG_FORMAT === "json";
  const out = logDestination();
  return pino(
    {
      name,
      level: normalized,
      base: { pid: process.pid },
      hooks: {
        logMethod(args, method) {
          const masked = args.map((a) => (typeof a === "string" ? maskUrl(a) : a)) as Parameters<typeof method>;
          method.apply(this, masked);
        },
      },
    },
    json ? (out === process.stderr ? pino.destination(2) : (out as ReturnType<typeof pino.destination>)) : prettyStream(out),
  );
}

/** Longest a value from a message (an id, a task name) is printed; the rest is cut with "…". */
const LOGGED_VALUE_MAX = 200;

/**
 * A value from a message (a task id or name) as it may appear inside a log
 * line: control characters (\n, \r, ESC…) escaped as JSON.stringify escapes
 * them (and C1 controls and line separators too), so a hostile id cannot forge
 * log lines or terminal sequences, and a huge one is cut. Plain printable text
 * comes back unchanged.
 */
export function logSafe(value: unknown, max = LOGGED_VALUE_MAX): string {
  const s = typeof value === "string" ? value : value === undefined ? "undefined" : (JSON.stringify(value) ?? String(value));
  const cut = s.length > max ? `${s.slice(0, max)}…` : s;
  return CONTROL.test(cut) ? cut.replace(CONTROLS, escapeControl) : cut;
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
// eslint-disable-next-line no-control-regex
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
const SHORT: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };
const escapeControl = (c: string): string => SHORT[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
