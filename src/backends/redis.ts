// redis:// and rediss:// results, with Celery's Redis result backend layout
// (../shared/PROTOCOL.md §4): `celery-task-meta-<id>` JSON with an expiry,
// published on a channel of the same name after each write, so a waiting
// get() — ours or Python's AsyncResult.get() — is told instead of polling.
import type { Redis } from "ioredis";
import { TimeoutError } from "../errors.js";
import { createLogger } from "../log.js";
import { READY_STATES } from "../states.js";
import { maskUrl } from "../url.js";
import { connectAll, loadLua, openRedis, openSubscriber } from "../brokers/redis/connection.js";
import type { BackendOptions, ResultBackend, ResultMeta } from "./backend.js";

export const TASK_KEY_PREFIX = "celery-task-meta-";
export const GROUP_KEY_PREFIX = "celery-taskset-meta-";

const STORE_LUA = loadLua(new URL("./redis-scripts/store.lua", import.meta.url));
const CHORD_JOIN_LUA = loadLua(new URL("./redis-scripts/chord-join.lua", import.meta.url));
/** How long settled ids wait to be unsubscribed together (ms). */
const UNSUBSCRIBE_DELAY_MS = 50;

interface ScriptedRedis extends Redis {
  celeriacStore(key: string, meta: string, ttl: number): Promise<number>;
  celeriacChordJoin(j: string, t: string, s: string, part: string, index: number, size: number | string, ttl: number): Promise<string[] | null>;
}

interface Waiter {
  resolve: (m: ResultMeta) => void;
  reject: (e: unknown) => void;
  timer: NodeJS.Timeout | null;
}

function parseMeta(text: string | null | undefined): ResultMeta | null {
  if (!text) return null;
  try {
    return JSON.parse(text) as ResultMeta;
  } catch {
    return null;
  }
}

export class RedisBackend implements ResultBackend {
  readonly displayUrl: string;
  private readonly url: string;
  private readonly ttl: number;
  private client: ScriptedRedis | null = null;
  /** One subscriber connection for every waiter of this backend. */
  private subscriber: Promise<Redis> | null = null;
  private connecting: Promise<void> | null = null;
  private readonly waiters = new Map<string, Waiter[]>();
  /** Ids whose channel is to be subscribed on the next flush (batched per tick). */
  private toSubscribe = new Set<string>();
  private toUnsubscribe = new Set<string>();
  private flushScheduled = false;
  private unsubscribeTimer: NodeJS.Timeout | null = null;
  private readonly log = createLogger("celeriac.redis");

  constructor(url: string, opts: BackendOptions = {}) {
    this.url = url;
    this.displayUrl = maskUrl(url);
    const expires = opts.resultExpires === undefined ? 86_400 : opts.resultExpires;
    this.ttl = expires ? Math.max(1, Math.round(expires)) : 0;
  }

  async connect(): Promise<void> {
    if (this.client) return;
    this.connecting ??= (async () => {
      const report = (m: string) => this.log.warn(m);
      // No auto-pipelining: it holds each command until the next event-loop turn, and a
      // stored result is what a waiting get() is waiting for.
      const client = openRedis(this.url, report, { autoPipelining: false }) as ScriptedRedis;
      client.defineCommand("celeriacStore", { numberOfKeys: 1, lua: STORE_LUA });
      client.defineCommand("celeriacChordJoin", { numberOfKeys: 3, lua: CHORD_JOIN_LUA });
      await connectAll(this.displayUrl, [client]);
      this.client = client;
    })();
    try {
      await this.connecting;
    } finally {
      this.connecting = null;
    }
  }

  private async conn(): Promise<ScriptedRedis> {
    if (!this.client) await this.connect();
    return this.client!;
  }

  async store(meta: ResultMeta): Promise<void> {
    const client = await this.conn();
    await client.celeriacStore(TASK_KEY_PREFIX + meta.task_id, JSON.stringify(meta), this.ttl);
  }

  async get(taskId: string): Promise<ResultMeta | null> {
    const client = await this.conn();
    return parseMeta(await client.get(TASK_KEY_PREFIX + taskId));
  }

  // ---- waiting ---------------------------------------------------------------

  waitFor(taskId: string, timeoutMs?: number): Promise<ResultMeta> {
    return new Promise<ResultMeta>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, timer: null };
      if (timeoutMs !== undefined) {
        waiter.timer = setTimeout(() => {
          this.dropWaiter(taskId, waiter);
          reject(new TimeoutError(`task ${taskId} did not finish within ${timeoutMs} ms`));
        }, timeoutMs);
      }
      const list = this.waiters.get(taskId);
      if (list) {
        list.push(waiter);
        return;
      }
      this.waiters.set(taskId, [waiter]);
      this.toUnsubscribe.delete(taskId);
      this.toSubscribe.add(taskId);
      this.scheduleFlush();
    });
  }

  private dropWaiter(taskId: string, waiter: Waiter): void {
    const list = this.waiters.get(taskId);
    if (!list) return;
    const i = list.indexOf(waiter);
    if (i >= 0) list.splice(i, 1);
    if (list.length) return;
    this.waiters.delete(taskId);
    this.toSubscribe.delete(taskId);
    this.toUnsubscribe.add(taskId);
    this.scheduleUnsubscribe();
  }

  private settle(taskId: string, meta: ResultMeta): void {
    const list = this.waiters.get(taskId);
    if (!list) return;
    this.waiters.delete(taskId);
    for (const w of list) {
      if (w.timer) clearTimeout(w.timer);
      w.resolve(meta);
    }
    this.toSubscribe.delete(taskId);
    this.toUnsubscribe.add(taskId);
    this.scheduleUnsubscribe();
  }

  /**
   * Unsubscribing is not urgent (a result is published once), so unsubscribes
   * go out together a little later, not one command per result on the way to
   * the caller's next send.
   */
  private scheduleUnsubscribe(): void {
    if (this.unsubscribeTimer) return;
    this.unsubscribeTimer = setTimeout(() => {
      this.unsubscribeTimer = null;
      this.scheduleFlush();
    }, UNSUBSCRIBE_DELAY_MS);
    this.unsubscribeTimer.unref();
  }

  private failAll(err: unknown): void {
    for (const [id, list] of this.waiters) {
      this.waiters.delete(id);
      for (const w of list) {
        if (w.timer) clearTimeout(w.timer);
        w.reject(err);
      }
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // Every waitFor of this tick shares one SUBSCRIBE and one MGET.
    queueMicrotask(() => void this.flushSubscriptions());
  }

  private async flushSubscriptions(): Promise<void> {
    this.flushScheduled = false;
    const subscribe = [...this.toSubscribe];
    const unsubscribe = [...this.toUnsubscribe];
    this.toSubscribe.clear();
    this.toUnsubscribe.clear();
    try {
      const sub = await this.subscriberConn();
      if (unsubscribe.length) void sub.unsubscribe(...unsubscribe.map((id) => TASK_KEY_PREFIX + id)).catch(() => {});
      if (!subscribe.length) return;
      // Read the keys while the SUBSCRIBE travels: a result already stored (the common
      // case for a fast task) settles without waiting for the subscription.
      const early = this.checkStored(subscribe);
      await sub.subscribe(...subscribe.map((id) => TASK_KEY_PREFIX + id));
      await early;
      // Read again once subscribed: a result stored after the early read but before the
      // subscription took effect is in its key, one stored after it comes as a message.
      await this.checkStored(subscribe);
    } catch (err) {
      this.failAll(err);
    }
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
        if (meta && READY_STATES.has(meta.status)) this.settle(id, meta);
      });
    }
  }

  private subscriberConn(): Promise<Redis> {
    if (!this.subscriber) {
      const opening = this.openSubscriber();
      this.subscriber = opening;
      // A failed connect is retried by the next waiter, not remembered.
      opening.catch(() => {
        if (this.subscriber === opening) this.subscriber = null;
      });
    }
    return this.subscriber;
  }

  private async openSubscriber(): Promise<Redis> {
    const sub = await openSubscriber(await this.conn());
    sub.on("message", (channel: string, text: string) => {
      const meta = parseMeta(text);
      if (meta && READY_STATES.has(meta.status)) this.settle(channel.slice(TASK_KEY_PREFIX.length), meta);
    });
    let readyBefore = false;
    sub.on("ready", () => {
      // After a reconnect ioredis subscribes again; results published meanwhile are in their keys.
      if (readyBefore) void this.checkStored([...this.waiters.keys()]).catch(() => {});
      readyBefore = true;
    });
    return sub;
  }

  async forget(taskId: string): Promise<void> {
    const client = await this.conn();
    await client.del(TASK_KEY_PREFIX + taskId);
  }

  // ---- groups and chords ----------------------------------------------------------

  async saveGroup(groupId: string, taskIds: readonly string[]): Promise<void> {
    const client = await this.conn();
    // GroupResult.as_tuple(): ((group_id, parent), [((task_id, parent), None), …])
    const value = JSON.stringify({ result: [[groupId, null], taskIds.map((id) => [[id, null], null])] });
    if (this.ttl) await client.set(GROUP_KEY_PREFIX + groupId, value, "EX", this.ttl);
    else await client.set(GROUP_KEY_PREFIX + groupId, value);
  }

  async restoreGroup(groupId: string): Promise<string[] | null> {
    const client = await this.conn();
    const text = await client.get(GROUP_KEY_PREFIX + groupId);
    if (!text) return null;
    try {
      const saved = JSON.parse(text) as { result?: [unknown, [[string, unknown], unknown][]] };
      const members = saved.result?.[1];
      if (!Array.isArray(members)) return null;
      return members.map((m) => (Array.isArray(m[0]) ? String(m[0][0]) : String(m[0])));
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

  async chordJoin(groupId: string, index: number, size: number | null, meta: ResultMeta): Promise<ResultMeta[] | null> {
    const client = await this.conn();
    const base = GROUP_KEY_PREFIX + groupId;
    const part = JSON.stringify([1, meta.task_id, meta.status, meta.result]);
    // size null: a Python producer recorded it in `.s` (Celery 5.2 sends no chord_size).
    const parts = await client.celeriacChordJoin(`${base}.j`, `${base}.t`, `${base}.s`, part, index, size ?? "", this.ttl);
    if (!parts) return null;
    return parts.map((text) => {
      const [, taskId, status, result] = JSON.parse(text) as [number, string, string, unknown];
      return { task_id: taskId, status, result, traceback: null, children: [], date_done: null };
    });
  }

  async close(): Promise<void> {
    if (this.unsubscribeTimer) clearTimeout(this.unsubscribeTimer);
    if (this.connecting) await this.connecting.catch(() => {});
    const { client, subscriber } = this;
    this.client = null;
    this.subscriber = null;
    this.failAll(new Error(`result backend ${this.displayUrl} closed`));
    if (subscriber) void subscriber.then((s) => s.disconnect(), () => {});
    if (client) await client.quit().catch(() => client.disconnect());
  }
}
