// The ResultBackend interface: where task states and results are kept.
import type { ResultTuple } from "../result.js";
import type { State } from "../states.js";
import type { WaitOptions } from "./waiters.js";
import type { TaskLogLine } from "../worker/task-log.js";
import type { FailoverStrategy } from "../failover.js";

export type { WaitOptions } from "./waiters.js";

/** Celery's result meta, exactly as Celery stores it (snake_case on purpose: it is the wire format). */
export interface ResultMeta {
  task_id: string;
  status: State | string;
  result: unknown;
  traceback: string | null;
  children: unknown[];
  date_done: string | null;
  group_id?: string | null;
  parent_id?: string | null;
  // With resultExtended:
  name?: string;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  worker?: string;
  retries?: number;
  queue?: string;
  [key: string]: unknown;
}

/** Where the caller of a task waits for its result (the task message's reply_to and correlation_id). */
export interface StoreRequest {
  replyTo?: string | null;
  correlationId?: string | null;
}

export interface ResultBackend {
  /** The URL with any password masked: safe to log. */
  readonly displayUrl: string;
  connect(): Promise<void>;
  /**
   * Stores the latest state of a task; expires after `resultExpires` seconds.
   * `request` says where the task's caller waits: backends that send results
   * as replies (rpc://) need it; stores keyed by task id ignore it.
   */
  store(meta: ResultMeta, request?: StoreRequest): Promise<void>;
  /** The stored meta, or null for an unknown (PENDING) task. */
  get(taskId: string): Promise<ResultMeta | null>;
  /**
   * Resolves with the meta once the task is in a ready state; rejects with
   * TimeoutError after `opts.timeoutMs`, or with the error of a failed `opts.sending`.
   */
  waitFor(taskId: string, opts?: WaitOptions): Promise<ResultMeta>;
  /**
   * Calls `onMeta` with every state stored for the task from now on (its
   * custom states too); resolves once listening, with what stops it.
   * Optional: backends that can be told of writes (Redis pub/sub) have it;
   * AsyncResult.updates() polls get() on the others.
   */
  watch?(taskId: string, onMeta: (meta: ResultMeta) => void): Promise<() => void>;
  /**
   * Appends a task's log lines (this.log), keeping its last `maxLines`; they
   * expire with its result, and forget() removes them. Optional: a backend
   * without it keeps no logs (rpc://).
   */
  appendLog?(taskId: string, lines: readonly TaskLogLine[], maxLines: number): Promise<void>;
  /** The task's kept log lines, oldest first ([] when none). */
  getLog?(taskId: string): Promise<TaskLogLine[]>;
  forget(taskId: string): Promise<void>;
  /** Saves a group's members as Celery's result tuples (a member may be a group itself: a chain ending in one). */
  saveGroup(groupId: string, members: readonly ResultTuple[]): Promise<void>;
  restoreGroup(groupId: string): Promise<ResultTuple[] | null>;
  deleteGroup(groupId: string): Promise<void>;
  /**
   * Records one finished header task of a chord (a part recorded again, by a
   * redelivered task, replaces its earlier record). Returns every header
   * result in group order to the part that completed the chord, else null.
   * The completing part holds the chord until chordDone: called again by the
   * same task id (its message redelivered because its worker died before it
   * sent the callback), it gets the results again, so the callback is sent at
   * least once; any other part gets null.
   * `size` is null when the message did not say (Celery 5.2 producers put no
   * `chord_size` in the callback): the backend then uses the size recorded
   * with setChordSize. Only backends with setChordSize are given null.
   */
  chordJoin(groupId: string, index: number, size: number | null, meta: ResultMeta): Promise<ResultMeta[] | null>;
  /** Forgets a completed chord's parts: its callback was sent (or failed for good). */
  chordDone(groupId: string): Promise<void>;
  /**
   * Called before a task is sent, for backends that must prepare to receive
   * its result (rpc:// declares its reply queue). Celery's on_task_call.
   */
  onTaskCall?(): Promise<void>;
  /**
   * Records a chord's size before its header tasks are sent, where other
   * workers read it (Celery's set_chord_size: the `.s` key on Redis). Optional.
   */
  setChordSize?(groupId: string, size: number): Promise<void>;
  /**
   * Grows a chord's expected size by one, for a task added to it while it runs
   * (Celery's add_to_chord; on Redis the `.t` key). Called before the added
   * task is sent, by a header task that has not yet recorded its own part, so
   * the chord cannot complete without it. Absent: the backend cannot grow chords.
   */
  addToChord?(groupId: string): Promise<void>;
  /** False for backends that cannot carry chords (rpc://); chords then fail with a clear error. */
  readonly supportsChords?: boolean;
  close(): Promise<void>;
}

export interface BackendOptions {
  /** Seconds before a stored result expires; Celery's result_expires (default 1 day). 0 or null: never. */
  resultExpires?: number | null;
  /** The app's broker URL: rpc:// sends results over the broker's connection. */
  brokerUrl?: string;
  /** How a failover URL list is walked (the app's brokerFailoverStrategy). */
  failoverStrategy?: FailoverStrategy;
  /** The app's reply queue (the reply_to of the tasks it sends): rpc:// receives results there. */
  replyTo?: string;
  /** How the ids of the tasks this app sends begin: a backend may listen for all of their results at once. */
  taskIdPrefix?: string;
}
