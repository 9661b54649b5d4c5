// One AMQP connection that comes back by itself. A session keeps a connection
// with a confirm channel for publishing and a channel for consuming; when the
// connection (or either channel) is lost it reconnects with backoff, runs the
// owner's setup again (declarations, consumers), and bumps `generation`, so
// the owner can tell stale delivery tags from live ones. RabbitMQ puts every
// unacked message of a lost channel back in its queue: nothing is lost.
import { EventEmitter } from "node:events";
import amqp, { type Channel, type ChannelModel, type ConfirmChannel } from "amqplib";
import { BrokerAuthenticationError, BrokerConnectionError } from "../../errors.js";
import { maskUrl } from "../../url.js";
import { createLogger, type Logger } from "../../log.js";
import type { AmqpUrl } from "./url.js";

/** The broker could not be reached, or the session was closed. */
export class AmqpConnectionError extends BrokerConnectionError {}

/** RabbitMQ refused the login (403 ACCESS_REFUSED): a wrong user or password, or no access to the vhost. */
const AUTH_FAILURE = /ACCESS[-_]REFUSED|403/;

/** amqp.connect's failure as one of ours, naming the masked URL and the real cause. */
function connectFailure(display: string, err: Error): BrokerConnectionError {
  const text = `cannot connect to ${display}: ${maskUrl(err.message)}`;
  return AUTH_FAILURE.test(err.message) ? new BrokerAuthenticationError(text) : new AmqpConnectionError(text);
}

export interface Live {
  conn: ChannelModel;
  pub: ConfirmChannel;
  sub: Channel;
  generation: number;
}

export interface SessionOptions {
  /** Runs after every (re)connect, before the session is ready: declare, consume. */
  setup?: (live: Live) => Promise<void>;
  /** Reconnect attempts before giving up (null: forever). */
  maxRetries?: number | null;
  log?: Logger;
  /** Which connection this is in log lines: "broker" (default), "results". */
  role?: string;
}

const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 5_000;

export class AmqpSession extends EventEmitter {
  private live: Live | null = null;
  private pending: Promise<Live> | null = null;
  private closed = false;
  private generation = 0;
  private admin: Promise<Channel> | null = null;
  readonly log: Logger;
  private readonly role: string;

  constructor(readonly url: AmqpUrl, private readonly opts: SessionOptions = {}) {
    super();
    this.log = opts.log ?? createLogger("celeriac.amqp");
    this.role = opts.role ?? "broker";
  }

  get isOpen(): boolean {
    return this.live !== null;
  }

  /**
   * The newest connection's generation, counted from its opening: consumers
   * started during setup deliver before the session is ready, and those
   * deliveries belong to it.
   */
  get currentGeneration(): number {
    return this.generation;
  }

  /** The first connection: fails at once when the broker cannot be reached. */
  async connect(): Promise<void> {
    if (this.live) return;
    await (this.pending ??= this.open().finally(() => (this.pending = null)));
  }

  /** The live connection, waiting for a reconnect in progress. */
  async ready(): Promise<Live> {
    if (this.live) return this.live;
    if (this.closed) throw new AmqpConnectionError(`connection to ${this.url.display} is closed`);
    if (this.pending) return this.pending;
    return (this.pending = this.reconnect().finally(() => (this.pending = null)));
  }

  private async open(): Promise<Live> {
    // No Nagle: small frames (acks, confirms, replies) go out at once, not 40 ms later.
    const conn = await amqp.connect(this.url.connect, { noDelay: true }).catch((err: Error) => {
      throw connectFailure(this.url.display, err);
    });
    const generation = ++this.generation;
    try {
      const [pub, sub] = await Promise.all([conn.createConfirmChannel(), conn.createChannel()]);
      const live: Live = { conn, pub, sub, generation };
      // A lost channel means lost consumers or publishes: start over on a new connection.
      let lost = false;
      const onLost = (why: string) => {
        if (lost) return;
        lost = true;
        if (this.live === live) this.live = null;
        this.admin = null;
        if (this.closed) return;
        this.log.warn(`AMQP connection to ${this.url.display} (${this.role}) lost (${why}); reconnecting`);
        this.emit("lost", generation);
        conn.close().catch(() => {});
        void this.ready().catch(() => {});
      };
      conn.on("error", () => {}); // 'close' follows with the reason
      conn.on("close", (err?: Error) => onLost(err?.message ?? "closed"));
      for (const ch of [pub, sub]) {
        ch.on("error", () => {});
        ch.on("close", () => onLost("channel closed"));
      }
      await this.opts.setup?.(live);
      if (this.closed) {
        await conn.close().catch(() => {});
        throw new AmqpConnectionError(`connection to ${this.url.display} is closed`);
      }
      this.live = live;
      this.emit("ready", live);
      return live;
    } catch (err) {
      await conn.close().catch(() => {});
      throw err;
    }
  }

  private async reconnect(): Promise<Live> {
    const max = this.opts.maxRetries === undefined ? null : this.opts.maxRetries;
    let pause = BACKOFF_MIN_MS;
    for (let attempt = 1; ; attempt++) {
      if (this.closed) throw new AmqpConnectionError(`connection to ${this.url.display} is closed`);
      try {
        const live = await this.open();
        this.log.info(`AMQP connection to ${this.url.display} (${this.role}) restored after ${attempt} attempt${attempt === 1 ? "" : "s"}`);
        return live;
      } catch (err) {
        if (max !== null && attempt >= max) {
          throw new AmqpConnectionError(`cannot reconnect to ${this.url.display} after ${attempt} attempts: ${(err as Error).message}`);
        }
        if (attempt === 1 || attempt % 10 === 0) {
          const why = err instanceof BrokerConnectionError ? err.message : `cannot reach ${this.url.display}: ${(err as Error).message}`;
          this.log.warn(`${why}; retrying (attempt ${attempt})`);
        }
        await new Promise((r) => setTimeout(r, pause));
        pause = Math.min(BACKOFF_MAX_MS, pause * 2);
      }
    }
  }

  /**
   * A channel for declarations and queue checks. A failed declaration closes
   * only this channel (the error goes to the caller); the next call opens a new one.
   */
  async adminChannel(): Promise<Channel> {
    const existing = this.admin;
    if (existing) return existing;
    const made = (async () => {
      const { conn } = await this.ready();
      const ch = await conn.createChannel();
      ch.on("error", () => {});
      ch.on("close", () => {
        if (this.admin === made) this.admin = null;
      });
      return ch;
    })();
    this.admin = made;
    made.catch(() => {
      if (this.admin === made) this.admin = null;
    });
    return made;
  }

  /** Runs `fn` on a channel of its own, closed afterwards (for calls that may close a channel, like checkQueue). */
  async withChannel<T>(fn: (ch: Channel) => Promise<T>): Promise<T> {
    const { conn } = await this.ready();
    const ch = await conn.createChannel();
    ch.on("error", () => {});
    try {
      return await fn(ch);
    } finally {
      await ch.close().catch(() => {});
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const live = this.live;
    this.live = null;
    if (live) await live.conn.close().catch(() => {});
  }
}
