// Starting one pool child, a process (fork) or a worker thread, running
// ../child.ts, and the narrow handle the pool keeps of it.
import { fork, type ChildProcess } from "node:child_process";
import { Worker as Thread } from "node:worker_threads";
import { fileURLToPath } from "node:url";
import type { FromChild, ToChild } from "../child.js";
import { postFlatIfDeep, received, type Wire } from "../handoff.js";

export interface ChildHandle {
  readonly id: number;
  /** Throws when the message cannot be sent (see postFlatIfDeep). */
  send(m: ToChild): void;
  kill(): void;
}

export interface ChildEvents {
  message(m: FromChild): void;
  exit(code: number | null): void;
  error(err: Error): void;
}

const here = import.meta.url;
const childEntry = new URL(here.endsWith(".ts") ? "../child.ts" : "../child.js", here);

function needsTsx(appModule: string): boolean {
  return here.endsWith(".ts") || /\.[mc]?tsx?$/.test(appModule);
}

/** `reportRss`: the child sends its resident memory with each answer (for maxMemoryPerChild). */
export function startChild(kind: "process" | "thread", appModule: string, reportRss: boolean, on: ChildEvents): ChildHandle {
  return kind === "process" ? forkProcess(appModule, reportRss, on) : startThread(appModule, reportRss, on);
}

function forkProcess(appModule: string, reportRss: boolean, on: ChildEvents): ChildHandle {
  const execArgv = process.execArgv.filter((a) => !a.startsWith("--inspect"));
  if (needsTsx(appModule) && !execArgv.some((a) => a.includes("tsx"))) {
    execArgv.push("--import", import.meta.resolve("tsx"));
  }
  const cp: ChildProcess = fork(fileURLToPath(childEntry), [], {
    execArgv,
    env: { ...process.env, CELERIAC_APP: appModule, CELERIAC_CHILD: "1", CELERIAC_CHILD_RSS: reportRss ? "1" : "0" },
    serialization: "advanced",
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  cp.on("message", (m) => on.message(received(m as Wire<FromChild>)));
  cp.on("exit", (code) => on.exit(code));
  cp.on("error", () => {}); // reported through 'exit'
  return {
    id: cp.pid ?? -1,
    send: (m) => {
      if (cp.connected) postFlatIfDeep((w) => void cp.send(w), m);
    },
    kill: () => cp.kill("SIGKILL"),
  };
}

function startThread(appModule: string, reportRss: boolean, on: ChildEvents): ChildHandle {
  const workerData = { appModule, reportRss };
  // A thread does not inherit the TypeScript loader: register it first, then load the entry.
  const t = needsTsx(appModule)
    ? new Thread(
        `import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))}).then((m) => m.register())` + `.then(() => import(${JSON.stringify(childEntry.href)}))`,
        { eval: true, workerData },
      )
    : new Thread(childEntry, { workerData });
  t.on("message", (m: Wire<FromChild>) => on.message(received(m)));
  t.on("exit", (code) => on.exit(code));
  t.on("error", (err) => on.error(err));
  return { id: t.threadId, send: (m) => postFlatIfDeep((w) => t.postMessage(w), m), kill: () => void t.terminate() };
}
