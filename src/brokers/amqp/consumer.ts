// The pull-style fetch() served from basic.consume buffers, as kombu's
// Consumer feeds Celery's worker. basic.qos prefetch is set from the first
// fetch's `window` (the worker's whole prefetch window), so RabbitMQ never
// pushes more than the worker may hold. A delivery stays unacked in RabbitMQ
// until ack/reject: that is the lease. If the channel or connection goes,
// RabbitMQ requeues it. Leases also expire here after visibilityTimeout (nack
// + requeue) unless extended, like on every other broker; the worker renews
// them while it holds a message, so this only returns messages that were
// taken and forgotten.
import type { ConsumeMessage } from "amqplib";
import type { Delivery, FetchOptions } from "../broker.js";
import { LeaseTable } from "../lease-table.js";
import { AckTracker } from "./ack-tracker.js";
import { fromAmqp } from "./codec.js";
import type { Declarations } from "./declarations.js";
import type { AmqpSession, Live } from "./session.js";
import { StallWatch } from "./stall-watch.js";
import type { Topology } from "./topology.js";

interface Buffered {
  generation: number;
  queue: string;
  msg: ConsumeMessage;
}

/** How long an early-ack fetch waits for the next message of a trickle. */
const GATHER_GAP_MS = 3;

export class Consumer {
  /** Queues we consume, with the consumer tag on the current connection. */
  private readonly consuming = new Map<string, string | null>();
  private consumeSetup: Promise<void> | null = null;
  private prefetch = 0;
  private readonly buffers = new Map<string, ConsumeMessage[]>();
  private bufferGeneration = -1;
  private readonly waiters = new Set<() => void>();
  /** Expired leases go back to RabbitMQ, unless their channel went (it requeued them already). */
  private readonly leases = new LeaseTable<Buffered>((lease) => {
    if (lease.generation === this.session.currentGeneration) this.sendNack(lease.generation, lease.msg, true);
  });
  private rotate = 0;
  /** Outstanding delivery tags of the current consume channel. */
  private tracker = new AckTracker();
  private trackerGeneration = -1;
  /** Acks of this turn, not yet sent (sendAcks), and their channel generation. */
  private pendingAcks: number[] = [];
  private acksGeneration = -1;
  private acksScheduled = false;
  private closed = false;
  /** Consumers RabbitMQ stopped serving (see stall-watch.ts), checked one at a time. */
  private readonly stalls: StallWatch;
  private checkingStalls = false;

  constructor(
    private readonly session: AmqpSession,
    private readonly topology: Topology,
    private readonly declarations: Declarations,
    private readonly visibilityTimeout: number,
    /** Seconds without a delivery, while the queue has ready messages, before consuming again (0: never). */
    stallTimeout: number,
  ) {
    this.stalls = new StallWatch(stallTimeout * 1000);
  }

  /** After a (re)connect: prefetch as before, consume again what we consumed. */
  async onConnected(live: Live): Promise<void> {
    if (this.prefetch > 0) await live.sub.prefetch(this.prefetch);
    for (const queue of this.consuming.keys()) {
      await this.declarations.declareOn(live.sub, this.topology.queue(queue));
      await this.startConsumer(live, queue);
    }
  }

  /** The connection went: buffered messages and leases are void (RabbitMQ requeues them). */
  onLost(): void {
    for (const list of this.buffers.values()) list.length = 0;
    this.leases.clear();
    for (const q of this.consuming.keys()) this.consuming.set(q, null);
  }

  private async startConsumer(live: Live, queue: string): Promise<void> {
    const { consumerTag } = await live.sub.consume(queue, (msg) => this.onMessage(live.generation, queue, msg), { noAck: false });
    this.consuming.set(queue, consumerTag);
    this.stalls.served(queue);
  }

  private onMessage(generation: number, queue: string, msg: ConsumeMessage | null): void {
    if (msg === null) {
      // The queue was deleted: consume again (re-declaring it) on the next fetch.
      this.consuming.delete(queue);
      return;
    }
    if (generation !== this.session.currentGeneration) return;
    if (this.trackerGeneration !== generation) {
      this.tracker = new AckTracker();
      this.trackerGeneration = generation;
    }
    this.tracker.delivered(msg.fields.deliveryTag);
    if (!this.consuming.has(queue)) {
      // In flight when we stopped consuming this queue: straight back.
      this.sendNack(generation, msg, true);
      return;
    }
    if (this.bufferGeneration !== generation) {
      for (const list of this.buffers.values()) list.length = 0;
      this.bufferGeneration = generation;
    }
    let list = this.buffers.get(queue);
    if (!list) this.buffers.set(queue, (list = []));
    list.push(msg);
    this.stalls.served(queue);
    for (const wake of this.waiters) wake();
  }

  /**
   * Stops consuming a queue a fetch no longer asks for (the worker's
   * cancel_consumer): messages buffered for it go back to RabbitMQ at once.
   */
  private stopConsuming(queue: string): void {
    const tag = this.consuming.get(queue);
    this.consuming.delete(queue);
    this.stalls.forget(queue);
    const buffered = this.buffers.get(queue) ?? [];
    this.buffers.delete(queue);
    const generation = this.session.currentGeneration;
    void this.session.ready().then(
      async (live) => {
        if (live.generation !== generation) return;
        if (tag) await live.sub.cancel(tag).catch(() => {});
        for (const msg of buffered) this.sendNack(generation, msg, true);
      },
      () => {},
    );
  }

  /** Starts consumers for queues not consumed yet (prefetch set before the first one). */
  private async ensureConsuming(queues: readonly string[], max: number): Promise<void> {
    for (const q of this.consuming.keys()) if (!queues.includes(q)) this.stopConsuming(q);
    const missing = queues.filter((q) => !this.consuming.has(q));
    if (!missing.length) return;
    const setup = (async () => {
      await this.consumeSetup;
      const live = await this.session.ready();
      if (this.prefetch === 0) {
        this.prefetch = Math.max(1, max);
        await live.sub.prefetch(this.prefetch);
      }
      for (const q of missing) {
        if (this.consuming.has(q)) continue;
        await this.declarations.queue(q);
        this.consuming.set(q, null);
        try {
          await this.startConsumer(live, q);
        } catch (err) {
          this.consuming.delete(q);
          throw err;
        }
      }
    })();
    this.consumeSetup = setup.catch(() => {});
    await setup;
  }

  private take(queues: readonly string[], opts: FetchOptions): Delivery[] {
    const out: Delivery[] = [];
    const generation = this.session.currentGeneration;
    if (this.bufferGeneration !== generation) return out;
    const n = queues.length;
    const start = this.rotate++ % Math.max(1, n);
    for (let i = 0; i < n && out.length < opts.max; i++) {
      const queue = queues[(start + i) % n]!;
      const list = this.buffers.get(queue);
      if (!list?.length) continue;
      const got = list.splice(0, opts.max - out.length);
      for (const msg of got) {
        const tag = `${generation}:${msg.fields.deliveryTag}`;
        if (opts.lease) this.leases.add(tag, { generation, queue, msg }, this.visibilityTimeout * 1000);
        out.push({ tag, queue, message: fromAmqp(msg), redelivered: msg.fields.redelivered });
      }
      if (!opts.lease)
        this.sendAcks(
          generation,
          got.map((m) => m.fields.deliveryTag),
        );
    }
    return out;
  }

  async fetch(queues: readonly string[], opts: FetchOptions): Promise<Delivery[]> {
    const deadline = Date.now() + opts.waitMs;
    try {
      await this.ensureConsuming(queues, opts.window ?? opts.max);
    } catch (err) {
      // Not connected right now: wait (the session reconnects by itself) rather than spin.
      if (!this.session.isOpen && !this.closed) {
        await Promise.race([this.session.ready().catch(() => {}), new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())))]);
        return [];
      }
      throw err;
    }
    const got = this.take(queues, opts);
    if (got.length || opts.waitMs <= 0) return got;
    return new Promise((resolve) => {
      let settled = false;
      const finish = () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (gather) clearTimeout(gather);
        this.waiters.delete(wake);
        const got = this.take(queues, opts);
        if (!got.length) void this.checkStalls(queues);
        resolve(got);
      };
      // Deliveries arrive in bursts, parsed in one go: take them together once
      // the parse is over (a microtask later). Early-ack takes (lease false) free prefetch room as they go, so
      // RabbitMQ sends the rest in a trickle: gather until a short quiet gap, for
      // a full batch. Leased takes (the worker's) return at once, for latency.
      let gather: NodeJS.Timeout | null = null;
      const wake = () => {
        const ready = queues.reduce((n, q) => n + (this.buffers.get(q)?.length ?? 0), 0);
        if (!ready) return;
        if (opts.lease || ready >= opts.max) return void queueMicrotask(finish);
        if (gather) clearTimeout(gather);
        gather = setTimeout(finish, GATHER_GAP_MS);
      };
      const timer = setTimeout(finish, Math.max(0, deadline - Date.now()));
      this.waiters.add(wake);
    });
  }

  /**
   * After an empty wait: the queues idle for a while are checked (a passive
   * declare, on a channel of its own: a queue gone closes it), and a consumer
   * with room whose queue keeps ready messages consumes again.
   */
  private async checkStalls(queues: readonly string[]): Promise<void> {
    const live = this.session.current;
    if (this.checkingStalls || this.closed || !live) return;
    // A full prefetch window is why nothing comes: not a stall.
    if (live.generation === this.trackerGeneration && this.tracker.outstanding >= this.prefetch) return;
    const due = this.stalls.due(queues.filter((q) => this.consuming.get(q)));
    if (!due.length) return;
    this.checkingStalls = true;
    try {
      const channel = await live.conn.createChannel();
      try {
        for (const queue of due) {
          const { messageCount } = await channel.checkQueue(queue);
          if (!this.stalls.checked(queue, messageCount) || this.session.current !== live) continue;
          this.session.log.warn(`the consumer of ${queue} received nothing while the queue held ${messageCount} ready message(s): consuming again`);
          const tag = this.consuming.get(queue);
          if (tag) await live.sub.cancel(tag).catch(() => {});
          await this.startConsumer(live, queue);
        }
      } finally {
        await channel.close().catch(() => {});
      }
    } catch {
      // The connection is going: the session reconnects and consumes again by itself.
    } finally {
      this.checkingStalls = false;
    }
  }

  /**
   * Acks delivery tags of one channel generation, in as few frames as
   * possible: the acks of one event-loop turn are sent together at its end, so
   * a burst of tasks finishing one by one costs one multiple-ack, not one
   * frame (and one socket write) each.
   */
  private sendAcks(generation: number, tags: readonly number[]): void {
    if (!tags.length || generation !== this.trackerGeneration) return;
    if (generation !== this.acksGeneration) {
      this.flushAcks();
      this.acksGeneration = generation;
    }
    for (const t of tags) this.pendingAcks.push(t);
    if (this.acksScheduled) return;
    this.acksScheduled = true;
    setImmediate(() => this.flushAcks());
  }

  private flushAcks(): void {
    this.acksScheduled = false;
    const tags = this.pendingAcks;
    if (!tags.length) return;
    this.pendingAcks = [];
    const generation = this.acksGeneration;
    if (generation !== this.trackerGeneration) return;
    const { upTo, singles } = this.tracker.ack(tags);
    const live = this.session.current;
    // The channel is gone: RabbitMQ has put its unacked messages back already.
    if (!live || live.generation !== generation) return;
    const ack = (deliveryTag: number, multiple: boolean) => live.sub.ack({ fields: { deliveryTag } } as ConsumeMessage, multiple);
    if (upTo !== null) ack(upTo, true);
    for (const t of singles) ack(t, false);
  }

  private sendNack(generation: number, msg: ConsumeMessage, requeue: boolean): void {
    if (generation !== this.trackerGeneration) return;
    this.tracker.settle(msg.fields.deliveryTag);
    void this.session.ready().then(
      (live) => {
        if (live.generation === generation) live.sub.nack(msg, false, requeue);
      },
      () => {},
    );
  }

  ack(deliveries: readonly Delivery[]): void {
    const tags: number[] = [];
    let generation = -1;
    for (const d of deliveries) {
      const lease = this.leases.take(d.tag);
      if (!lease) continue; // acked already, or its channel is gone (RabbitMQ requeued it)
      if (lease.generation !== generation && tags.length) this.sendAcks(generation, tags.splice(0));
      generation = lease.generation;
      tags.push(lease.msg.fields.deliveryTag);
    }
    this.sendAcks(generation, tags);
  }

  /** Nacks a leased delivery; false when it holds no lease (taken without one, or its channel is gone). */
  reject(delivery: Delivery, requeue: boolean): boolean {
    const lease = this.leases.take(delivery.tag);
    if (!lease) return false;
    this.sendNack(lease.generation, lease.msg, requeue);
    return true;
  }

  extendLease(deliveries: readonly Delivery[]): void {
    this.leases.extend(
      deliveries.map((d) => d.tag),
      this.visibilityTimeout * 1000,
    );
  }

  close(): void {
    this.flushAcks();
    this.closed = true;
    this.leases.clear();
    for (const wake of this.waiters) wake();
  }
}
