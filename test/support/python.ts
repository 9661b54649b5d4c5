// Python Celery 5.2.6 (Debian's python3-celery) for interop tests: the
// system /usr/bin/python3, not the python3 on PATH. Processes started here
// are stopped by PID when the test file ends.
import { execFile, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { startProcess, type RunningProcess } from "./processes.js";

export const PYTHON = "/usr/bin/python3";
export const PY_DIR = fileURLToPath(new URL("../interop/py", import.meta.url));
const run = promisify(execFile);

/** True when Python Celery, redis-py and msgpack import; with CI=true their absence is an error. */
export async function pythonCeleryAvailable(): Promise<boolean> {
  try {
    await run(PYTHON, ["-c", "import celery, redis, msgpack; assert celery.__version__.startswith('5.')"]);
    return true;
  } catch (err) {
    if (process.env.CI === "true")
      throw new Error(`Python Celery is required under CI (apt-get install python3-celery python3-redis python3-msgpack): ${(err as Error).message}`, {
        cause: err,
      });
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

export type PythonProcess = RunningProcess;
/** A Python Celery worker process. */
export type PythonWorker = PythonProcess;

/** Runs Python (PYTHONUNBUFFERED, so output arrives as it is printed); stopped by PID when the test file ends. */
export function startPython(args: string[], opts: { cwd: string; env?: Record<string, string> }): PythonProcess {
  return startProcess(PYTHON, args, { cwd: opts.cwd, env: { PYTHONUNBUFFERED: "1", ...opts.env } });
}

/** `python3 -m celery -A <appModule> worker --pool solo -l info` (app from test/interop/py), ready when it says so. */
export async function startPythonWorker(env: Record<string, string>, extra: string[] = [], appModule = "pyapp"): Promise<PythonProcess> {
  const worker = startPython(["-m", "celery", "-A", appModule, "worker", "--pool", "solo", "-l", "info", "--without-mingle", "--without-gossip", ...extra], {
    cwd: PY_DIR,
    env: { ...env, PYTHONPATH: PY_DIR },
  });
  await worker.waitFor(/ ready\./, 30_000);
  return worker;
}

/** The reason to skip, or null when Python Celery 5 imports; under CI=true a missing peer throws. */
export function requirePythonCelery(): string | null {
  const r = spawnSync(PYTHON, ["-c", "import celery, sys; sys.stdout.write(celery.__version__)"], { encoding: "utf8" });
  if (r.status === 0 && /^5\./.test(r.stdout)) return null;
  const why = `Python Celery 5 is not importable with ${PYTHON}: ${(r.stderr || r.error?.message || r.stdout || "").trim().split("\n").pop()}`;
  if (process.env.CI === "true") throw new Error(`${why} (CI=true: interop tests must run)`);
  return why;
}
