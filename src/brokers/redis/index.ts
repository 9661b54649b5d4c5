// redis:// and rediss:// — kombu's Redis transport layout, so Python Celery
// producers and workers share queues with us (../shared/PROTOCOL.md §2):
//
// - a queue is a list of JSON envelopes (base64 body); producers LPUSH,
//   consumers pop from the right; priorities live in sub-lists
//   `<queue>\x06\x16<step>` (steps 0, 3, 6, 9; a LOWER number is served first);
// - `_kombu.binding.<exchange>` sets say which queue a routing key reaches;
// - a leased (unacked) message is recorded in the `unacked` hash and the
//   `unacked_index` zset; anyone restores entries older than the visibility
//   timeout, under kombu's `unacked_mutex`.
//
// Unlike kombu, messages with a future ETA are not handed to a worker to hold
// in memory: they wait in a sorted set per queue (`_celeriac.schedule.<queue>`)
// that the fetch script moves to the list when due. So scheduled tasks cost the
// worker nothing, and a countdown longer than the visibility timeout runs once.
import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { createLogger } from "../../log.js";
import { readEnvelope, toEnvelope, type Message } from "../../protocol/message.js";
import { maskUrl } from "../../url.js";
import { WriteBatcher } from "../../util/batcher.js";
import type { Broker, BrokerOptions, Delivery, FetchOptions, PublishOptions, Route } from "../broker.js";
import { connectAll, loadLua, openRedis, openSubscriber, redisOptionsFromUrl } from "./connection.js";
import { RedisFanout } from "./fanout.js";

export interface RedisBrokerOptions extends BrokerOptions {
  /**
   * Send ETA/countdown messages straight to the queue with their `eta` header,
   * as Celery does, instead of the broker-side schedule. For queues consumed by
   * Python workers, which do not read the schedule. Default false.
   */
  etaInQueue?: boolean;
  /** kombu's unacked keys, for deployments that renamed them. */
  unackedKey?: string;
  unackedIndexKey?: string;
  unackedMutexKey?: string;
  unackedMutexExpire?: number;
}

const SEP = "\x06\x16";
export const PRIORITY_STEPS = [0, 3, 6, 9] as const;
/** The longest a blocking read waits before the fetch loop looks again (ms): bounds ETA lateness for schedules made elsewhere. */
const MAX_BLOCK_MS = 1000;
/** At most this many messages per fetch round trip. */
const MAX_BATCH = 1000;
/**
 * At most this many messages per blocking pop. Their leases are written just
 * after (kombu takes one at a time this way): a connection lost in between
 * loses them, so the pop stays small and batches come from the fetch script.
 */
const MAX_UNLEASED_POP = 10;

/** kombu's priority step for a priority: the largest step ≤ p. */
export function priorityStep(priority: number | undefined): number {
  const p = Math.max(0, Math.min(9, Math.trunc(Number(priority) || 0)));
  let step = 0;
  for (const s of PRIORITY_STEPS) if (s <= p) step = s;
  return step;
}

/** The list holding a queue's messages of one priority step. */
export function listKey(queue: string, step: number): string {
  return step ? `${queue}${SEP}${step}` : queue;
}

export function scheduleKey(queue: string): string {
  return `_celeriac.schedule.${queue}`;
}

interface RedisDelivery extends Delivery {
  /** Whether an unacked entry was recorded (so ack/reject must remove it). */
  leased: boolean;
}

interface Outgoing {
  queue: string;
  step: number;
  envelope: string;
  /** Epoch ms for the schedule, or 0 for the list. */
  eta: number;
  binding: string | null;
}

/** The fetch script's reply, as Buffers: [next ETA (ms) or '', [list index, envelope, lease tag or '', …]]. */
type FetchReply = [Buffer, (Buffer | number)[]];

/** What one blocking pop returned: the list it took from, and the envelopes in the order they were queued. */
interface Popped {
  list: string;
  envelopes: string[];
}

/** What the fetch loop knows of one set of queues between calls. */
interface FetchState {
  /** The last blocking pop took fewer messages than it asked for: the lists were likely empty. */
  drained: boolean;
  /** When the fetch script last ran (epoch ms). */
  scriptRanAt: number;
  /** The earliest ETA in the queues' schedules when the script last looked, or one published since (epoch ms). */
  nextEtaAt: number;
}

interface ScriptedRedis extends Redis {
  celeriacFetchBuffer(numKeys: number, ...args: (string | number)[]): Promise<FetchReply>;
  celeriacRestore(numKeys: number, ...args: (string | number)[]): Promise<number>;
  celeriacTakeToken(key: string, perSecond: number): Promise<number>;
}

const FETCH_LUA = loadLua(new URL("./scripts/fetch.lua", import.meta.url));
const RESTORE_LUA = loadLua(new URL("./scripts/restore.lua", import.meta.url));
const TAKE_TOKEN_LUA = loadLua(new URL("./scripts/take-token.lua", import.meta.url));
/** Celery's remote-control exchanges (requests fan out on the first, replies route through the second). */
const PIDBOX_EXCHANGE = "celery.pidbox";
const REPLY_EXCHANGE = "reply.celery.pidbox";
/** A reply nobody collects disappears after this long. */
const REPLY_TTL_SECONDS = 300;
/** Past this many, the cache of declared bindings starts over. */
const MAX_BOUND_CACHE = 10_000;

export class RedisBroker implements Broker {
  readonly displayUrl: string;
  readonly visibilityTimeout: number;
  readonly higherPriorityFirst = false;
  private readonly url: string;
  private readonly etaInQueue: boolean;
  private readonly unackedKey: string;
  private readonly indexKey: string;
  private readonly mutexKey: string;
  private readonly mutexExpire: number;
  private client: ScriptedRedis | null = null;
  /** Blocking reads get their own connection: a BRPOP holds its connection until it returns. */
  private blocker: Redis | null = null;
  private connecting: Promise<void> | null = null;
  private closed = false;
  private readonly publishes: WriteBatcher<Outgoing>;
  private readonly bound = new Set<string>();
  private readonly log = createLogger("celeriac.redis");
  private nextRestoreAt = 0;
  private readonly restoreEveryMs: number;
  private rotation = 0;
  private readonly fanout: RedisFanout;
  /** Leases of messages taken by a blocking pop, not yet written: tag → unacked entry. Ack and reject delete a tag from it first: one found there has nothing in Redis to undo. */
  private readonly pendingLeases = new Map<string, string>();
  private readonly fetchStates = new Map<string, FetchState>();
  /** Whether the server has BLMPOP (null: not tried yet). */
  private hasBlmpop: boolean | null = null;

  constructor(url: string, opts: RedisBrokerOptions = {}) {
    this.url = url;
    this.displayUrl = maskUrl(url);
    this.visibilityTimeout = opts.visibilityTimeout ?? 3600;
    this.etaInQueue = opts.etaInQueue ?? false;
    this.unackedKey = opts.unackedKey ?? "unacked";
    this.indexKey = opts.unackedIndexKey ?? "unacked_index";
    this.mutexKey = opts.unackedMutexKey ?? "unacked_mutex";
    this.mutexExpire = opts.unackedMutexExpire ?? 300;
    // Look for expired leases a few times per visibility timeout (at most every 10 s).
    this.restoreEveryMs = Math.min(10_000, Math.max(100, (this.visibilityTimeout * 1000) / 4));
    // Up to 1,000 a batch: a loop of sends writes as it goes, so it holds one batch of
    // envelopes at a time, young enough for the scavenger (bulk enqueue +25 % over 10,000).
    this.publishes = new WriteBatcher((batch) => this.writePublishes(batch), 1_000, "microtask");
    this.fanout = new RedisFanout(
      redisOptionsFromUrl(url).db ?? 0,
      async () => openSubscriber(await this.conn(), url, this.log, "broker (pub/sub)"),
      (reason) => this.log.warn(reason),
    );
  }

  async connect(): Promise<void> {
    if (this.client) return;
    this.connecting ??= (async () => {
      // No auto-pipelining: every call here is one command or an explicit pipeline already,
      // and auto-pipelining would hold a fetch back until the worker's current burst of
      // tasks ends, leaving it idle for a round trip after each burst.
      const client = openRedis(this.url, this.log, { role: "broker", autoPipelining: false, watchStall: true }) as ScriptedRedis;
      client.defineCommand("celeriacFetch", { lua: FETCH_LUA });
      client.defineCommand("celeriacRestore", { lua: RESTORE_LUA });
      client.defineCommand("celeriacTakeToken", { numberOfKeys: 1, lua: TAKE_TOKEN_LUA });
      const blocker = openRedis(this.url, this.log, { role: "broker (blocking reads)", offlineQueue: false });
      await connectAll(this.displayUrl, [client, blocker]);
      this.client = client;
      this.blocker = blocker;
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

  // ---- publishing ------------------------------------------------------------

  /**
   * Not an async function: a connected publish returns its batch's promise, the
   * same one for every message of the batch, and makes no promise of its own.
   */
  publish(route: Route, message: Message, opts: PublishOptions = {}): Promise<void> {
    if (!this.client) return this.connect().then(() => this.publish(route, message, opts));
    if (route.exchange === REPLY_EXCHANGE) return this.publishReply(route, message);
    try {
      const queue = route.queue;
      const priority = opts.priority ?? message.properties.priority ?? 0;
      // Like kombu: a fresh delivery tag per publish (the unacked hash is keyed by it), and
      // delivery_info naming the queue through the default exchange, so a restore finds it.
      const envelope = toEnvelope(message, { priority, delivery_info: { exchange: "", routing_key: queue }, delivery_tag: randomUUID() });
      const eta = opts.eta && !this.etaInQueue && opts.eta > Date.now() ? opts.eta : 0;
      const exchange = route.exchange || queue;
      const routingKey = route.routingKey ?? queue;
      const binding = `${exchange}\n${routingKey}\n${queue}`;
      return this.publishes.add({
        queue,
        step: priorityStep(priority),
        envelope,
        eta,
        binding: this.bound.has(binding) ? null : binding,
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * A remote-control reply goes where the requester's binding says: kombu's
   * mailbox binds routing key `<oid>` to queue `<oid>.reply.celery.pidbox`, so the
   * routing key is not the queue name (ours bind it to itself). As kombu's
   * _lookup does: every bound queue, else the routing key as a queue name.
   */
  private async publishReply(route: Route, message: Message): Promise<void> {
    const client = await this.conn();
    const routingKey = route.routingKey ?? route.queue;
    const members = await client.smembers(`_kombu.binding.${REPLY_EXCHANGE}`);
    const queues = members.map((m) => m.split(SEP)).filter((p) => p[0] === routingKey && p[2]).map((p) => p[2]!);
    if (!queues.length) queues.push(route.queue);
    const envelope = toEnvelope({ ...message, properties: { ...message.properties, delivery_info: { exchange: REPLY_EXCHANGE, routing_key: routingKey } } });
    const pipe = client.pipeline();
    for (const q of queues) pipe.lpush(q, envelope).expire(q, REPLY_TTL_SECONDS);
    await pipe.exec();
  }

  /**
   * One pipeline per batch; consecutive messages for one list go in one LPUSH.
   * A batch of one command (one message to a known queue: a send followed by
   * its get()) goes without a pipeline object, most of such a send's garbage.
   */
  private async writePublishes(batch: Outgoing[]): Promise<void> {
    // Connected: the commands go out now, in the caller's turn (see WriteBatcher.flush).
    const client = this.client ?? (await this.conn());
    const commands: (string | number)[][] = [];
    let list: (string | number)[] | null = null;
    for (const o of batch) {
      if (o.binding && !this.bound.has(o.binding)) {
        if (this.bound.size >= MAX_BOUND_CACHE) this.bound.clear();
        const [exchange, routingKey, queue] = o.binding.split("\n") as [string, string, string];
        commands.push(["sadd", `_kombu.binding.${exchange}`, [routingKey, "", queue].join(SEP)]);
        this.bound.add(o.binding);
        list = null;
      }
      if (o.eta) {
        commands.push(["zadd", scheduleKey(o.queue), o.eta, `${o.step}${o.envelope}`]);
        // A fetch loop of this process then runs the script by that time, without waiting its second.
        for (const state of this.fetchStates.values()) state.nextEtaAt = Math.min(state.nextEtaAt, o.eta);
        list = null;
        continue;
      }
      const key = listKey(o.queue, o.step);
      if (list?.[1] === key) list.push(o.envelope);
      else commands.push((list = ["lpush", key, o.envelope]));
    }
    if (commands.length === 1) {
      const [name, ...args] = commands[0]!;
      await client.call(name as string, ...args);
      return;
    }
    const results = await client.pipeline(commands).exec();
    for (const [err] of results ?? []) if (err) throw err;
  }

  // ---- consuming -------------------------------------------------------------

  async fetch(queues: readonly string[], opts: FetchOptions): Promise<Delivery[]> {
    if (!queues.length) return [];
    // Connected, everything up to the script call happens in the caller's turn: the
    // worker asks for its next batch before it runs the one in hand, and the request
    // must be on the wire by then, not a microtask after the whole batch has run.
    const client = this.client ?? (await this.conn());
    // This process's publishes go out before the fetch, on the same connection, so
    // it sees its own messages; their replies need no waiting for.
    void this.publishes.flush();
    const state = this.fetchStateOf(queues);
    // Rotate the queue order on each call, so that no queue starves another at equal priority.
    const nq = queues.length;
    const start = this.rotation++ % nq;
    const order = nq === 1 ? queues : [...queues.slice(start), ...queues.slice(0, start)];
    const lists: string[] = [];
    for (const step of PRIORITY_STEPS) for (const q of order) lists.push(listKey(q, step));
    const keys = [this.unackedKey, this.indexKey, ...order.map(scheduleKey), ...lists];
    const max = Math.max(1, Math.min(MAX_BATCH, opts.max));
    const deadline = Date.now() + Math.max(0, opts.waitMs);
    for (;;) {
      const now = Date.now();
      if (now >= this.nextRestoreAt) await this.restoreExpired(now);
      // The script moves due ETA messages and takes a leased batch. Right after a blocking
      // pop that emptied the lists it would find nothing: the pop is tried first then.
      const skipScript = state.drained && now - state.scriptRanAt < MAX_BLOCK_MS && now < state.nextEtaAt;
      state.drained = false;
      if (!skipScript) {
        // Buffers, not strings: ioredis would make each envelope a string in the reply's
        // array, which the scavenger keeps and promotes (a third of the worker's GC time);
        // parsed from the Buffer, only the parsed message is made.
        const [nextEta, flat] = await client.celeriacFetchBuffer(
          keys.length,
          ...keys,
          max,
          opts.lease ? "1" : "0",
          (now / 1000).toFixed(6),
          now,
          nq,
          ...order,
        );
        state.scriptRanAt = now;
        state.nextEtaAt = nextEta.length ? Number(nextEta.toString()) : Infinity;
        if (flat.length || this.closed) return this.toDeliveries(flat, order, opts.lease);
      }
      const left = deadline - Date.now();
      if (left <= 0) return [];
      const block = Math.min(left, MAX_BLOCK_MS, this.nextRestoreAt - Date.now(), state.nextEtaAt - Date.now());
      if (block <= 1) continue;
      // Wait for a push to any of the lists, without polling.
      const count = Math.min(max, MAX_UNLEASED_POP);
      let popped: Popped | null;
      try {
        popped = await this.blockingPop(lists, block, count);
      } catch (err) {
        if (this.closed) return [];
        throw err;
      }
      if (!popped) continue;
      if (this.closed) {
        // Closing while messages were in hand: put them back where they were, in their order.
        await client.rpush(popped.list, ...popped.envelopes.reverse()).catch(() => {});
        return [];
      }
      // Fewer than asked for: that list is empty now (and the ones before it were).
      state.drained = popped.envelopes.length < count;
      // Hand them over at once, without another round trip (the lists were empty a moment
      // ago, so this is the latency case). The leases are written on the same connection
      // as acks, so they reach Redis before any ack or renewal of the messages.
      const k = lists.indexOf(popped.list);
      return this.toDeliveries(popped.envelopes.flatMap((e) => [k, e, ""]), order, opts.lease);
    }
  }

  private fetchStateOf(queues: readonly string[]): FetchState {
    const key = queues.join("\n");
    let state = this.fetchStates.get(key);
    if (!state) this.fetchStates.set(key, (state = { drained: false, scriptRanAt: 0, nextEtaAt: Infinity }));
    return state;
  }

  /**
   * Up to `count` messages from the first of the lists that has any, waiting up
   * to `blockMs` for one: BLMPOP where the server has it (Redis 7), else BRPOP
   * (one message).
   */
  private async blockingPop(lists: string[], blockMs: number, count: number): Promise<Popped | null> {
    const timeout = (blockMs / 1000).toFixed(3);
    if (this.hasBlmpop !== false) {
      try {
        const reply = (await this.blocker!.call("BLMPOP", timeout, lists.length, ...lists, "RIGHT", "COUNT", count)) as [string, string[]] | null;
        this.hasBlmpop = true;
        return reply && { list: reply[0], envelopes: reply[1] };
      } catch (err) {
        if (this.hasBlmpop || !/unknown command/i.test((err as Error).message)) throw err;
        this.hasBlmpop = false;
      }
    }
    const popped = await this.blocker!.brpop(...lists, timeout);
    return popped && { list: popped[0], envelopes: [popped[1]] };
  }

  /**
   * kombu's QoS.append: the unacked entry [envelope, exchange, routing_key] and
   * its index score, written at the end of this event-loop turn, or before a
   * task runs (flushLeases). A message acked before then (an early-ack task
   * that started at once, the common case for a message that arrives at an
   * idle worker) needs neither write.
   */
  private recordLease(delivery: Delivery, envelope: string): void {
    this.pendingLeases.set(delivery.tag, `[${envelope}, "", ${JSON.stringify(delivery.queue)}]`);
    if (this.pendingLeases.size === 1) setImmediate(() => this.writePendingLeases());
  }

  flushLeases(acked: Delivery | null): void {
    // Its ack, on its way, then has nothing to remove.
    if (acked && this.pendingLeases.delete(acked.tag)) (acked as RedisDelivery).leased = false;
    this.writePendingLeases();
  }

  private writePendingLeases(): void {
    const client = this.client;
    if (!this.pendingLeases.size || !client) return;
    const now = (Date.now() / 1000).toFixed(6);
    const index: string[] = [];
    const entries: string[] = [];
    for (const [tag, entry] of this.pendingLeases) {
      index.push(now, tag);
      entries.push(tag, entry);
    }
    this.pendingLeases.clear();
    // The same connection as acks and renewals, so the lease reaches Redis before them.
    client
      .multi()
      .zadd(this.indexKey, ...index)
      .hset(this.unackedKey, ...entries)
      .exec()
      .catch((err: Error) => this.log.error(`cannot record the lease of ${entries.length / 2} message(s): ${maskUrl(err.message)}`));
  }

  /**
   * Messages from [list index, envelope, lease tag] triples. A message is acked
   * by the tag it was leased under: the script's, or, for one it did not lease
   * (taken by a blocking pop, or with no plain tag), the parsed tag or a fresh
   * one, leased here. An envelope that does not parse is handed over saying
   * why: the worker drops it once (its ack removes the lease), instead of its
   * lease bringing it back every visibility timeout.
   */
  private toDeliveries(flat: readonly (Buffer | string | number)[], order: readonly string[], lease: boolean): Delivery[] {
    const out: Delivery[] = [];
    const nq = order.length;
    for (let i = 0; i < flat.length; i += 3) {
      const k = Number(flat[i]);
      const text = flat[i + 1] as Buffer | string;
      const leasedAs = flat[i + 2]!.toString();
      const queue = order[k % nq]!;
      const message = readEnvelope(text);
      if (message.unreadable) this.log.error(`queue ${queue}: ${message.unreadable}`);
      const p = message.properties;
      const tag = leasedAs || (typeof p.delivery_tag === "string" && p.delivery_tag ? p.delivery_tag : randomUUID());
      const redelivered = (p.delivery_info as { redelivered?: unknown } | undefined)?.redelivered === true || message.headers.redelivered === true;
      const d: RedisDelivery = { tag, queue, message, redelivered, leased: lease };
      if (lease && !leasedAs) this.recordLease(d, text.toString());
      out.push(d);
    }
    return out;
  }

  // ---- settling --------------------------------------------------------------

  async ack(deliveries: readonly Delivery[]): Promise<void> {
    const tags = deliveries.filter((d) => (d as RedisDelivery).leased !== false && !this.pendingLeases.delete(d.tag)).map((d) => d.tag);
    if (!tags.length) return;
    const client = await this.conn();
    // As kombu's QoS.ack: ZREM from the index, HDEL from the hash (one round trip).
    const results = await client.pipeline().zrem(this.indexKey, ...tags).hdel(this.unackedKey, ...tags).exec();
    for (const [err] of results ?? []) if (err) throw err;
  }

  async reject(delivery: Delivery, requeue: boolean): Promise<void> {
    const client = await this.conn();
    const leased = (delivery as RedisDelivery).leased !== false && !this.pendingLeases.delete(delivery.tag);
    if (!requeue) {
      if (leased) await this.ack([delivery]);
      return;
    }
    // As kombu does: back of the queue, marked redelivered.
    const payload = this.redeliveredEnvelope(delivery.message);
    const target = listKey(delivery.queue, priorityStep(delivery.message.properties.priority));
    await client.celeriacRestore(3, this.unackedKey, this.indexKey, target, delivery.tag, "1e300", payload, "left", leased ? "" : "force");
  }

  private redeliveredEnvelope(message: Message): string {
    const p = message.properties;
    const info = { exchange: "", routing_key: "", ...p.delivery_info, redelivered: true };
    return toEnvelope({ ...message, headers: { ...message.headers, redelivered: true }, properties: { ...p, delivery_info: info } });
  }

  async extendLease(deliveries: readonly Delivery[]): Promise<void> {
    const tags = deliveries.filter((d) => (d as RedisDelivery).leased !== false).map((d) => d.tag);
    if (!tags.length) return;
    const client = await this.conn();
    const now = (Date.now() / 1000).toFixed(6);
    const args: string[] = [];
    for (const t of tags) args.push(now, t);
    // XX: renew only entries still there (an acked or restored message stays gone).
    await client.zadd(this.indexKey, "XX", ...args);
  }

  /**
   * Puts back messages whose lease ran out (their worker died or stalled), as
   * kombu's restore_visible does, under the same mutex so only one process scans.
   */
  private async restoreExpired(now: number): Promise<void> {
    this.nextRestoreAt = now + this.restoreEveryMs;
    const client = await this.conn();
    const cutoff = now / 1000 - this.visibilityTimeout;
    const token = randomUUID();
    const got = await client.set(this.mutexKey, token, "EX", this.mutexExpire, "NX");
    if (got !== "OK") return;
    try {
      for (let round = 0; round < 100; round++) {
        const tags = await client.zrangebyscore(this.indexKey, 0, cutoff, "LIMIT", 0, 100);
        if (!tags.length) break;
        const entries = await client.hmget(this.unackedKey, ...tags);
        let restored = 0;
        for (let i = 0; i < tags.length; i++) {
          const tag = tags[i]!;
          const text = entries[i];
          if (!text) {
            await client.zrem(this.indexKey, tag);
            continue;
          }
          const targets = await this.restoreTargets(client, text);
          if (!targets) {
            this.log.error(`unacked message ${tag} cannot be restored (unreadable entry); dropped`);
            await client.multi().zrem(this.indexKey, tag).hdel(this.unackedKey, tag).exec();
            continue;
          }
          restored += await client.celeriacRestore(
            2 + targets.lists.length,
            this.unackedKey,
            this.indexKey,
            ...targets.lists,
            tag,
            cutoff.toFixed(6),
            targets.payload,
            "right",
            "",
          );
        }
        if (restored) this.log.warn(`restored ${restored} unacked message(s) whose visibility timeout (${this.visibilityTimeout} s) ran out`);
        if (tags.length < 100) break;
      }
    } finally {
      // Release only our own mutex (it may have expired and been taken by another process).
      await client
        .eval("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0", 1, this.mutexKey, token)
        .catch(() => {});
    }
  }

  /** Where an unacked entry `[envelope, exchange, routing_key]` goes back to, as kombu's _lookup decides. */
  private async restoreTargets(client: Redis, text: string): Promise<{ lists: string[]; payload: string } | null> {
    let entry: unknown;
    try {
      entry = JSON.parse(text);
    } catch {
      return null;
    }
    if (!Array.isArray(entry) || typeof entry[0] !== "object" || entry[0] === null) return null;
    const [envelope, exchange, routingKey] = entry as [Record<string, unknown>, string, string];
    let queues: string[] = [];
    if (!exchange) queues = routingKey ? [routingKey] : [];
    else {
      const members = await client.smembers(`_kombu.binding.${exchange}`);
      for (const m of members) {
        const [rk, , queue] = m.split(SEP);
        if (queue && (rk === routingKey || rk === "#" || rk === "*")) queues.push(queue);
      }
      if (!queues.length && routingKey) queues = [routingKey];
    }
    if (!queues.length) return null;
    const headers = (envelope.headers ?? {}) as Record<string, unknown>;
    const props = (envelope.properties ?? {}) as Record<string, unknown>;
    const info = (props.delivery_info ?? {}) as Record<string, unknown>;
    const payload = JSON.stringify({
      ...envelope,
      headers: { ...headers, redelivered: true },
      properties: { ...props, delivery_info: { ...info, redelivered: true } },
    });
    // kombu puts restored messages on the plain list; we keep their priority.
    const step = priorityStep(props.priority as number | undefined);
    return { lists: queues.map((q) => listKey(q, step)), payload };
  }

  // ---- inspecting --------------------------------------------------------------

  async size(queue: string): Promise<number> {
    const client = await this.conn();
    await this.publishes.flush();
    const pipe = client.pipeline();
    for (const step of PRIORITY_STEPS) pipe.llen(listKey(queue, step));
    const results = (await pipe.exec()) ?? [];
    return results.reduce((n, [err, v]) => n + (err ? 0 : Number(v)), 0);
  }

  /** Removes the queue's ready and scheduled messages (not those leased to workers). */
  async purge(queue: string): Promise<number> {
    const client = await this.conn();
    await this.publishes.flush();
    const tx = client.multi();
    const keys = [...PRIORITY_STEPS.map((s) => listKey(queue, s))];
    for (const k of keys) tx.llen(k);
    tx.zcard(scheduleKey(queue));
    tx.del(...keys, scheduleKey(queue));
    const results = (await tx.exec()) ?? [];
    let n = 0;
    for (let i = 0; i <= keys.length; i++) n += Number(results[i]?.[1] ?? 0);
    return n;
  }

  // ---- broadcast and shared limits ----------------------------------------------

  async publishFanout(exchange: string, routingKey: string, message: Message): Promise<void> {
    const client = await this.conn();
    if (exchange === PIDBOX_EXCHANGE) await this.bindReplyQueue(client, message);
    await this.fanout.publish(client, exchange, routingKey, message);
  }

  /**
   * A control request names its reply routing key; bind it to the reply queue
   * before the request goes out (kombu's Mailbox declares its reply queue the
   * same way), since Python workers route replies only through that binding.
   */
  private async bindReplyQueue(client: Redis, message: Message): Promise<void> {
    type ReplyTo = { exchange?: unknown; routing_key?: unknown };
    let replyTo: ReplyTo | null;
    try {
      replyTo = (JSON.parse(message.body.toString("utf8")) as { reply_to?: ReplyTo | null }).reply_to ?? null;
    } catch {
      return;
    }
    if (!replyTo || typeof replyTo.routing_key !== "string" || !replyTo.routing_key) return;
    const exchange = typeof replyTo.exchange === "string" && replyTo.exchange ? replyTo.exchange : REPLY_EXCHANGE;
    await client.sadd(`_kombu.binding.${exchange}`, [replyTo.routing_key, "", replyTo.routing_key].join(SEP));
  }

  subscribeFanout(exchange: string, pattern: string, handler: (message: Message, routingKey: string) => void): Promise<() => Promise<void>> {
    return this.fanout.subscribe(exchange, pattern, handler);
  }

  async takeToken(key: string, perSecond: number): Promise<number> {
    const client = await this.conn();
    return Number(await client.celeriacTakeToken(key, perSecond));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.fanout.close();
    this.closed = true;
    if (this.connecting) await this.connecting.catch(() => {});
    await this.publishes.flush().catch(() => {});
    this.writePendingLeases();
    const client = this.client;
    const blocker = this.blocker;
    this.client = null;
    this.blocker = null;
    blocker?.disconnect();
    if (client) await client.quit().catch(() => client.disconnect());
  }
}
