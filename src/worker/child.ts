// The entry point of a pool child (a process or a worker thread). It imports
// the app module, so it has the same task registry as the worker, then runs
// one task at a time for the parent and answers with the Outcome. The parent
// may send the next tasks while one runs (a small window, see
// pools/isolated.ts): they wait here in order, and one sent with a claim runs
// only if this child takes its claim first (pools/claims.ts).
import { parentPort, workerData } from "node:worker_threads";
import { HandOffError, serializeError } from "../errors.js";
import { loadApp } from "./load-app.js";
import { executeTask } from "./executor.js";
import { postFlatIfDeep, received, type Wire } from "./handoff.js";
import type { TaskRequest } from "../task.js";
import { takeClaim } from "./pools/claims.js";
import { parseIsoTime } from "../protocol/message.js";
import { InvalidStateUpdate } from "../errors.js";
import type { TaskReport } from "./task-report.js";
import type { PoolOutcome } from "./pool.js";

/** One task for the child: `seq` names it in the answer; `claim` is set when it may be taken back before it starts. */
export interface ChildTask {
  seq: number;
  claim: string | null;
  request: TaskRequest;
}
export type ToChild =
  | { type: "run"; tasks: ChildTask[] }
  | { type: "exit" }
  /** The answer to a report: null when the worker recorded it, else why not. */
  | { type: "reported"; reportSeq: number; error: { name: string; message: string } | null };
export type FromChild =
  | { type: "ready" }
  | { type: "done"; seq: number; outcome: PoolOutcome; rss: number | null }
  /** A claimed task the parent took back: not run here (`claim`: the claim it found taken). */
  | { type: "skipped"; seq: number; claim: string }
  | { type: "fatal"; error: string }
  /** A running task's (`seq`) state update or log lines, for the worker to store (answered with "reported"). */
  | { type: "report"; seq: number; reportSeq: number; report: TaskReport };

const post: (m: Wire<FromChild>) => void = parentPort ? (m) => parentPort!.postMessage(m) : (m) => void process.send!(m);
const onMessage = (handler: (m: ToChild) => void) =>
  parentPort ? parentPort.on("message", (m: Wire<ToChild>) => handler(received(m))) : process.on("message", (m) => handler(received(m as Wire<ToChild>)));

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

/** Resident memory goes with each answer only when the parent replaces children by it (reading it costs a few syscalls). */
const reportRss = process.env.CELERIAC_CHILD_RSS === "1" || (workerData as { reportRss?: boolean } | null)?.reportRss === true;

/** Sends a task's outcome; one that cannot cross to the worker becomes a FAILURE saying why. */
function reply(task: ChildTask, outcome: Awaited<ReturnType<typeof executeTask>>): void {
  const rss = reportRss ? process.memoryUsage.rss() : null;
  const seq = task.seq;
  try {
    postFlatIfDeep(post, { type: "done", seq, outcome, rss });
  } catch (err) {
    const exc = new HandOffError(`the outcome of task ${task.request.id} cannot be sent to the worker: ${(err as Error).message}`);
    post({ type: "done", seq, outcome: { kind: "failure", exc: serializeError(exc), traceback: null, runtime: outcome.runtime }, rss });
  }
}

/** Reports sent to the worker and not yet answered, by their sequence number. */
const reporting = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
let lastReportSeq = 0;

/** Hands task `task`'s report to the worker, which stores it: the child has no result backend of its own to use. */
function report(task: ChildTask, r: TaskReport): Promise<void> {
  return new Promise((resolve, reject) => {
    const reportSeq = ++lastReportSeq;
    reporting.set(reportSeq, { resolve, reject });
    try {
      postFlatIfDeep(post, { type: "report", seq: task.seq, reportSeq, report: r });
    } catch (err) {
      reporting.delete(reportSeq);
      reject(new InvalidStateUpdate(`the state update of task ${r.taskId} cannot be sent to the worker: ${(err as Error).message}`));
    }
  });
}

const failed = (err: unknown, started: number) => ({
  kind: "failure" as const,
  exc: serializeError(err),
  traceback: null,
  runtime: (performance.now() - started) / 1000,
});

try {
  const app = await loadApp(appModule);
  const queue: ChildTask[] = [];
  let busy = false;
  /** Runs the queued tasks in order; a synchronous one answers at once and the next starts without a turn of the event loop. */
  const runNext = (): void => {
    busy = false;
    for (let task = queue.shift(); task; task = queue.shift()) {
      // "unknown" (the claim directory is gone) runs it: the parent cannot have taken it back then either.
      if (task.claim !== null && takeClaim(task.claim) === "held") {
        post({ type: "skipped", seq: task.seq, claim: task.claim });
        continue;
      }
      // Expired while it waited here behind another task: not run (the dispatcher checked before handing it over).
      const expiresAt = task.request.expires === null ? null : parseIsoTime(task.request.expires);
      if (expiresAt !== null && expiresAt <= Date.now()) {
        post({ type: "done", seq: task.seq, outcome: { kind: "revoked", why: "expired" }, rss: null });
        continue;
      }
      const started = performance.now();
      let outcome: ReturnType<typeof executeTask>;
      try {
        const t = task;
        outcome = executeTask(app, task.request, { report: (r) => report(t, r) });
      } catch (err) {
        outcome = failed(err, started);
      }
      if (!(outcome instanceof Promise)) {
        reply(task, outcome);
        continue;
      }
      busy = true;
      const t = task;
      outcome
        .then(
          (o) => reply(t, o),
          (err: unknown) => reply(t, failed(err, started)),
        )
        .then(runNext, runNext);
      return;
    }
  };
  onMessage((m) => {
    if (m.type === "exit") {
      if (parentPort) parentPort.close();
      else process.exit(0);
      return;
    }
    if (m.type === "reported") {
      const waiting = reporting.get(m.reportSeq);
      reporting.delete(m.reportSeq);
      if (m.error === null) waiting?.resolve();
      else waiting?.reject(Object.assign(new Error(m.error.message), { name: m.error.name }));
      return;
    }
    for (const t of m.tasks) queue.push(t);
    if (!busy) runNext();
  });
  // The parent's IPC channel must not keep a finished child alive on its own.
  if (!parentPort) process.channel?.ref();
  post({ type: "ready" });
} catch (err) {
  post({ type: "fatal", error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  if (!parentPort) process.exit(1);
}
