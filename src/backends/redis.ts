// redis:// and rediss:// results, with Celery's Redis result backend layout
// (../shared/PROTOCOL.md §4): `celery-task-meta-<id>` JSON with an expiry,
// published on a channel of the same name after each write, so a waiting
// get() — ours or Python's AsyncResult.get() — is told instead of polling.
import type { Redis } from "ioredis";
import { ConfigurationError } from "../errors.js";
import { createLogger } from "../log.js";
import { encodeJson } from "../protocol/serializers.js";
import { READY_STATES } from "../states.js";
import { OpenedOnce } from "../util/opened-once.js";
import { connectAny, openRedis, openSubscriber } from "../redis/connection.js";
import { RedisTarget, type RedisTargetOptions } from "../redis/target.js";
import { defineScript } from "../redis/scripts.js";
import type { BackendOptions, ResultBackend, ResultMeta } from "./backend.js";
import { Waiters, type WaitOptions } from "./waiters.js";
import type { ResultTuple } from "../result.js";
import { RedisStateWatch } from "./redis-watch.js";
import { parseMeta } from "./result-meta.js";
import { globEscape } from "../redis/glob.js";
import type { TaskLogLine } from "../worker/task-log.js";
import { appendTaskLog, LOG_KEY_PREFIX, readTaskLog } from "./redis-task-log.js";

export const TASK_KEY_PREFIX = "celery-task-meta-";
export const GROUP_KEY_PREFIX = "celery-taskset-meta-";

/** How long settled ids wait to be unsubscribed together (ms). */
const UNSUBSCRIBE_DELAY_MS = 50;
/** How long after subscribing the keys of the ids still waiting are read once (ms). */
const LATE_READ_MS = 5;
/** How long the pattern subscription for this process's own tasks outlasts its last wait (ms). */
const OWN_PATTERN_IDLE_MS = 1000;

interface ScriptedRedis extends Redis {
  celeriacStore(key: string, meta: string, ttl: number): Promise<number>;
  celeriacChordJoin(
    j: string,
    t: string,
    s: string,
    c: string,
    part: string,
    index: number,
    size: number | string,
    ttl: number,
    taskId: string,
  ): Promise<string[] | null>;
}

export class RedisBackend implements ResultBackend {
  readonly displayUrl: string;
  private readonly target: RedisTarget;
  private readonly ttl: number;
  private readonly client = new OpenedOnce<ScriptedRedis>(
    async () => {
      // No auto-pipelining: it holds each command until the next event-loop turn, and a
      // stored result is what a waiting get() is waiting for.
      const [client] = await connectAny(this.target, () => {
        const c = openRedis(this.target, this.log, { role: "results", autoPipelining: false, watchStall: true }) as ScriptedRedis;
        defineScript(c, "celeriacStore", "store-result", 1);
        defineScript(c, "celeriacChordJoin", "chord-join", 4);
        return [c];
      });
      return client;
    },
    (client) => client.quit().catch(() => client.disconnect()),
  );
  /** One subscriber connection for every waiter of this backend; a failed connect is retried by the next waiter, not remembered. */
  private readonly subscriber = new OpenedOnce<Redis>(
    () => this.openSubscriber(),
    (sub) => sub.disconnect(),
  );
  private readonly waiters = new Waiters(
    (id, opts) => this.listen(id, opts),
    (id) => this.stopListening(id),
  );
  /** Ids whose channel is to be subscribed on the next flush (batched per tick). */
  private readonly toSubscribe = new Set<string>();
  /** Of those, the ids whose result may be stored already: their keys are read as they are subscribed. */
  private readonly toReadFirst = new Set<string>();
  private readonly toUnsubscribe = new Set<string>();
  private flushScheduled = false;
  private unsubscribeTimer: NodeJS.Timeout | null = null;
  /** Batches of subscribed ids whose keys are to be read once more, oldest first. */
  private lateReads: { due: number; ids: string[] }[] = [];
  private lateReadTimer: NodeJS.Timeout | null = null;
  /** Set while close() runs: the waits it ends need no unsubscribing. */
  private closing = false;
  /** How the ids of this process's own tasks begin (BackendOptions.taskIdPrefix); "" if not known. */
  private readonly ownPrefix: string;
  /** The pattern subscription to every own task's channel: made at the first wait for one, resolved once in effect. */
  private readonly ownPattern = new OpenedOnce<void>(() => this.subscribeOwn());
  /** Own task ids being waited for. */
  private ownWaits = 0;
  private ownIdleTimer: NodeJS.Timeout | null = null;
  private readonly log = createLogger("celeriac.redis");
  /**
   * The channel a result is published on: its key's name as Redis sees it,
   * with the globalKeyprefix (the client prefixes keys, never channels).
   */
  private readonly channelPrefix: string;
  private readonly watches: RedisStateWatch;

  constructor(url: string, opts: BackendOptions & RedisTargetOptions = {}) {
    this.target = new RedisTarget(url, opts);
    // Chords and waits read several keys of one group or many tasks at once: results keep one slot.
    if (this.target.shardByQueue)
      throw new ConfigurationError(
        `the Redis result backend keeps one slot: give it a hash-tagged globalKeyprefix, not shardByQueue: ${this.target.displayUrl}`,
      );
    this.channelPrefix = this.target.keyPrefix + TASK_KEY_PREFIX;
    this.watches = new RedisStateWatch(async () => openSubscriber(this.target, this.log, "results (state watch)"), this.channelPrefix, parseMeta);
    this.displayUrl = this.target.displayUrl;
    const expires = opts.resultExpires === undefined ? 86_400 : opts.resultExpires;
    this.ttl = expires ? Math.max(1, Math.round(expires)) : 0;
    this.ownPrefix = /^[0-9a-f-]+$/.test(opts.taskIdPrefix ?? "") ? opts.taskIdPrefix! : "";
  }

  async connect(): Promise<void> {
    await this.client.get();
  }

  private conn(): Promise<ScriptedRedis> {
    return this.client.get();
  }

  async store(meta: ResultMeta): Promise<void> {
    const client = await this.conn();
    await client.celeriacStore(TASK_KEY_PREFIX + meta.task_id, encodeJson(meta), this.ttl);
  }

  async get(taskId: string): Promise<ResultMeta | null> {
    const client = await this.conn();
    return parseMeta(await client.get(TASK_KEY_PREFIX + taskId));
  }

  /** Every state stored for the task from now on, by pub/sub (AsyncResult.updates()). */
  watch(taskId: string, onMeta: (meta: ResultMeta) => void): Promise<() => void> {
    return this.watches.watch(taskId, onMeta);
  }

  // ---- waiting ---------------------------------------------------------------

  waitFor(taskId: string, opts?: WaitOptions): Promise<ResultMeta> {
    return this.waiters.add(taskId, opts);
  }

  private isOwn(taskId: string): boolean {
    return this.ownPrefix !== "" && taskId.startsWith(this.ownPrefix);
  }

  private listen(taskId: string, opts: WaitOptions): void {
    const own = this.isOwn(taskId);
    if (own) {
      this.ownWaits++;
      if (this.ownIdleTimer) clearTimeout(this.ownIdleTimer);
      this.ownIdleTimer = null;
      // Failed, it is forgotten before the waiters fail, so a wait made on their failure subscribes anew.
      if (!this.ownPattern.started) void this.ownPattern.get().catch((err) => this.waiters.failAll(err));
    } else {
      this.toUnsubscribe.delete(taskId);
      this.toSubscribe.add(taskId);
    }
    if (!opts.sending) this.toReadFirst.add(taskId);
    // An own task's get() right after its send has nothing to subscribe or read.
    if (!own || !opts.sending) this.scheduleFlush();
  }

  private stopListening(taskId: string): void {
    this.toReadFirst.delete(taskId);
    if (this.isOwn(taskId)) {
      if (--this.ownWaits === 0 && !this.closing) this.ownIdleTimer = setTimeout(() => this.releaseOwn(), OWN_PATTERN_IDLE_MS).unref();
      return;
    }
    if (this.toSubscribe.delete(taskId) || this.closing) return;
    this.toUnsubscribe.add(taskId);
    // Not urgent (a result is published once): unsubscribes go out together a
    // little later, not one command per result on the way to the caller's next send.
    this.unsubscribeTimer ??= setTimeout(() => void this.flushUnsubscribes(), UNSUBSCRIBE_DELAY_MS).unref();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // Every waitFor of this tick shares one SUBSCRIBE (and one MGET).
    queueMicrotask(() => void this.flushSubscriptions());
  }

  /**
   * Subscribes the channels of new waits for tasks not this process's own (own
   * ones are heard through the pattern). A get() called right after its send
   * subscribes while the message is still on its way, as Celery does: its
   * result cannot be stored before the worker has it, which takes longer than
   * Redis takes to see the SUBSCRIBE sent with it. For a late
   * get() the key is read while the SUBSCRIBE travels. Either way, a result
   * stored before the subscription took effect (a rare race) is in its key:
   * each batch's keys are read once more a little later, for the ids still
   * waiting; at once for the batch that had to open the connection first.
   */
  private async flushSubscriptions(): Promise<void> {
    this.flushScheduled = false;
    const subscribe = [...this.toSubscribe];
    const readFirst = [...this.toReadFirst];
    this.toSubscribe.clear();
    this.toReadFirst.clear();
    if (!subscribe.length) {
      // Own tasks only: the pattern listens already; a late get() reads the key.
      if (readFirst.length) await this.checkStored(readFirst).catch((err) => this.waiters.failAll(err));
      return;
    }
    try {
      // Opening the connection takes long enough for a task sent meanwhile to finish.
      const opening = this.subscriber.started === null;
      const sub = await this.subscriber.get();
      const early = readFirst.length ? this.checkStored(readFirst) : null;
      await sub.subscribe(...subscribe.map((id) => this.channelPrefix + id));
      await early;
      if (opening) await this.checkStored(subscribe);
      else this.readLater(subscribe);
    } catch (err) {
      this.waiters.failAll(err);
    }
  }

  private async flushUnsubscribes(): Promise<void> {
    this.unsubscribeTimer = null;
    const ids = [...this.toUnsubscribe];
    this.toUnsubscribe.clear();
    const subscriber = this.subscriber.started;
    if (!ids.length || !subscriber) return;
    const sub = await subscriber.catch(() => null);
    await sub?.unsubscribe(...ids.map((id) => this.channelPrefix + id)).catch(() => {});
  }

  /**
   * One PSUBSCRIBE for the channels of every task this process sends: a get()
   * right after its send then costs no command at all, and no result can slip
   * past it (Celery's producers likewise hear of every task they send). Results
   * stored before it took effect are read from their keys.
   */
  private async subscribeOwn(): Promise<void> {
    const sub = await this.subscriber.get();
    await sub.psubscribe(`${globEscape(this.channelPrefix)}${this.ownPrefix}*`);
    await this.checkStored(this.waiters.ids().filter((id) => this.isOwn(id)));
  }

  /** Stops hearing of own results once nobody has waited for one for a while. */
  private releaseOwn(): void {
    this.ownIdleTimer = null;
    const subscriber = this.subscriber.started;
    if (this.ownWaits || !this.ownPattern.started || !subscriber) return;
    this.ownPattern.forget();
    void subscriber.then((sub) => sub.punsubscribe(`${globEscape(this.channelPrefix)}${this.ownPrefix}*`)).catch(() => {});
  }

  /** Queues a batch for its late read; one timer serves every batch queued. */
  private readLater(ids: string[]): void {
    this.lateReads.push({ due: Date.now() + LATE_READ_MS, ids });
    this.lateReadTimer ??= setTimeout(() => this.readDue(), LATE_READ_MS).unref();
  }

  private readDue(): void {
    this.lateReadTimer = null;
    const now = Date.now();
    let n = 0;
    while (n < this.lateReads.length && this.lateReads[n]!.due <= now) n++;
    const due = this.lateReads.splice(0, n).flatMap((batch) => batch.ids);
    if (due.length) void this.checkStored(due).catch(() => {});
    if (this.lateReads.length) this.lateReadTimer = setTimeout(() => this.readDue(), this.lateReads[0]!.due - now).unref();
  }

  /** Settles the waiters of the given ids whose result is already stored and ready. */
  private async checkStored(ids: string[]): Promise<void> {
    const waiting = ids.filter((id) => this.waiters.has(id));
    if (!waiting.length) return;
    const client = await this.conn();
    for (let i = 0; i < waiting.length; i += 1000) {
      const chunk = waiting.slice(i, i + 1000);
      const values = await client.mget(...chunk.map((id) => TASK_KEY_PREFIX + id));
      chunk.forEach((id, j) => {
        const meta = parseMeta(values[j]);
        if (meta && READY_STATES.has(meta.status)) this.waiters.settle(id, meta);
      });
    }
  }

  private async openSubscriber(): Promise<Redis> {
    const sub = await openSubscriber(this.target, this.log, "results (pub/sub)");
    const onResult = (channel: string, text: string) => {
      const id = channel.slice(this.channelPrefix.length);
      if (!this.waiters.has(id)) return; // an own task nobody waits for, or one settled already
      const meta = parseMeta(text);
      if (meta && READY_STATES.has(meta.status)) this.waiters.settle(id, meta);
    };
    sub.on("message", onResult);
    sub.on("pmessage", (_pattern: string, channel: string, text: string) => onResult(channel, text));
    let readyBefore = false;
    sub.on("ready", () => {
      // After a reconnect ioredis subscribes again; results published meanwhile are in their keys.
      if (readyBefore) void this.checkStored(this.waiters.ids()).catch(() => {});
      readyBefore = true;
    });
    return sub;
  }

  async forget(taskId: string): Promise<void> {
    const client = await this.conn();
    await client.del(TASK_KEY_PREFIX + taskId, LOG_KEY_PREFIX + taskId);
  }

  appendLog(taskId: string, lines: readonly TaskLogLine[], maxLines: number): Promise<void> {
    return this.conn().then((client) => appendTaskLog(client, taskId, lines, maxLines, this.ttl));
  }

  getLog(taskId: string): Promise<TaskLogLine[]> {
    return this.conn().then((client) => readTaskLog(client, taskId));
  }

  // ---- groups and chords ----------------------------------------------------------

  async saveGroup(groupId: string, members: readonly ResultTuple[]): Promise<void> {
    const client = await this.conn();
    // Celery's GroupResult.save: {"result": GroupResult.as_tuple()}, ((group_id, parent), [member tuples]).
    const value = JSON.stringify({ result: [[groupId, null], members] });
    if (this.ttl) await client.set(GROUP_KEY_PREFIX + groupId, value, "EX", this.ttl);
    else await client.set(GROUP_KEY_PREFIX + groupId, value);
  }

  async restoreGroup(groupId: string): Promise<ResultTuple[] | null> {
    const client = await this.conn();
    const text = await client.get(GROUP_KEY_PREFIX + groupId);
    if (!text) return null;
    try {
      const saved = JSON.parse(text) as { result?: [unknown, unknown] };
      const members = saved.result?.[1];
      if (!Array.isArray(members)) return null;
      return members.map((m): ResultTuple =>
        Array.isArray(m) && Array.isArray(m[0]) ? (m as ResultTuple) : [[String(Array.isArray(m) ? m[0] : m), null], null],
      );
    } catch {
      return null;
    }
  }

  async deleteGroup(groupId: string): Promise<void> {
    const client = await this.conn();
    await client.del(GROUP_KEY_PREFIX + groupId);
  }

  /** Celery's set_chord_size: the `.s` key, which Python workers need to complete a chord. */
  async setChordSize(groupId: string, size: number): Promise<void> {
    const client = await this.conn();
    const key = `${GROUP_KEY_PREFIX}${groupId}.s`;
    if (this.ttl) await client.set(key, String(size), "EX", this.ttl);
    else await client.set(key, String(size));
  }

  /** Celery's add_to_chord: INCR of the `.t` key, which Python workers add to the size too. */
  async addToChord(groupId: string): Promise<void> {
    const client = await this.conn();
    await client.incr(`${GROUP_KEY_PREFIX}${groupId}.t`);
  }

  async chordJoin(groupId: string, index: number, size: number | null, meta: ResultMeta): Promise<ResultMeta[] | null> {
    const client = await this.conn();
    const base = GROUP_KEY_PREFIX + groupId;
    const part = encodeJson([1, meta.task_id, meta.status, meta.result]);
    // size null: a Python producer recorded it in `.s` (Celery 5.2 sends no chord_size).
    const parts = await client.celeriacChordJoin(`${base}.j`, `${base}.t`, `${base}.s`, `${base}.c`, part, index, size ?? "", this.ttl, meta.task_id);
    if (!parts) return null;
    return parts.map((text) => {
      const [, taskId, status, result] = JSON.parse(text) as [number, string, string, unknown];
      return { task_id: taskId, status, result, traceback: null, children: [], date_done: null };
    });
  }

  async chordDone(groupId: string): Promise<void> {
    const client = await this.conn();
    const base = GROUP_KEY_PREFIX + groupId;
    await client.del(`${base}.j`, `${base}.t`, `${base}.s`, `${base}.c`);
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.unsubscribeTimer) clearTimeout(this.unsubscribeTimer);
    if (this.lateReadTimer) clearTimeout(this.lateReadTimer);
    if (this.ownIdleTimer) clearTimeout(this.ownIdleTimer);
    this.unsubscribeTimer = this.lateReadTimer = this.ownIdleTimer = null;
    this.lateReads = [];
    void this.subscriber.close();
    void this.watches.close();
    this.waiters.failAll(new Error(`result backend ${this.displayUrl} closed`));
    this.toUnsubscribe.clear();
    this.ownPattern.forget();
    this.ownWaits = 0;
    this.closing = false;
    await this.client.close();
  }
}
