// Starting and stopping real worker processes in tests. Every process a test
// starts leads a process group of its own (detached), and the whole group is
// killed when the test file ends, even on failure: pool children and anything
// else it started cannot outlive the test.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { after } from "node:test";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const CLI = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));

const started = new Set<ChildProcess>();
after(() => {
  for (const p of started) killGroup(p, "SIGKILL");
});

/** Sends a signal to the process group a test process leads (itself and everything it started). */
export function killGroup(proc: ChildProcess, signal: NodeJS.Signals): void {
  if (proc.pid === undefined) return;
  try {
    process.kill(-proc.pid, signal);
  } catch {
    // The group is gone already.
  }
}

export interface RunningProcess {
  proc: ChildProcess;
  pid: number;
  /** Everything the process printed so far (stdout + stderr). */
  output(): string;
  /** Resolves when the output matches. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** SIGTERM (or the given signal) and wait for the exit; returns the exit code. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
  /** Sends a signal to the whole process group (as a terminal's Ctrl-C, GNU timeout or systemd do). */
  signalGroup(signal: NodeJS.Signals): void;
  exited: Promise<number | null>;
}

/** Where `npm test` compiled the project (scripts/build-tests.mjs); unset when a test file is run alone. */
const COMPILED = process.env.CELERIAC_TEST_COMPILED;

/**
 * `args` with each TypeScript file of the project replaced by its compiled
 * copy, or null when one cannot be (no compiled tree, a file outside it, or
 * TypeScript named inside an argument such as an `-e` script).
 */
function compiledArgs(args: string[]): string[] | null {
  if (!COMPILED) return null;
  const out: string[] = [];
  for (const arg of args) {
    if (!/\.ts\b/.test(arg)) {
      out.push(arg);
      continue;
    }
    const rel = relative(ROOT, resolve(ROOT, arg));
    const js = join(COMPILED, rel.replace(/\.ts$/, ".js"));
    if (!arg.endsWith(".ts") || rel.startsWith("..") || !existsSync(js)) return null;
    out.push(js);
  }
  return out;
}

/**
 * Runs a Node script of the project (`node --import tsx <args>`) with extra env;
 * output is collected. Under `npm test` the compiled copy runs, with plain node.
 */
export function startNode(args: string[], env: Record<string, string | undefined> = {}): RunningProcess {
  const js = compiledArgs(args);
  return startProcess(process.execPath, js ?? ["--import", import.meta.resolve("tsx"), ...args], { env });
}

/** Runs any command (a Python peer, a server…) with output collected; stopped by PID when the test file ends. */
export function startProcess(command: string, args: string[], opts: { cwd?: string; env?: Record<string, string | undefined> } = {}): RunningProcess {
  const proc = spawn(command, args, {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  started.add(proc);
  let text = "";
  const listeners = new Set<() => void>();
  const onData = (b: Buffer) => {
    text += b.toString();
    for (const l of listeners) l();
  };
  proc.stdout!.on("data", onData);
  proc.stderr!.on("data", onData);
  const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)));
  return {
    proc,
    pid: proc.pid!,
    output: () => text,
    exited,
    signalGroup: (signal) => killGroup(proc, signal),
    waitFor(pattern, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (pattern.test(text)) {
            listeners.delete(check);
            clearTimeout(timer);
            resolve();
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`timed out waiting for ${pattern} in output:\n${text.slice(-3000)}`));
        }, timeoutMs);
        listeners.add(check);
        void exited.then(() => {
          if (!pattern.test(text) && listeners.has(check)) {
            listeners.delete(check);
            clearTimeout(timer);
            reject(new Error(`process exited before ${pattern} appeared; output:\n${text.slice(-3000)}`));
          }
        });
        check();
      });
    },
    async stop(signal = "SIGTERM", timeoutMs = 20_000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill(signal);
      const timer = setTimeout(() => killGroup(proc, "SIGKILL"), timeoutMs);
      const [code] = (await once(proc, "exit")) as [number | null];
      clearTimeout(timer);
      return code;
    },
  };
}

/** Starts `celeriac -A <app> worker <args>` and waits until it is ready. */
export async function startWorker(appModule: string, args: string[], env: Record<string, string | undefined>): Promise<RunningProcess> {
  const p = startNode([CLI, "-A", appModule, "worker", ...args], env);
  await p.waitFor(/ ready: /, 30_000);
  return p;
}
