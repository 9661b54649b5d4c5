// rpc:// — results sent back as AMQP messages, as Celery's RPC backend does.
//
// The worker publishes each state (the meta of PROTOCOL.md §4) to the default
// exchange with routing key = the task's reply_to and correlation_id = the task
// id. The caller consumes its own reply queue (named by the app's oid, which
// every task it sends carries as reply_to) and keeps the latest state of each
// task in memory. So only the process that sent a task can see its result, a
// result is not stored anywhere else, and chords cannot work (no shared state
// to join on): chordJoin throws, as Celery does.
import { randomUUID } from "node:crypto";
import type { ConsumeMessage } from "amqplib";
import { AmqpSession, type Live } from "../brokers/amqp/session.js";
import { AmqpServers } from "../brokers/amqp/url.js";
import { ConfigurationError, DecodeError } from "../errors.js";
import { decodeBody, encodeJson } from "../protocol/serializers.js";
import { READY_STATES } from "../states.js";
import { schemeOf } from "../url.js";
import { OpenedOnce } from "../util/opened-once.js";
import type { BackendOptions, ResultBackend, ResultMeta, StoreRequest } from "./backend.js";
import { Waiters, type WaitOptions } from "./waiters.js";
import type { ResultTuple } from "../result.js";

const NO_CHORDS =
  'the "rpc://" result backend does not support chords (a group chained with a task is a chord too): ' +
  "results go to the caller only, so no worker can join them. Use a backend that stores results (redis://, sqlite://).";

/** How many task states are remembered (the latest per task); the oldest are forgotten first. */
const CACHE_SIZE = 100_000;

export class RpcBackend implements ResultBackend {
  readonly displayUrl = "rpc://";
  /** Celery: the rpc backend cannot carry chords (results go to one caller, nothing to join on). */
  readonly supportsChords = false;
  /** The queue results for this process arrive on. */
  readonly replyQueue: string;
  private readonly session: AmqpSession;
  private readonly expiresMs: number | null;
  private readonly latest = new Map<string, ResultMeta>();
  private readonly waiters = new Waiters();
  private readonly groups = new Map<string, ResultTuple[]>();
  /** Started once a reply queue is wanted; while it is, the queue is re-declared and consumed after every reconnect. */
  private readonly replying = new OpenedOnce<void>(async () => this.consumeReplies(await this.session.ready()));

  constructor(_url: string, opts: BackendOptions = {}) {
    const brokerUrl = opts.brokerUrl ?? "";
    if (!["amqp", "amqps", "pyamqp", "pyamqps"].includes(schemeOf(brokerUrl))) {
      throw new ConfigurationError(`the rpc:// result backend needs an AMQP broker (amqp://…), not ${brokerUrl ? schemeOf(brokerUrl) + "://" : "none"}`);
    }
    this.replyQueue = opts.replyTo ?? randomUUID();
    this.expiresMs = opts.resultExpires ? Math.round(opts.resultExpires * 1000) : null;
    this.session = new AmqpSession(new AmqpServers(brokerUrl, opts.failoverStrategy), {
      role: "results",
      setup: async (live) => {
        if (this.replying.started) await this.consumeReplies(live);
      },
    });
  }

  async connect(): Promise<void> {
    await this.session.connect();
  }

  /** Declares the reply queue as Celery does (not durable, auto-delete, x-expires = resultExpires) and consumes it. */
  private async consumeReplies(live: Live): Promise<void> {
    await live.sub.assertQueue(this.replyQueue, {
      durable: false,
      autoDelete: true,
      exclusive: false,
      arguments: this.expiresMs ? { "x-expires": this.expiresMs } : {},
    });
    await live.sub.consume(this.replyQueue, (msg) => this.onReply(msg), { noAck: true });
  }

  async onTaskCall(): Promise<void> {
    await this.replying.get();
  }

  private onReply(msg: ConsumeMessage | null): void {
    if (!msg) {
      // The reply queue was deleted: declare and consume it again.
      this.replying.forget();
      void this.replying.get().catch(() => {});
      return;
    }
    let meta: ResultMeta;
    try {
      const body = decodeBody(msg.content, msg.properties.contentType ?? "application/json", ["json", "msgpack"]);
      if (!body || typeof body !== "object" || typeof (body as ResultMeta).status !== "string") throw new DecodeError("reply is not a result meta");
      meta = body as ResultMeta;
    } catch (err) {
      this.session.log.warn(`rpc:// ignored a reply that is not a task result: ${(err as Error).message}`);
      return;
    }
    const id = (msg.properties.correlationId as string | undefined) ?? meta.task_id;
    if (!id) return;
    meta.task_id ??= id;
    this.remember(id, meta);
    if (READY_STATES.has(meta.status)) this.waiters.settle(id, meta);
  }

  private remember(id: string, meta: ResultMeta): void {
    this.latest.delete(id);
    this.latest.set(id, meta);
    if (this.latest.size > CACHE_SIZE) this.latest.delete(this.latest.keys().next().value!);
  }

  async store(meta: ResultMeta, request?: StoreRequest): Promise<void> {
    // Without a reply_to nobody waits for this result (Celery drops it too).
    const replyTo = request?.replyTo;
    if (!replyTo) return;
    const live = await this.session.ready();
    const body = Buffer.from(encodeJson(meta));
    await new Promise<void>((resolve, reject) =>
      live.pub.publish(
        "",
        replyTo,
        body,
        {
          correlationId: request.correlationId ?? meta.task_id,
          contentType: "application/json",
          contentEncoding: "utf-8",
          deliveryMode: 1,
        },
        (err) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve()),
      ),
    );
  }

  async get(taskId: string): Promise<ResultMeta | null> {
    return this.latest.get(taskId) ?? null;
  }

  async waitFor(taskId: string, opts?: WaitOptions): Promise<ResultMeta> {
    await this.replying.get();
    const now = this.latest.get(taskId);
    if (now && READY_STATES.has(now.status)) return now;
    return this.waiters.add(taskId, opts);
  }

  async forget(taskId: string): Promise<void> {
    this.latest.delete(taskId);
  }

  // Group membership is kept in this process only: rpc:// has no shared store.
  async saveGroup(groupId: string, members: readonly ResultTuple[]): Promise<void> {
    this.groups.set(groupId, structuredClone([...members]));
  }

  async restoreGroup(groupId: string): Promise<ResultTuple[] | null> {
    return this.groups.get(groupId) ?? null;
  }

  async deleteGroup(groupId: string): Promise<void> {
    this.groups.delete(groupId);
  }

  async chordJoin(): Promise<ResultMeta[] | null> {
    throw new ConfigurationError(NO_CHORDS);
  }

  async chordDone(): Promise<void> {
    throw new ConfigurationError(NO_CHORDS);
  }

  async close(): Promise<void> {
    this.waiters.failAll(new Error("rpc:// result backend closed"));
    await this.session.close();
  }
}
