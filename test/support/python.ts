// Python Celery 5.2.6 (Debian's python3-celery) for interop tests: the
// system /usr/bin/python3, not the python3 on PATH. Processes started here
// are stopped by PID when the test file ends.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { after } from "node:test";
import { promisify } from "node:util";

export const PYTHON = "/usr/bin/python3";
export const PY_DIR = fileURLToPath(new URL("../interop/py", import.meta.url));
const run = promisify(execFile);

const started = new Set<ChildProcess>();
after(() => {
  for (const p of started) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
});

/** True when Python Celery, redis-py and msgpack import; with CI=true their absence is an error. */
export async function pythonCeleryAvailable(): Promise<boolean> {
  try {
    await run(PYTHON, ["-c", "import celery, redis, msgpack; assert celery.__version__.startswith('5.')"]);
    return true;
  } catch (err) {
    if (process.env.CI === "true") throw new Error(`Python Celery is required under CI (apt-get install python3-celery python3-redis python3-msgpack): ${(err as Error).message}`);
    return false;
  }
}

/** Runs a helper module from test/interop/py and parses the JSON it prints. */
export async function runPython<T>(script: string, args: string[], env: Record<string, string>): Promise<T> {
  const { stdout } = await run(PYTHON, [`${PY_DIR}/${script}`, ...args], {
    env: { ...process.env, ...env, PYTHONPATH: PY_DIR },
    timeout: 120_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  return JSON.parse(stdout.trim().split("\n").pop()!) as T;
}

export interface PythonWorker {
  pid: number;
  output(): string;
  stop(): Promise<void>;
}

/** `python3 -m celery -A <appModule> worker --pool solo -l info` (app from test/interop/py), ready when it says so. */
export async function startPythonWorker(env: Record<string, string>, extra: string[] = [], appModule = "pyapp"): Promise<PythonWorker> {
  const proc = spawn(PYTHON, ["-m", "celery", "-A", appModule, "worker", "--pool", "solo", "-l", "info", "--without-mingle", "--without-gossip", ...extra], {
    env: { ...process.env, ...env, PYTHONPATH: PY_DIR },
    stdio: ["ignore", "pipe", "pipe"],
  });
  started.add(proc);
  let text = "";
  proc.stdout!.on("data", (b: Buffer) => (text += b.toString()));
  proc.stderr!.on("data", (b: Buffer) => (text += b.toString()));
  const deadline = Date.now() + 30_000;
  while (!/ ready\./.test(text)) {
    if (proc.exitCode !== null) throw new Error(`Python worker exited: ${text.slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`Python worker not ready in 30 s: ${text.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    pid: proc.pid!,
    output: () => text,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), 15_000);
      await once(proc, "exit");
      clearTimeout(timer);
    },
  };
}
