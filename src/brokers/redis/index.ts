// redis:// and rediss:// — kombu's Redis transport layout, so Python Celery
// producers and workers share queues with us (../shared/PROTOCOL.md §2): a
// queue is a list of JSON envelopes (base64 body), producers LPUSH, consumers
// pop from the right (key names in ./keys.ts). Taking messages is ./fetcher.ts,
// their unacked entries ./leases.ts, broadcast ./fanout.ts; this file publishes
// and ties them to the connections.
import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { createLogger } from "../../log.js";
import { toEnvelope, type Message } from "../../protocol/message.js";
import { connectAll, connectAny, openRedis, openSubscriber } from "../../redis/connection.js";
import { RedisTarget, type RedisTargetOptions } from "../../redis/target.js";
import { WriteBatcher } from "../../util/batcher.js";
import type { Broker, BoundQueue, BrokerOptions, Delivery, FetchOptions, PublishOptions, Route, ScheduledMessage } from "../broker.js";
import { defineBrokerScripts, type BrokerRedis } from "./client.js";
import { RedisFanout } from "./fanout.js";
import { RedisFetcher } from "./fetcher.js";
import { bindingKey, bindingMember, FANOUT_SLOT_KEY, PRIORITY_STEPS, priorityStep, QUEUE_LIFETIMES, SEP } from "./keys.js";
import { KeyLayout } from "./layout.js";
import { RedisLeases } from "./leases.js";
import { listScheduled, releaseScheduled } from "./schedule.js";

export { listKey, PRIORITY_STEPS, priorityStep, scheduleKey } from "./keys.js";

export interface RedisBrokerOptions extends BrokerOptions, RedisTargetOptions {
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

/** One command of a publish batch, and the slot group its key is in: a queue's (KeyLayout.groupOf), or "\0<key>" for a key outside every queue's. */
interface GroupedCommand {
  group: string;
  args: (string | number)[];
}

interface Outgoing {
  queue: string;
  step: number;
  envelope: string;
  /** Epoch ms for the schedule, or 0 for the list. */
  eta: number;
  binding: string | null;
}

/** Commands by slot group, each group's in their order (Map.groupBy is Node 21). */
function groupCommands(commands: GroupedCommand[]): GroupedCommand[][] {
  const groups = new Map<string, GroupedCommand[]>();
  for (const c of commands) {
    const g = groups.get(c.group);
    if (g) g.push(c);
    else groups.set(c.group, [c]);
  }
  return [...groups.values()];
}

/** Past this many, the cache of declared bindings starts over. */
const MAX_BOUND_CACHE = 10_000;

export class RedisBroker implements Broker {
  readonly displayUrl: string;
  readonly visibilityTimeout: number;
  readonly higherPriorityFirst = false;
  private readonly target: RedisTarget;
  private readonly etaInQueue: boolean;
  private client: BrokerRedis | null = null;
  /** Blocking reads get their own connection: a BRPOP holds its connection until it returns. */
  private blocker: Redis | null = null;
  /** Sharded by queue, a worker consuming several queues: one blocking connection per queue (see sharded-wait.ts). */
  private readonly queueBlockers = new Map<string, Promise<Redis>>();
  private connecting: Promise<void> | null = null;
  private closed = false;
  private readonly publishes: WriteBatcher<Outgoing>;
  private readonly bound = new Set<string>();
  private readonly log = createLogger("celeriac.redis");
  private readonly fanout: RedisFanout;
  private readonly leases: RedisLeases;
  private readonly fetcher: RedisFetcher;
  private readonly layout: KeyLayout;

  constructor(url: string, opts: RedisBrokerOptions = {}) {
    this.target = new RedisTarget(url, opts);
    this.displayUrl = this.target.displayUrl;
    this.visibilityTimeout = opts.visibilityTimeout ?? 3600;
    this.etaInQueue = opts.etaInQueue ?? false;
    this.layout = new KeyLayout(this.target.shardByQueue, {
      unacked: opts.unackedKey ?? "unacked",
      index: opts.unackedIndexKey ?? "unacked_index",
      mutex: opts.unackedMutexKey ?? "unacked_mutex",
    });
    this.leases = new RedisLeases(this.layout, opts.unackedMutexExpire ?? 300, this.visibilityTimeout, () => this.client, this.log);
    this.fetcher = new RedisFetcher(
      this.leases,
      this.log,
      () => this.closed,
      (queue) => this.queueBlocker(queue),
      async (list, envelopes) => {
        await this.client?.rpush(list, ...[...envelopes].reverse());
      },
      this.target.keyPrefix,
    );
    // Up to 1,000 a batch: a loop of sends writes as it goes, so it holds one batch of
    // envelopes at a time, young enough for the scavenger (bulk enqueue +25 % over 10,000).
    this.publishes = new WriteBatcher((batch) => this.writePublishes(batch), 1_000, "microtask");
    this.fanout = new RedisFanout(
      this.target.keyPrefix,
      this.target.db,
      () => openSubscriber(this.target, this.log, "broker (pub/sub)"),
      (reason) => this.log.warn(reason),
      this.target.cluster ? FANOUT_SLOT_KEY : null,
    );
  }

  async connect(): Promise<void> {
    if (this.client) return;
    this.connecting ??= (async () => {
      // No auto-pipelining: every call here is one command or an explicit pipeline already,
      // and auto-pipelining would hold a fetch back until the worker's current burst of
      // tasks ends, leaving it idle for a round trip after each burst.
      const [client, blocker] = await connectAny(this.target, () => [
        defineBrokerScripts(openRedis(this.target, this.log, { role: "broker", autoPipelining: false, watchStall: true })),
        openRedis(this.target, this.log, { role: "broker (blocking reads)", offlineQueue: false }),
      ]);
      this.client = client;
      this.blocker = blocker;
    })();
    try {
      await this.connecting;
    } finally {
      this.connecting = null;
    }
  }

  private async conn(): Promise<BrokerRedis> {
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
    try {
      const queue = route.queue;
      this.layout.check(queue);
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
   * One pipeline per batch; consecutive messages for one list go in one LPUSH.
   * A batch of one command (one message to a known queue: a send followed by
   * its get()) goes without a pipeline object, most of such a send's garbage.
   */
  private async writePublishes(batch: Outgoing[]): Promise<void> {
    // Connected: the commands go out now, in the caller's turn (see WriteBatcher.flush).
    const client = this.client ?? (await this.conn());
    const commands: GroupedCommand[] = [];
    let list: (string | number)[] | null = null;
    for (const o of batch) {
      if (o.binding && !this.bound.has(o.binding)) {
        if (this.bound.size >= MAX_BOUND_CACHE) this.bound.clear();
        const [exchange, routingKey, queue] = o.binding.split("\n") as [string, string, string];
        // Each binding set is a key of its own (in its own slot when sharded): a group of its own.
        const key = bindingKey(exchange);
        commands.push({ group: `\0${key}`, args: ["sadd", key, bindingMember(routingKey, queue)] });
        this.bound.add(o.binding);
        list = null;
      }
      const group = this.layout.groupOf(o.queue);
      if (o.eta) {
        commands.push({ group, args: ["zadd", this.layout.schedule(o.queue), o.eta, `${o.step}${o.envelope}`] });
        this.fetcher.scheduled(o.eta);
        list = null;
        continue;
      }
      const key = this.layout.list(o.queue, o.step);
      if (list?.[1] === key) list.push(o.envelope);
      else commands.push({ group, args: (list = ["lpush", key, o.envelope]) });
    }
    // A cluster pipeline stays within one slot: sharded by queue, one per queue (and one for the bindings).
    const pipelines = this.layout.byQueue ? groupCommands(commands) : [commands];
    await Promise.all(pipelines.map((p) => this.send(client, p)));
  }

  /**
   * A batch of one command (one message to a known queue: a send followed by
   * its get()) goes without a pipeline object, most of such a send's garbage.
   */
  private async send(client: BrokerRedis, commands: GroupedCommand[]): Promise<void> {
    if (commands.length === 1) {
      const [name, ...args] = commands[0]!.args;
      await client.call(name as string, ...args);
      return;
    }
    const results = await client.pipeline(commands.map((c) => c.args)).exec();
    for (const [err] of results ?? []) if (err) throw err;
  }

  // ---- consuming -------------------------------------------------------------

  async fetch(queues: readonly string[], opts: FetchOptions): Promise<Delivery[]> {
    if (!queues.length) return [];
    // Connected, everything up to the script call happens in the caller's turn (see RedisFetcher.fetch).
    const client = this.client ?? (await this.conn());
    // This process's publishes go out before the fetch, on the same connection, so
    // it sees its own messages; their replies need no waiting for.
    void this.publishes.flush();
    return this.fetcher.fetch(client, this.blocker!, queues, opts);
  }

  /** Connected before its first pop: with no offline queue, a pop on a connection still starting would fail. */
  private queueBlocker(queue: string): Promise<Redis> {
    let blocker = this.queueBlockers.get(queue);
    if (!blocker) {
      const client = openRedis(this.target, this.log, { role: `broker (blocking reads of ${queue})`, offlineQueue: false });
      blocker = connectAll(this.target.displayUrl, [client]).then(() => client);
      // A failed connect fails the pop that awaits it; the next pop opens a new connection.
      blocker.catch(() => {
        client.disconnect();
        if (this.queueBlockers.get(queue) === blocker) this.queueBlockers.delete(queue);
      });
      this.queueBlockers.set(queue, blocker);
    }
    return blocker;
  }

  flushLeases(acked: Delivery | null): void {
    this.leases.flush(acked);
  }

  // ---- settling --------------------------------------------------------------

  async ack(deliveries: readonly Delivery[]): Promise<void> {
    await this.leases.ack(() => this.conn(), deliveries);
  }

  async reject(delivery: Delivery, requeue: boolean): Promise<void> {
    await this.leases.reject(() => this.conn(), delivery, requeue);
  }

  async extendLease(deliveries: readonly Delivery[]): Promise<void> {
    await this.leases.extend(() => this.conn(), deliveries);
  }

  // ---- inspecting --------------------------------------------------------------

  async size(queue: string): Promise<number> {
    const client = await this.conn();
    await this.publishes.flush();
    const pipe = client.pipeline();
    for (const step of PRIORITY_STEPS) pipe.llen(this.layout.list(queue, step));
    const results = (await pipe.exec()) ?? [];
    return results.reduce((n, [err, v]) => n + (err ? 0 : Number(v)), 0);
  }

  /** Removes the queue's ready and scheduled messages (not those leased to workers). */
  async purge(queue: string): Promise<number> {
    const client = await this.conn();
    await this.publishes.flush();
    const tx = client.multi();
    const keys = [...PRIORITY_STEPS.map((s) => this.layout.list(queue, s))];
    const schedule = this.layout.schedule(queue);
    for (const k of keys) tx.llen(k);
    tx.zcard(schedule);
    tx.del(...keys, schedule);
    const results = (await tx.exec()) ?? [];
    let n = 0;
    for (let i = 0; i <= keys.length; i++) n += Number(results[i]?.[1] ?? 0);
    return n;
  }

  async scheduled(queue: string, limit: number): Promise<{ total: number; messages: ScheduledMessage[] }> {
    const client = await this.conn();
    await this.publishes.flush();
    return listScheduled(client, this.layout, queue, limit);
  }

  async releaseScheduled(queue: string, taskId: string): Promise<boolean> {
    const client = await this.conn();
    await this.publishes.flush();
    return releaseScheduled(client, this.layout, queue, taskId);
  }

  // ---- broadcast and shared limits ----------------------------------------------

  async publishFanout(exchange: string, routingKey: string, message: Message): Promise<void> {
    const client = await this.conn();
    await this.fanout.publish(client, exchange, routingKey, message);
  }

  /**
   * A binding in kombu's table, so Python publishers route to the queue too.
   * The queue's lifetime (the longer of its message TTL and expiry) becomes its
   * list's TTL on each publish, so a requester that dies leaves nothing behind for long.
   */
  async declareQueue(queue: BoundQueue): Promise<() => Promise<void>> {
    this.layout.check(queue.name);
    const client = await this.conn();
    const member = bindingMember(queue.routingKey, queue.name);
    const lifetimeMs = Math.max(queue.messageTtlMs ?? 0, queue.expiresMs ?? 0);
    const writes: (string | number)[][] = [["sadd", bindingKey(queue.exchange), member]];
    if (lifetimeMs > 0) writes.push(["hset", QUEUE_LIFETIMES, queue.name, lifetimeMs]);
    await this.together(client, writes);
    return async () => {
      await this.together(client, [
        ["srem", bindingKey(queue.exchange), member],
        ["hdel", QUEUE_LIFETIMES, queue.name],
      ]);
      await this.purge(queue.name);
    };
  }

  /** In one MULTI where the keys share a slot; sharded by queue, the binding table and the lifetimes do not. */
  private async together(client: BrokerRedis, commands: (string | number)[][]): Promise<void> {
    if (this.layout.byQueue) {
      await Promise.all(commands.map(([name, ...args]) => client.call(name as string, ...args)));
      return;
    }
    const results = await client.multi(commands).exec();
    for (const [err] of results ?? []) if (err) throw err;
  }

  /**
   * As kombu's _lookup: to every queue bound to the routing key (one atomic
   * script; sharded by queue, where the queues are in slots of their own, a
   * push per queue).
   */
  async publishDirect(exchange: string, routingKey: string, message: Message): Promise<void> {
    const client = await this.conn();
    const envelope = toEnvelope({ ...message, properties: { ...message.properties, delivery_info: { exchange, routing_key: routingKey } } });
    if (!this.layout.byQueue) {
      await client.celeriacPublishDirect(bindingKey(exchange), QUEUE_LIFETIMES, routingKey, envelope, SEP, this.target.keyPrefix);
      return;
    }
    const bound = `${routingKey}${SEP}${SEP}`;
    const queues = (await client.smembers(bindingKey(exchange)))
      .filter((m) => m.startsWith(bound) && m.length > bound.length)
      .map((m) => m.slice(bound.length));
    if (!queues.length) return;
    const lifetimes = await client.hmget(QUEUE_LIFETIMES, ...queues);
    await Promise.all(
      queues.map(async (q, i) => {
        const key = this.layout.list(q, 0);
        const ms = Number(lifetimes[i] ?? 0);
        if (ms > 0) await client.multi().lpush(key, envelope).pexpire(key, ms).exec();
        else await client.lpush(key, envelope);
      }),
    );
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
    // Taken by a sharded wait's pops and leased, never handed out: back to their queues now,
    // not after the visibility timeout.
    const held = this.fetcher.takenButNotDelivered();
    if (held.length && this.client) await Promise.all(held.map((d) => this.leases.reject(() => this.conn(), d, true).catch(() => {})));
    this.leases.writePending();
    const client = this.client;
    const blocker = this.blocker;
    this.client = null;
    this.blocker = null;
    blocker?.disconnect();
    for (const b of this.queueBlockers.values())
      void b.then(
        (c) => c.disconnect(),
        () => {},
      );
    this.queueBlockers.clear();
    if (client) await client.quit().catch(() => client.disconnect());
  }
}
