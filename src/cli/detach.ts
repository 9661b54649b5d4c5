// `--detach`: the worker runs on in the background, as Celery's detached
// worker (celery/platforms.py detached): a new session, output to the log
// file, the pid in the pid file. The command returns once the worker is up,
// or fails with where to look when it could not start.
import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { ConfigurationError } from "../errors.js";

/** Set in the detached child, so it tells its starter when it is up. */
export const DETACHED_ENV = "CELERIAC_DETACHED";

/** Starts this same command again without --detach, in its own session; resolves with its pid once it is ready. */
export function detach(argv: string[], logfile: string): Promise<number> {
  const args = argv.filter((a) => a !== "--detach" && a !== "-D");
  const out = openSync(logfile, "a");
  const child = spawn(process.execPath, [...process.execArgv, ...args], {
    detached: true,
    stdio: ["ignore", out, out, "ipc"],
    env: { ...process.env, [DETACHED_ENV]: "1", CELERIAC_LOG_FILE: logfile },
  });
  closeSync(out);
  return new Promise((resolve, reject) => {
    child.once("message", () => {
      child.disconnect();
      child.unref();
      resolve(child.pid!);
    });
    child.once("exit", (code, signal) => {
      reject(new ConfigurationError(`the detached worker exited before it was ready (${signal ?? `code ${code}`}); see ${logfile}`));
    });
  });
}

/** In a detached child: tells the starter it is up and lets go of it. */
export function reportDetachedReady(): void {
  if (!process.env[DETACHED_ENV] || !process.send) return;
  process.send({ ready: process.pid }, () => process.disconnect());
}
