// memory:// — an in-process broker for tests and single-process apps. Brokers
// with the same URL in one process share their queues.
import { randomUUID } from "node:crypto";
import type { Message } from "../protocol/message.js";
import { tokenBucketStep, topicMatches, type Broker, type BrokerOptions, type Delivery, type FetchOptions, type PublishOptions, type Route } from "./broker.js";
import { Deque } from "../util/deque.js";
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

interface Lease {
  entry: Entry;
  until: number;
}

class MemoryStore {
  readonly queues = new Map<string, QueueStore>();
  readonly scheduled = new MinHeap<{ at: number; entry: Entry }>((a, b) => a.at - b.at || a.entry.seq - b.entry.seq);
  readonly leases = new Map<string, Lease>();
  readonly waiters = new Set<() => void>();
  readonly buckets = new Map<string, { tokens: number; updatedAt: number }>();
  readonly fanout = new Map<string, Set<{ pattern: string; handler: (m: Message, key: string) => void }>>();
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

  /** Moves due scheduled messages and expired leases back into their queues. */
  promote(now: number): void {
    while (this.scheduled.size && this.scheduled.peek()!.at <= now) this.makeReady(this.scheduled.pop()!.entry);
    for (const [tag, lease] of this.leases) {
      if (lease.until <= now) {
        this.leases.delete(tag);
        this.makeReady(lease.entry);
      }
    }
    this.arm();
  }

  /** Keeps one timer armed for the next scheduled message or lease expiry. */
  arm(): void {
    let next = this.scheduled.size ? this.scheduled.peek()!.at : Infinity;
    for (const lease of this.leases.values()) next = Math.min(next, lease.until);
    if (next === this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = next;
    if (next === Infinity) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerAt = Infinity;
      this.promote(Date.now());
    }, Math.max(0, next - Date.now()));
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
    const now = Date.now();
    for (const name of queues) {
      const q = this.store.queues.get(name);
      while (q && out.length < opts.max) {
        const entry = q.shift();
        if (!entry) break;
        const redelivered = entry.deliveries > 0;
        entry.deliveries++;
        const tag = randomUUID();
        if (opts.lease) this.store.leases.set(tag, { entry, until: now + this.visibilityTimeout * 1000 });
        out.push({ tag, queue: name, message: entry.message, redelivered });
      }
    }
    if (opts.lease && out.length) this.store.arm();
    return out;
  }

  async ack(deliveries: readonly Delivery[]): Promise<void> {
    for (const d of deliveries) this.store.leases.delete(d.tag);
  }

  async reject(delivery: Delivery, requeue: boolean): Promise<void> {
    const lease = this.store.leases.get(delivery.tag);
    this.store.leases.delete(delivery.tag);
    if (requeue) this.store.makeReady(lease?.entry ?? { seq: this.store.seq++, queue: delivery.queue, priority: 0, message: delivery.message, deliveries: 1 });
  }

  async extendLease(deliveries: readonly Delivery[]): Promise<void> {
    const until = Date.now() + this.visibilityTimeout * 1000;
    for (const d of deliveries) {
      const lease = this.store.leases.get(d.tag);
      if (lease) lease.until = until;
    }
  }

  async size(queue: string): Promise<number> {
    return this.store.queues.get(queue)?.count ?? 0;
  }

  async purge(queue: string): Promise<number> {
    return this.store.queues.get(queue)?.clear() ?? 0;
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

  async close(): Promise<void> {}
}
