// The logger: pino, printed as readable lines unless CELERIAC_LOG_FORMAT=json.
// Every message passes through maskUrl, so no password reaches a log.
import { Writable } from "node:stream";
import { pino, type Logger } from "pino";
import { maskUrl } from "./url.js";

export type { Logger };

const levelNames: Record<number, string> = { 10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARNING", 50: "ERROR", 60: "CRITICAL" };

function prettyStream(out: NodeJS.WritableStream): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (!line) continue;
        try {
          const { level, time, msg, pid, name, hostname: _h, err, ...rest } = JSON.parse(line) as Record<string, unknown>;
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

export function createLogger(name: string, level = process.env.CELERIAC_LOG_LEVEL ?? "info"): Logger {
  const normalized = level.toLowerCase() === "warning" ? "warn" : level.toLowerCase() === "critical" ? "fatal" : level.toLowerCase();
  const json = process.env.CELERIAC_LOG_FORMAT === "json";
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
    json ? pino.destination(2) : prettyStream(process.stderr),
  );
}
