// The worker's -P values: ours, and Celery's names mapped to the pool that
// does the same job here (Celery's celery/concurrency/__init__.py ALIASES).
import { ConfigurationError } from "../errors.js";
import type { WorkerOptions } from "../worker/worker.js";

export type PoolKind = NonNullable<WorkerOptions["pool"]>;

export interface PoolChoice {
  kind: PoolKind;
  /** The name given, when it is Celery's, for the banner ("process (Celery's prefork)"). */
  celeryName: string | null;
  /** Celery's solo runs one task at a time. */
  concurrency?: number;
}

const POOLS: Record<string, PoolChoice> = {
  process: { kind: "process", celeryName: null },
  thread: { kind: "thread", celeryName: null },
  async: { kind: "async", celeryName: null },
  // prefork: forked child processes; here child processes too.
  prefork: { kind: "process", celeryName: "prefork" },
  // threads: a thread pool; here worker_threads.
  threads: { kind: "thread", celeryName: "threads" },
  // gevent/eventlet: many I/O-bound tasks on green threads; here promises on the event loop.
  gevent: { kind: "async", celeryName: "gevent" },
  eventlet: { kind: "async", celeryName: "eventlet" },
  // solo: tasks in the worker itself, one at a time.
  solo: { kind: "async", celeryName: "solo", concurrency: 1 },
};

export const POOL_NAMES = Object.keys(POOLS);

export function poolChoice(name: string): PoolChoice {
  const choice = POOLS[name.toLowerCase()];
  if (!choice) throw new ConfigurationError(`unknown pool ${JSON.stringify(name)} (known: ${POOL_NAMES.join(", ")})`);
  return choice;
}

/** How the banner names a pool: "process", or "async (Celery's gevent)". */
export function poolLabel(choice: PoolChoice): string {
  return choice.celeryName ? `${choice.kind} (Celery's ${choice.celeryName})` : choice.kind;
}
