// memory:// — an in-process broker for tests and single-process apps. Brokers
// with the same URL in one process share their queues.
import { randomUUID } from "node:crypto";
import type { Message } from "../protocol/message.js";
import {
  tokenBucketStep,
  topicMatches,
  type Broker,
  type BrokerOptions,
  type Delivery,
  type FetchOptions,
  type PublishOptions,
  type Route,
  type BoundQueue,
  type ScheduledMessage,
} from "./broker.js";
import { Deque } from "../util/deque.js";
import { LeaseTable } from "./lease-table.js";
import { MinHeap } from "../util/heap.js";

const PUBLISHED: Promise<void> = Promise.resolve();

interface Entry {
  seq: number;
  queue: string;
  priority: number;
  message: Message;
  deliveries: number;
}

class QueueStore {
  // priority -> FIFO of entries; priorities kept sorted, highest first.
  private readonly lanes = new Map<number, Deque<Entry>>();
  private order: number[] = [];
  count = 0;

  push(e: Entry): void {
    let lane = this.lanes.get(e.priority);
    if (!lane) {
      lane = new Deque<Entry>();
      this.lanes.set(e.priority, lane);
      this.order = [...this.lanes.keys()].sort((a, b) => b - a);
    }
    lane.push(e);
    this.count++;
  }

  shift(): Entry | undefined {
    for (const p of this.order) {
      const lane = this.lanes.get(p)!;
      if (lane.length) {
        this.count--;
        return lane.shift();
      }
    }
    return undefined;
  }

  clear(): number {
    const n = this.count;
    this.lanes.clear();
    this.order = [];
    this.count = 0;
    return n;
  }
}

class MemoryStore {
  readonly queues = new Map<string, QueueStore>();
  readonly scheduled = new MinHeap<{ at: number; entry: Entry }>((a, b) => a.at - b.at || a.entry.seq - b.entry.seq);
  /** Expired leases go back to their queue. */
  readonly leases = new LeaseTable<Entry>((entry) => this.makeReady(entry));
  readonly waiters = new Set<() => void>();
  readonly buckets = new Map<string, { tokens: number; updatedAt: number }>();
  readonly fanout = new Map<string, Set<{ pattern: string; handler: (m: Message, key: string) => void }>>();
  /** Queues bound by declareQueue, by `<exchange>\n<routing key>`. */
  readonly bindings = new Map<string, Set<string>>();
  seq = 0;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;

  queue(name: string): QueueStore {
    let q = this.queues.get(name);
    if (!q) {
      q = new QueueStore();
      this.queues.set(name, q);
    }
    return q;
  }

  makeReady(entry: Entry): void {
    this.queue(entry.queue).push(entry);
    for (const wake of this.waiters) wake();
  }

  /** Moves due scheduled messages into their queues. */
  promote(now: number): void {
    while (this.scheduled.size && this.scheduled.peek()!.at <= now) this.makeReady(this.scheduled.pop()!.entry);
    this.arm();
  }

  /** Keeps one timer armed for the next scheduled message. */
  arm(): void {
    const next = this.scheduled.size ? this.scheduled.peek()!.at : Infinity;
    if (next === this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = next;
    if (next === Infinity) return;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.timerAt = Infinity;
        this.promote(Date.now());
      },
      Math.max(0, next - Date.now()),
    );
    this.timer.unref();
  }
}

const stores = new Map<string, MemoryStore>();

export class MemoryBroker implements Broker {
  readonly displayUrl: string;
  readonly visibilityTimeout: number;
  readonly higherPriorityFirst = true;
  private readonly store: MemoryStore;

  constructor(url = "memory://", opts: BrokerOptions = {}) {
    this.displayUrl = url;
    this.visibilityTimeout = opts.visibilityTimeout ?? 3600;
    let store = stores.get(url);
    if (!store) {
      store = new MemoryStore();
      stores.set(url, store);
    }
    this.store = store;
  }

  async connect(): Promise<void> {}

  /** Not async: every publish returns the same settled promise, so the app's send guard is shared too (no promise per send). */
  publish(route: Route, message: Message, opts: PublishOptions = {}): Promise<void> {
    try {
      const s = this.store;
      const entry: Entry = { seq: s.seq++, queue: route.queue, priority: opts.priority ?? 0, message, deliveries: 0 };
      if (opts.eta && opts.eta > Date.now()) {
        s.scheduled.push({ at: opts.eta, entry });
        s.arm();
      } else {
        s.makeReady(entry);
      }
      return PUBLISHED;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  async fetch(queues: readonly string[], opts: FetchOptions): Promise<Delivery[]> {
    const got = this.take(queues, opts);
    if (got.length || opts.waitMs <= 0) return got;
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.store.waiters.delete(wake);
        resolve(this.take(queues, opts));
      };
      const wake = () => {
        if (queues.some((q) => (this.store.queues.get(q)?.count ?? 0) > 0)) done();
      };
      const timer = setTimeout(done, opts.waitMs);
      this.store.waiters.add(wake);
    });
  }

  private take(queues: readonly string[], opts: FetchOptions): Delivery[] {
    const out: Delivery[] = [];
    for (const name of queues) {
      const q = this.store.queues.get(name);
      while (q && out.length < opts.max) {
        const entry = q.shift();
        if (!entry) break;
        const redelivered = entry.deliveries > 0;
        entry.deliveries++;
        const tag = randomUUID();
        if (opts.lease) this.store.leases.add(tag, entry, this.visibilityTimeout * 1000);
        out.push({ tag, queue: name, message: entry.message, redelivered });
      }
    }
    return out;
  }

  async ack(deliveries: readonly Delivery[]): Promise<void> {
    for (const d of deliveries) this.store.leases.take(d.tag);
  }

  async reject(delivery: Delivery, requeue: boolean): Promise<void> {
    const entry = this.store.leases.take(delivery.tag);
    if (requeue) this.store.makeReady(entry ?? { seq: this.store.seq++, queue: delivery.queue, priority: 0, message: delivery.message, deliveries: 1 });
  }

  async extendLease(deliveries: readonly Delivery[]): Promise<void> {
    this.store.leases.extend(
      deliveries.map((d) => d.tag),
      this.visibilityTimeout * 1000,
    );
  }

  async size(queue: string): Promise<number> {
    return this.store.queues.get(queue)?.count ?? 0;
  }

  async purge(queue: string): Promise<number> {
    return this.store.queues.get(queue)?.clear() ?? 0;
  }

  async scheduled(queue: string, limit: number): Promise<{ total: number; messages: ScheduledMessage[] }> {
    const waiting = this.store.scheduled
      .values()
      .filter((s) => s.entry.queue === queue)
      .sort((a, b) => a.at - b.at || a.entry.seq - b.entry.seq);
    return { total: waiting.length, messages: waiting.slice(0, limit).map((s) => ({ message: s.entry.message, eta: s.at })) };
  }

  async releaseScheduled(queue: string, taskId: string): Promise<boolean> {
    const s = this.store.scheduled.remove((x) => x.entry.queue === queue && x.entry.message.headers.id === taskId);
    if (!s) return false;
    // Due now: without its eta header, else a worker would hand it back to the schedule.
    s.entry.message = { ...s.entry.message, headers: { ...s.entry.message.headers, eta: null } };
    this.store.makeReady(s.entry);
    this.store.arm();
    return true;
  }

  async takeToken(key: string, perSecond: number): Promise<number> {
    const now = Date.now();
    const b = this.store.buckets.get(key) ?? { tokens: 1, updatedAt: now };
    const [tokens, wait] = tokenBucketStep(b.tokens, b.updatedAt, now, perSecond);
    this.store.buckets.set(key, { tokens, updatedAt: now });
    return wait;
  }

  async publishFanout(exchange: string, routingKey: string, message: Message): Promise<void> {
    const subs = this.store.fanout.get(exchange);
    if (!subs) return;
    for (const s of subs) {
      // Delivered on a later tick, as over a network: never inside the publisher's call.
      if (topicMatches(s.pattern, routingKey)) setImmediate(() => s.handler(message, routingKey));
    }
  }

  async subscribeFanout(exchange: string, pattern: string, handler: (m: Message, key: string) => void): Promise<() => Promise<void>> {
    let subs = this.store.fanout.get(exchange);
    if (!subs) this.store.fanout.set(exchange, (subs = new Set()));
    const sub = { pattern, handler };
    subs.add(sub);
    return async () => void subs.delete(sub);
  }

  /** Message TTL and expiry are not kept: the queue lives until released. */
  async declareQueue(queue: BoundQueue): Promise<() => Promise<void>> {
    const key = `${queue.exchange}\n${queue.routingKey}`;
    let bound = this.store.bindings.get(key);
    if (!bound) this.store.bindings.set(key, (bound = new Set()));
    bound.add(queue.name);
    return async () => {
      bound.delete(queue.name);
      if (!bound.size && this.store.bindings.get(key) === bound) this.store.bindings.delete(key);
      this.store.queues.delete(queue.name);
    };
  }

  async publishDirect(exchange: string, routingKey: string, message: Message): Promise<void> {
    for (const queue of this.store.bindings.get(`${exchange}\n${routingKey}`) ?? []) await this.publish({ queue }, message);
  }

  async close(): Promise<void> {}
}
