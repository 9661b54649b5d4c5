// Taking messages: the fetch script (due ETA messages moved to their lists,
// then a leased batch, in one round trip), and a blocking pop to wait for the
// next push without polling. Messages with a future ETA wait in a sorted set
// per queue until the script moves them: a worker does not hold them in
// memory, and a countdown longer than the visibility timeout runs once.
import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import type { Logger } from "../../log.js";
import { readEnvelope } from "../../protocol/message.js";
import type { Delivery, FetchOptions } from "../broker.js";
import type { BrokerRedis } from "./client.js";
import { PRIORITY_STEPS } from "./keys.js";
import type { RedisDelivery, RedisLeases } from "./leases.js";
import { ShardedWait, type Popped } from "./sharded-wait.js";

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

/** What the fetch loop knows of one set of queues between calls. */
interface FetchState {
  /** The last blocking pop took fewer messages than it asked for: the lists were likely empty. */
  drained: boolean;
  /** When the fetch script last ran (epoch ms). */
  scriptRanAt: number;
  /** The earliest ETA in the queues' schedules when the script last looked, or one published since (epoch ms). */
  nextEtaAt: number;
}

export class RedisFetcher {
  private readonly states = new Map<string, FetchState>();
  private rotation = 0;
  /** Whether the server has BLMPOP (null: not tried yet). */
  private hasBlmpop: boolean | null = null;

  /** Sharded by queue with several queues: a blocking pop per queue at once (see sharded-wait.ts). */
  private readonly shardedWait: ShardedWait;

  constructor(
    private readonly leases: RedisLeases,
    private readonly log: Logger,
    private readonly isClosed: () => boolean,
    /** The blocking connection of one queue, sharded by queue with several queues. */
    blockerFor: (queue: string) => Promise<Redis>,
    /** Where messages popped after close go back (the main connection). */
    putBack: (list: string, envelopes: string[]) => Promise<void>,
    /** The globalKeyprefix, which a blocking pop's reply names the list with. */
    private readonly keyPrefix = "",
  ) {
    this.shardedWait = new ShardedWait({
      pop: (blocker, lists, blockMs, count) => this.blockingPop(blocker, lists, blockMs, count),
      blockerFor,
      isClosed,
      putBack: (popped) => putBack(popped.list, popped.envelopes),
    });
  }

  /** Messages the sharded wait took and no fetch handed out: the closing broker gives them back. */
  takenButNotDelivered(): Delivery[] {
    return this.shardedWait.drain();
  }

  /** A message of this process was scheduled for `eta`: a fetch loop then runs the script by that time, without waiting its second. */
  scheduled(eta: number): void {
    for (const state of this.states.values()) state.nextEtaAt = Math.min(state.nextEtaAt, eta);
  }

  /**
   * Not awaiting before the script call: the worker asks for its next batch
   * before it runs the one in hand, and the request must be on the wire by
   * then, not a microtask after the whole batch has run.
   */
  async fetch(client: BrokerRedis, blocker: Redis, queues: readonly string[], opts: FetchOptions): Promise<Delivery[]> {
    const state = this.stateOf(queues);
    // Rotate the queue order on each call, so that no queue starves another at equal priority.
    const nq = queues.length;
    const start = this.rotation++ % nq;
    const order = nq === 1 ? queues : [...queues.slice(start), ...queues.slice(0, start)];
    const layout = this.leases.layout;
    for (const q of order) layout.check(q);
    // One script call per slot group: all the queues at once, or each alone when sharded by queue.
    const groups = layout.groups(order).map((g) => this.plan(g));
    const max = Math.max(1, Math.min(MAX_BATCH, opts.max));
    const deadline = Date.now() + Math.max(0, opts.waitMs);
    const sharded = groups.length > 1;
    for (;;) {
      // What the pops of an earlier wait took meanwhile (leased already) comes first.
      if (sharded) {
        const taken = this.shardedWait.takeTaken(max);
        if (taken.length) return taken;
      }
      const now = Date.now();
      for (const g of groups) if (now >= this.leases.nextRestoreAt(g.queues)) await this.leases.restoreExpired(client, now, g.queues);
      // The script moves due ETA messages and takes a leased batch. Right after a blocking
      // pop that emptied the lists it would find nothing: the pop is tried first then.
      const skipScript = state.drained && now - state.scriptRanAt < MAX_BLOCK_MS && now < state.nextEtaAt;
      state.drained = false;
      if (!skipScript) {
        const out: Delivery[] = [];
        let nextEtaAt = Infinity;
        for (const g of groups) {
          // Full before the last group: its schedule is looked at again within the second.
          if (out.length >= max) {
            nextEtaAt = Math.min(nextEtaAt, now + MAX_BLOCK_MS);
            break;
          }
          // Buffers, not strings: ioredis would make each envelope a string in the reply's
          // array, which the scavenger keeps and promotes (a third of the worker's GC time);
          // parsed from the Buffer, only the parsed message is made.
          const [nextEta, flat] = await client.celeriacFetchBuffer(
            g.keys.length,
            ...g.keys,
            max - out.length,
            opts.lease ? "1" : "0",
            (now / 1000).toFixed(6),
            now,
            g.queues.length,
            ...g.queues,
          );
          if (nextEta.length) nextEtaAt = Math.min(nextEtaAt, Number(nextEta.toString()));
          for (const d of this.toDeliveries(flat, g.queues, opts.lease)) out.push(d);
        }
        state.scriptRanAt = now;
        state.nextEtaAt = nextEtaAt;
        if (out.length || this.isClosed()) return out;
      }
      const left = deadline - Date.now();
      if (left <= 0) return [];
      const restoreIn = Math.min(...groups.map((g) => this.leases.nextRestoreAt(g.queues))) - Date.now();
      const block = Math.min(left, MAX_BLOCK_MS, restoreIn, state.nextEtaAt - Date.now());
      if (block <= 1) continue;
      // Wait for a push to any of the lists, without polling.
      const count = Math.min(max, MAX_UNLEASED_POP);
      if (sharded) {
        // Queues in several slots cannot be waited on in one blocking pop: one each, at once.
        const targets = groups.map((g) => ({
          key: g.queues[0]!,
          lists: g.lists,
          deliver: (p: Popped) =>
            this.toDeliveries(
              p.envelopes.flatMap((e) => [g.lists.indexOf(p.list), e, ""]),
              g.queues,
              opts.lease,
            ),
        }));
        await this.shardedWait.wait(targets, block, count);
        continue;
      }
      const g = groups[0]!;
      let popped: Popped | null;
      try {
        popped = await this.blockingPop(blocker, g.lists, block, count);
      } catch (err) {
        if (this.isClosed()) return [];
        throw err;
      }
      if (!popped) continue;
      if (this.isClosed()) {
        // Closing while messages were in hand: put them back where they were, in their order.
        await client.rpush(popped.list, ...popped.envelopes.reverse()).catch(() => {});
        return [];
      }
      // Fewer than asked for: that list is empty now (and the ones before it were).
      state.drained = popped.envelopes.length < count;
      // Hand them over at once, without another round trip (the lists were empty a moment
      // ago, so this is the latency case). The leases are written on the same connection
      // as acks, so they reach Redis before any ack or renewal of the messages.
      const k = g.lists.indexOf(popped.list);
      return this.toDeliveries(
        popped.envelopes.flatMap((e) => [k, e, ""]),
        g.queues,
        opts.lease,
      );
    }
  }

  /** The script's keys for queues that share a slot: unacked hash and index, schedules, lists priority-major. */
  private plan(queues: readonly string[]): { queues: readonly string[]; keys: string[]; lists: string[] } {
    const layout = this.leases.layout;
    const lists: string[] = [];
    for (const step of PRIORITY_STEPS) for (const q of queues) lists.push(layout.list(q, step));
    const q0 = queues[0]!;
    return { queues, keys: [layout.unacked(q0), layout.index(q0), ...queues.map((q) => layout.schedule(q)), ...lists], lists };
  }

  private stateOf(queues: readonly string[]): FetchState {
    const key = queues.join("\n");
    let state = this.states.get(key);
    if (!state) this.states.set(key, (state = { drained: false, scriptRanAt: 0, nextEtaAt: Infinity }));
    return state;
  }

  /**
   * Up to `count` messages from the first of the lists that has any, waiting up
   * to `blockMs` for one: BLMPOP where the server has it (Redis 7), else BRPOP
   * (one message).
   */
  private async blockingPop(blocker: Redis, lists: string[], blockMs: number, count: number): Promise<Popped | null> {
    const timeout = (blockMs / 1000).toFixed(3);
    if (this.hasBlmpop !== false) {
      try {
        const reply = (await blocker.call("BLMPOP", timeout, lists.length, ...lists, "RIGHT", "COUNT", count)) as [string, string[]] | null;
        this.hasBlmpop = true;
        return reply && { list: this.unprefixed(reply[0]), envelopes: reply[1] };
      } catch (err) {
        if (this.hasBlmpop || !/unknown command/i.test((err as Error).message)) throw err;
        this.hasBlmpop = false;
      }
    }
    const popped = await blocker.brpop(...lists, timeout);
    return popped && { list: this.unprefixed(popped[0]), envelopes: [popped[1]] };
  }

  /** ioredis prefixes the keys it sends, not those Redis sends back. */
  private unprefixed(key: string): string {
    return this.keyPrefix && key.startsWith(this.keyPrefix) ? key.slice(this.keyPrefix.length) : key;
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
      if (lease && !leasedAs) this.leases.record(d, text.toString());
      out.push(d);
    }
    return out;
  }
}
