// A real pino logger whose lines a test can read back.
import { Writable } from "node:stream";
import { pino, type Logger } from "pino";

export interface CapturedLog {
  log: Logger;
  /** Every line logged so far: level name and message. */
  lines: { level: string; msg: string }[];
  /** The messages logged at `level`. */
  at(level: "info" | "warn" | "error"): string[];
}

const LEVELS: Record<number, string> = { 10: "trace", 20: "debug", 30: "info", 40: "warn", 50: "error", 60: "fatal" };

export function captureLog(level = "info"): CapturedLog {
  const lines: CapturedLog["lines"] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (!line) continue;
        const { level: n, msg } = JSON.parse(line) as { level: number; msg: string };
        lines.push({ level: LEVELS[n] ?? String(n), msg });
      }
      done();
    },
  });
  const log = pino({ level }, sink);
  return { log, lines, at: (l) => lines.filter((x) => x.level === l).map((x) => x.msg) };
}
