// The entry point of a pool child (a process or a worker thread). It imports
// the app module, so it has the same task registry as the worker, then runs
// one task at a time for the parent and answers with the Outcome.
import { parentPort, workerData } from "node:worker_threads";
import { loadApp } from "./load-app.js";
import { executeTask } from "./executor.js";
import type { TaskRequest } from "../task.js";

export type ToChild = { type: "run"; request: TaskRequest } | { type: "abort"; id: string } | { type: "exit" };
export type FromChild =
  | { type: "ready" }
  | { type: "done"; id: string; outcome: Awaited<ReturnType<typeof executeTask>>; rss: number }
  | { type: "fatal"; error: string };

const send: (m: FromChild) => void = parentPort
  ? (m) => parentPort!.postMessage(m)
  : (m) => process.send!(m);
const onMessage = (handler: (m: ToChild) => void) =>
  parentPort ? parentPort.on("message", handler) : process.on("message", (m) => handler(m as ToChild));

const appModule: string = parentPort ? (workerData as { appModule: string }).appModule : process.env.CELERIAC_APP!;

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
    void Promise.resolve(executeTask(app, m.request, { signal: abort.signal })).then((outcome) => {
      current = null;
      send({ type: "done", id: m.request.id, outcome, rss: process.memoryUsage.rss() });
    });
  });
  // The parent's IPC channel must not keep a finished child alive on its own.
  if (!parentPort) process.channel?.ref();
  send({ type: "ready" });
} catch (err) {
  send({ type: "fatal", error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  if (!parentPort) process.exit(1);
}
