// A pid file, as Celery's platforms.Pidfile: created exclusively, refused
// while the process it names is alive, replaced when stale, removed at exit.
import { closeSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { mkdirSync } from "node:fs";
import { ConfigurationError } from "../errors.js";

/** The pid a pid file holds, or null when there is none (no file, or not a number). */
export function readPidfile(path: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(path, "utf8").trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, it is someone else's.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Writes this process's pid to `path`, and removes the file when the process exits. */
export function holdPidfile(path: string): void {
  mkdirSync(dirname(path), { recursive: true });
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(path, "wx");
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST" || attempt > 0) throw err;
      const pid = readPidfile(path);
      if (pid !== null && pid !== process.pid && isAlive(pid)) {
        throw new ConfigurationError(`pid file ${path} names a running process (pid ${pid}): is a worker already running?`);
      }
      rmSync(path, { force: true }); // stale: its process is gone
    }
  }
  process.on("exit", () => {
    if (readPidfile(path) === process.pid) rmSync(path, { force: true });
  });
}
