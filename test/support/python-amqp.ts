// Python Celery peers for interop tests: Debian's /usr/bin/python3 (the
// `python3` on PATH may lack Celery). Processes are stopped by PID when the
// test file ends, even on failure.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { after } from "node:test";

export const PYTHON = process.env.CELERIAC_TEST_PYTHON ?? "/usr/bin/python3";

const started = new Set<ChildProcess>();
after(() => {
  for (const p of started) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
});

/** The reason to skip, or null when Python Celery 5 imports; under CI=true a missing peer throws. */
export function requirePythonCelery(): string | null {
  const r = spawnSync(PYTHON, ["-c", "import celery, sys; sys.stdout.write(celery.__version__)"], { encoding: "utf8" });
  if (r.status === 0 && /^5\./.test(r.stdout)) return null;
  const why = `Python Celery 5 is not importable with ${PYTHON}: ${(r.stderr || r.error?.message || r.stdout || "").trim().split("\n").pop()}`;
  if (process.env.CI === "true") throw new Error(`${why} (CI=true: interop tests must run)`);
  return why;
}

export interface PythonProcess {
  proc: ChildProcess;
  pid: number;
  output(): string;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
  exited: Promise<number | null>;
}

export function startPython(args: string[], opts: { cwd: string; env?: Record<string, string> }): PythonProcess {
  const proc = spawn(PYTHON, args, { cwd: opts.cwd, env: { ...process.env, PYTHONUNBUFFERED: "1", ...opts.env }, stdio: ["ignore", "pipe", "pipe"] });
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
    waitFor(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!pattern.test(text)) return;
          listeners.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`timed out waiting for ${pattern}; output:\n${text.slice(-3000)}`));
        }, timeoutMs);
        listeners.add(check);
        void exited.then(() => {
          if (listeners.has(check) && !pattern.test(text)) {
            listeners.delete(check);
            clearTimeout(timer);
            reject(new Error(`python exited before ${pattern}; output:\n${text.slice(-3000)}`));
          }
        });
        check();
      });
    },
    async stop(signal = "SIGTERM", timeoutMs = 15_000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill(signal);
      const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
      const [code] = (await once(proc, "exit")) as [number | null];
      clearTimeout(timer);
      return code;
    },
  };
}
