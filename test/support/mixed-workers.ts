// A Celeriac worker (process pool, the canvas and replace fixture tasks) and a
// Python Celery worker (test/interop/py/canvasapp.py) on queues of their own,
// and a Python producer script that starts workflows across both: the set-up
// the cross-language workflow tests share.
import { randomUUID } from "node:crypto";
import { deleteAmqpEntities } from "./amqp.js";
import { startWorker, type RunningProcess } from "./processes.js";
import { runPython, startPythonWorker, type PythonWorker } from "./python.js";

/** What a Python producer script reports of one workflow. */
export interface PyOutcome {
  state: string;
  result?: unknown;
  type?: string;
  message?: string;
}

export interface MixedWorkers {
  tsQueue: string;
  pyQueue: string;
  /** The Celeriac worker process (its output holds the reasons it logged). */
  tsWorker: RunningProcess;
  /** The ends of both workers' logs, for a failed assertion's message. */
  logs(): string;
  /** Runs a script of test/interop/py that sends to the Celeriac worker by default (CANVAS_QUEUE) and to PY_QUEUE for Python. */
  produce<T>(script: string): Promise<T>;
  stop(): Promise<void>;
}

/** What differs between set-ups: the broker (the results' Redis unless given, e.g. RabbitMQ), the Celeriac app module and extra environment for each side (the producer script gets `pyEnv` too). */
export interface MixedWorkersOptions {
  broker?: string;
  tsApp?: string;
  tsEnv?: Record<string, string>;
  pyEnv?: Record<string, string>;
}

/** Results go to `redis`; tasks through `opts.broker` (the same Redis unless given). */
export async function startMixedWorkers(name: string, redis: string, opts: MixedWorkersOptions = {}): Promise<MixedWorkers> {
  const broker = opts.broker ?? redis;
  const run = randomUUID().slice(0, 8);
  const tsQueue = `${name}-ts-${run}`;
  const pyQueue = `${name}-py-${run}`;
  const pyEnv = { CANVAS_REDIS_URL: redis, CANVAS_BROKER_URL: broker, ...opts.pyEnv };
  const [tsWorker, pyWorker]: [RunningProcess, PythonWorker] = await Promise.all([
    startWorker(opts.tsApp ?? "test/fixtures/replace-worker-app.ts", ["-P", "process", "-c", "2", "-Q", tsQueue], {
      CELERIAC_BROKER_URL: broker,
      CELERIAC_RESULT_BACKEND: redis,
      CELERIAC_TASK_DEFAULT_QUEUE: tsQueue,
      ...opts.tsEnv,
    }),
    startPythonWorker({ ...pyEnv, CANVAS_QUEUE: pyQueue }, ["-Q", pyQueue], "canvasapp"),
  ]);
  return {
    tsQueue,
    pyQueue,
    tsWorker,
    logs: () => `Celeriac worker:\n${tsWorker.output().slice(-3000)}\n--- Python worker:\n${pyWorker.output().slice(-3000)}`,
    produce: (script) => runPython(script, [], { ...pyEnv, CANVAS_QUEUE: tsQueue, PY_QUEUE: pyQueue }),
    stop: async () => {
      await Promise.all([tsWorker.stop(), pyWorker.stop()]);
      // RabbitMQ keeps the (durable) queues and their exchanges after the workers go: delete them.
      if (broker.startsWith("amqp")) await deleteAmqpEntities({ queues: [tsQueue, pyQueue], exchanges: [tsQueue, pyQueue] });
    },
  };
}
