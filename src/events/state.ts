// The cluster as seen through events, Celery's events.state.State: events are
// folded into workers (alive while heartbeats keep coming) and tasks (their
// latest state, with out-of-order events merged by Celery's precedence rules).
// `celeriac events` and the dashboard read it.
import { READY_STATES, States } from "../states.js";
import type { CeleryEvent } from "./event.js";

/** A worker is taken for gone after freq * 2 seconds without a heartbeat (Celery's expire window of 200%). */
const HEARTBEAT_EXPIRE_WINDOW = 2;
const HEARTBEATS_KEPT = 4;

export interface WorkerState {
  hostname: string;
  pid: number | null;
  freq: number;
  /** local_received times of the last heartbeats, oldest first. */
  heartbeats: number[];
  clock: number;
  active: number | null;
  processed: number | null;
  loadavg: number[] | null;
  sw_ident: string | null;
  sw_ver: string | null;
  sw_sys: string | null;
  /** Set by the last worker-offline event. */
  offline: boolean;
  [field: string]: unknown;
}

export interface TaskState {
  uuid: string;
  name: string | null;
  state: string;
  sent: number | null;
  received: number | null;
  started: number | null;
  succeeded: number | null;
  failed: number | null;
  retried: number | null;
  revoked: number | null;
  rejected: number | null;
  args: string | null;
  kwargs: string | null;
  eta: string | null;
  expires: string | null;
  retries: number | null;
  /** Hostname of the worker that last reported on it. */
  worker: string | null;
  result: string | null;
  exception: string | null;
  traceback: string | null;
  runtime: number | null;
  timestamp: number | null;
  root_id: string | null;
  parent_id: string | null;
  queue: string | null;
  exchange: string | null;
  routing_key: string | null;
  clock: number;
  children: string[];
  [field: string]: unknown;
}

const TASK_EVENT_TO_STATE: Record<string, string> = {
  sent: States.PENDING,
  received: States.RECEIVED,
  started: States.STARTED,
  failed: States.FAILURE,
  retried: States.RETRY,
  succeeded: States.SUCCESS,
  revoked: States.REVOKED,
  rejected: States.REJECTED,
};

// Lower index: later in a task's life. An event whose state comes earlier
// than the current one (a late `task-received` after `task-succeeded`) only
// fills in fields; it does not move the state back.
const PRECEDENCE = ["SUCCESS", "FAILURE", null, "REVOKED", "STARTED", "RECEIVED", "REJECTED", "RETRY", "PENDING"];
function precedence(state: string): number {
  const i = PRECEDENCE.indexOf(state);
  return i < 0 ? PRECEDENCE.indexOf(null) : i;
}
const MERGE_RULES: Record<string, string[]> = {
  [States.RECEIVED]: ["name", "args", "kwargs", "parent_id", "root_id", "retries", "eta", "expires"],
};

// Fields of an event that describe the sender, not the task.
const SENDER_FIELDS = new Set(["hostname", "pid", "utcoffset", "type", "local_received", "uuid"]);

export function workerAlive(w: WorkerState, now = Date.now() / 1000): boolean {
  if (w.offline || !w.heartbeats.length) return false;
  return now < w.heartbeats[w.heartbeats.length - 1]! + w.freq * HEARTBEAT_EXPIRE_WINDOW;
}

export interface TaskFilter {
  name?: string;
  state?: string;
  worker?: string;
  /** Substring searched in uuid, name, args, kwargs, result, exception. */
  search?: string;
  /** Epoch seconds bounds on the task's last timestamp. */
  since?: number;
  until?: number;
  limit?: number;
}

export type StateChange = { kind: "task"; task: TaskState; event: CeleryEvent } | { kind: "worker"; worker: WorkerState; event: CeleryEvent };

export class State {
  readonly workers = new Map<string, WorkerState>();
  /** Tasks by id, oldest first (a Map keeps insertion order); bounded by maxTasks. */
  readonly tasks = new Map<string, TaskState>();
  eventCount = 0;
  taskCount = 0;
  /** Children seen before their parent, by parent id: linked when the parent shows up. */
  private readonly orphans = new Map<string, string[]>();

  constructor(private readonly opts: { maxTasks?: number; onChange?: (change: StateChange) => void } = {}) {}

  /** Puts back tasks kept from before (oldest first), so later events fold onto them (the dashboard's history). */
  restore(tasks: readonly TaskState[]): void {
    const max = this.opts.maxTasks ?? 10_000;
    for (const t of tasks.slice(-max)) {
      this.tasks.delete(t.uuid);
      this.tasks.set(t.uuid, { ...t, children: Array.isArray(t.children) ? t.children : [] });
    }
    while (this.tasks.size > max) this.tasks.delete(this.tasks.keys().next().value!);
  }

  /** Folds one event in; returns what changed, or null for an event of another group. */
  event(e: CeleryEvent): StateChange | null {
    this.eventCount++;
    const [group, ...rest] = e.type.split("-");
    const kind = rest.join("-");
    let change: StateChange | null = null;
    if (group === "worker") change = { kind: "worker", worker: this.workerEvent(kind, e), event: e };
    else if (group === "task" && typeof e.uuid === "string") change = { kind: "task", task: this.taskEvent(kind, e), event: e };
    if (change) this.opts.onChange?.(change);
    return change;
  }

  private getWorker(hostname: string): WorkerState {
    let w = this.workers.get(hostname);
    if (!w) {
      w = {
        hostname,
        pid: null,
        freq: 60,
        heartbeats: [],
        clock: 0,
        active: null,
        processed: null,
        loadavg: null,
        sw_ident: null,
        sw_ver: null,
        sw_sys: null,
        offline: false,
      };
      this.workers.set(hostname, w);
    }
    return w;
  }

  private workerEvent(kind: string, e: CeleryEvent): WorkerState {
    const w = this.getWorker(e.hostname);
    for (const [k, v] of Object.entries(e)) if (k !== "type" && k !== "local_received" && k !== "timestamp") w[k] = v;
    if (kind === "offline") {
      w.offline = true;
      w.heartbeats = [];
    } else {
      w.offline = false;
      const at = typeof e.local_received === "number" ? e.local_received : e.timestamp;
      w.heartbeats.push(at);
      w.heartbeats.sort((a, b) => a - b);
      if (w.heartbeats.length > HEARTBEATS_KEPT) w.heartbeats.splice(0, w.heartbeats.length - HEARTBEATS_KEPT);
    }
    return w;
  }

  private getTask(uuid: string): TaskState {
    let t = this.tasks.get(uuid);
    if (!t) {
      t = {
        uuid,
        name: null,
        state: States.PENDING,
        sent: null,
        received: null,
        started: null,
        succeeded: null,
        failed: null,
        retried: null,
        revoked: null,
        rejected: null,
        args: null,
        kwargs: null,
        eta: null,
        expires: null,
        retries: null,
        worker: null,
        result: null,
        exception: null,
        traceback: null,
        runtime: null,
        timestamp: null,
        root_id: null,
        parent_id: null,
        queue: null,
        exchange: null,
        routing_key: null,
        clock: 0,
        children: [],
      };
      this.tasks.set(uuid, t);
      this.taskCount++;
      const max = this.opts.maxTasks ?? 10_000;
      if (this.tasks.size > max) this.tasks.delete(this.tasks.keys().next().value!);
    }
    return t;
  }

  private taskEvent(kind: string, e: CeleryEvent): TaskState {
    const t = this.getTask(e.uuid!);
    const known = TASK_EVENT_TO_STATE[kind];
    const state = known ?? kind.toUpperCase();
    if (known) t[kind] = e.timestamp;
    let fields: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(e)) if (!SENDER_FIELDS.has(k)) fields[k] = v;
    // task-sent comes from the producer, not a worker.
    if (kind !== "sent") fields.worker = e.hostname;
    if (state !== States.RETRY && t.state !== States.RETRY && precedence(state) > precedence(t.state)) {
      const keep = MERGE_RULES[state];
      fields = keep ? Object.fromEntries(Object.entries(fields).filter(([k]) => keep.includes(k))) : {};
    } else {
      fields.state = state;
    }
    // The timestamp field is only moved with the state.
    if (!("state" in fields)) delete fields.timestamp;
    Object.assign(t, fields);
    if (t.parent_id) {
      const parent = this.tasks.get(t.parent_id);
      if (parent) {
        if (!parent.children.includes(t.uuid)) parent.children.push(t.uuid);
      } else {
        const waiting = this.orphans.get(t.parent_id) ?? [];
        if (!waiting.includes(t.uuid)) waiting.push(t.uuid);
        this.orphans.set(t.parent_id, waiting);
        // Bounded: a parent that never shows up must not keep its children here forever.
        if (this.orphans.size > 1000) this.orphans.delete(this.orphans.keys().next().value!);
      }
    }
    const early = this.orphans.get(t.uuid);
    if (early) {
      this.orphans.delete(t.uuid);
      for (const c of early) if (!t.children.includes(c)) t.children.push(c);
    }
    return t;
  }

  /** Tasks matching a filter, newest first. */
  tasksList(filter: TaskFilter = {}): TaskState[] {
    const out: TaskState[] = [];
    const limit = filter.limit ?? 100;
    const needle = filter.search?.toLowerCase();
    const all = [...this.tasks.values()];
    for (let i = all.length - 1; i >= 0 && out.length < limit; i--) {
      const t = all[i]!;
      if (filter.name && t.name !== filter.name) continue;
      if (filter.state && t.state !== filter.state) continue;
      if (filter.worker && t.worker !== filter.worker) continue;
      const at = t.timestamp ?? t.received ?? t.sent ?? 0;
      if (filter.since !== undefined && at < filter.since) continue;
      if (filter.until !== undefined && at > filter.until) continue;
      if (needle) {
        const hay = [t.uuid, t.name, t.args, t.kwargs, t.result, t.exception].filter(Boolean).join(" ").toLowerCase();
        if (!hay.includes(needle)) continue;
      }
      out.push(t);
    }
    return out;
  }

  /** Names of every task type seen. */
  taskNames(): string[] {
    const names = new Set<string>();
    for (const t of this.tasks.values()) if (t.name) names.add(t.name);
    return [...names].sort();
  }

  /** Tasks that are not finished yet, by worker hostname. */
  activeByWorker(): Map<string, number> {
    const m = new Map<string, number>();
    for (const t of this.tasks.values()) if (t.worker && t.state === States.STARTED) m.set(t.worker, (m.get(t.worker) ?? 0) + 1);
    return m;
  }

  isReady(t: TaskState): boolean {
    return READY_STATES.has(t.state);
  }
}
