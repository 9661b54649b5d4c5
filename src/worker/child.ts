// The entry point of a pool child (a process or a worker thread). It imports
// the app module, so it has the same task registry as the worker, then runs
// one task at a time for the parent and answers with the Outcome.
import { parentPort, workerData } from "node:worker_threads";
import { HandOffError, serializeError } from "../errors.js";
import { loadApp } from "./load-app.js";
import { executeTask } from "./executor.js";
import { postFlatIfDeep, received, type Wire } from "./handoff.js";
import type { TaskRequest } from "../task.js";

export type ToChild = { type: "run"; request: TaskRequest } | { type: "abort"; id: string } | { type: "exit" };
export type FromChild =
  | { type: "ready" }
  | { type: "done"; id: string; outcome: Awaited<ReturnType<typeof executeTask>>; rss: number }
  | { type: "fatal"; error: string };

const post: (m: Wire<FromChild>) => void = parentPort
  ? (m) => parentPort!.postMessage(m)
  : (m) => void process.send!(m);
const onMessage = (handler: (m: ToChild) => void) =>
  parentPort
    ? parentPort.on("message", (m: Wire<ToChild>) => handler(received(m)))
    : process.on("message", (m) => handler(received(m as Wire<ToChild>)));

const appModule: string = parentPort ? (workerData as { appModule: string }).appModule : process.env.CELERIAC_APP!;

if (!parentPort) {
  // Shutdown is the worker's to decide, as for Celery's prefork children
  // (celery.concurrency.prefork.process_initializer ignores SIGINT): a terminal's
  // Ctrl-C, GNU timeout and systemd signal the whole process group, and the
  // running task must finish in a warm shutdown. The parent stops us with an
  // "exit" message, or SIGKILL in a cold shutdown.
  process.on("SIGINT", () => {});
  process.on("SIGTERM", () => {});
  // No orphans: a worker killed with kill -9 cannot stop us, and with acksLate
  // its task is delivered again while we would still be running it. The IPC
  // channel closing says the parent is gone; the ppid check is the fallback
  // (we are re-parented when it dies).
  const parentPid = process.ppid;
  const orphaned = (why: string) => {
    process.stderr.write(`pool child ${process.pid}: ${why}; exiting\n`);
    process.exit(1);
  };
  process.on("disconnect", () => orphaned("the worker closed the channel"));
  setInterval(() => {
    if (process.ppid !== parentPid) orphaned(`the worker (pid ${parentPid}) is gone`);
  }, 250).unref();
}

/** Sends a task's outcome; one that cannot cross to the worker becomes a FAILURE saying why. */
function reply(id: string, outcome: Awaited<ReturnType<typeof executeTask>>): void {
  const rss = process.memoryUsage.rss();
  try {
    postFlatIfDeep(post, { type: "done", id, outcome, rss });
  } catch (err) {
    const exc = new HandOffError(`the outcome of task ${id} cannot be sent to the worker: ${(err as Error).message}`);
    post({ type: "done", id, outcome: { kind: "failure", exc: serializeError(exc), traceback: null, runtime: outcome.runtime }, rss });
  }
}

try {
  const app = await loadApp(appModule);
  let abort: AbortController | null = null;
  let current: string | null = null;
  onMessage((m) => {
    if (m.type === "exit") {
      if (parentPort) parentPort.close();
      else process.exit(0);
      return;
    }
    if (m.type === "abort") {
      if (current === m.id) abort?.abort(new Error("terminated"));
      return;
    }
    abort = new AbortController();
    current = m.request.id;
    const started = performance.now();
    new Promise<Awaited<ReturnType<typeof executeTask>>>((resolve) => resolve(executeTask(app, m.request, { signal: abort!.signal })))
      .catch((err: unknown) => ({ kind: "failure" as const, exc: serializeError(err), traceback: null, runtime: (performance.now() - started) / 1000 }))
      .then((outcome) => {
        current = null;
        reply(m.request.id, outcome);
      });
  });
  // The parent's IPC channel must not keep a finished child alive on its own.
  if (!parentPort) process.channel?.ref();
  post({ type: "ready" });
} catch (err) {
  post({ type: "fatal", error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  if (!parentPort) process.exit(1);
}
