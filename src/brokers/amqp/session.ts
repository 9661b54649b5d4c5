// One AMQP connection that comes back by itself. A session keeps a connection
// with a confirm channel for publishing and a channel for consuming; when the
// connection (or either channel) is lost it reconnects with backoff, runs the
// owner's setup again (declarations, consumers), and bumps `generation`, so
// the owner can tell stale delivery tags from live ones. RabbitMQ puts every
// unacked message of a lost channel back in its queue: nothing is lost.
// With a failover list (AmqpServers) a lost or unreachable node hands over to
// the next one of the list (kombu's Connection.maybe_switch_next): a round of
// the list is tried without waiting, the backoff grows between rounds.
import { EventEmitter } from "node:events";
import type * as Amqplib from "amqplib";
import type { Channel, ChannelModel, ConfirmChannel } from "amqplib";
import { BrokerAuthenticationError, BrokerConnectionError } from "../../errors.js";
import { requireOptional } from "../../util/optional-package.js";
import { maskUrl } from "../../url.js";
import { createLogger, type Logger } from "../../log.js";
import { OpenedOnce } from "../../util/opened-once.js";
import type { AmqpServers, AmqpUrl } from "./url.js";

// Required as this module loads, which is when an amqp:// or rpc:// URL is first used.
const amqp = requireOptional<typeof Amqplib>("amqplib", "amqp:// and rpc:// URLs");

/** The broker could not be reached, or the session was closed. */
export class AmqpConnectionError extends BrokerConnectionError {}

/**
 * RabbitMQ refused the login (403 ACCESS_REFUSED): a wrong user or password,
 * or no access to the vhost. By name only: a bare "403" also matches a port
 * (ECONNREFUSED 127.0.0.1:40303), which must be retried, not given up on.
 */
const AUTH_FAILURE = /ACCESS[-_]REFUSED/;

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
/** The shortest time between two renewals of the publish channel. */
const RENEW_PUBLISHER_MS = 1000;
/** Longest the declarations and consumers of a new connection may take. */
const SETUP_TIMEOUT_MS = 20_000;

export class AmqpSession extends EventEmitter {
  private live: Live | null = null;
  private pending: Promise<Live> | null = null;
  private closed = false;
  private generation = 0;
  /** Watches a channel of the current connection (set by connect()): its close means the connection is lost. */
  private watchChannel: ((ch: Channel) => void) | null = null;
  private renewing = false;
  private renewedAt = -Infinity;
  /** The channel adminChannel() hands out; forgotten when it closes or fails to open. */
  private readonly admin = new OpenedOnce<Channel>(async () => {
    const { conn } = await this.ready();
    const ch = await conn.createChannel();
    ch.on("error", () => {});
    ch.on("close", () => this.admin.forget(ch));
    return ch;
  });
  readonly log: Logger;
  private readonly role: string;
  /** The server of the newest connection. */
  private connectedTo: AmqpUrl | null = null;

  constructor(
    readonly servers: AmqpServers,
    private readonly opts: SessionOptions = {},
  ) {
    super();
    this.log = opts.log ?? createLogger("celeriac.amqp");
    this.role = opts.role ?? "broker";
  }

  get isOpen(): boolean {
    return this.live !== null;
  }

  /** The live connection, or null while there is none (for callers on a hot path that cannot await). */
  get current(): Live | null {
    return this.live;
  }

  /**
   * The newest connection's generation, counted from its opening: consumers
   * started during setup deliver before the session is ready, and those
   * deliveries belong to it.
   */
  get currentGeneration(): number {
    return this.generation;
  }

  /** The first connection: fails at once when no server of the list can be reached (each tried once). */
  async connect(): Promise<void> {
    if (this.live) return;
    await (this.pending ??= this.openAny().finally(() => (this.pending = null)));
  }

  private async openAny(): Promise<Live> {
    for (let tried = 1; ; tried++) {
      try {
        return await this.open();
      } catch (err) {
        if (err instanceof BrokerAuthenticationError || tried >= this.servers.size || this.closed) throw err;
      }
    }
  }

  /** The live connection, waiting for a reconnect in progress. */
  async ready(): Promise<Live> {
    if (this.live) return this.live;
    if (this.closed) throw new AmqpConnectionError(`connection to ${this.servers.display} is closed`);
    if (this.pending) return this.pending;
    return (this.pending = this.reconnect().finally(() => (this.pending = null)));
  }

  /** Connects to the list's current server; a failure moves the list on. */
  private async open(): Promise<Live> {
    const url = this.servers.current;
    // No Nagle: small frames (acks, confirms, replies) go out at once, not 40 ms later.
    const conn = await amqp.connect(url.connect, { noDelay: true }).catch((err: Error) => {
      const next = this.servers.failed(url);
      if (next !== url) this.log.warn(`cannot connect to ${url.display} (${this.role}): ${maskUrl(err.message)}; trying ${next.display}`);
      throw connectFailure(url.display, err);
    });
    this.connectedTo = url;
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
        this.admin.forget();
        if (this.closed) return;
        const next = this.servers.failed(url);
        this.log.warn(`AMQP connection to ${url.display} (${this.role}) lost (${why}); ${next === url ? "reconnecting" : `moving to ${next.display}`}`);
        this.emit("lost", generation);
        conn.close().catch(() => {});
        void this.ready().catch(() => {});
      };
      conn.on("error", () => {}); // 'close' follows with the reason
      conn.on("close", (err?: Error) => onLost(err?.message ?? "closed"));
      // A publish channel replaced by renewPublisher() closes without loss.
      const watch = (ch: Channel) => {
        ch.on("error", () => {});
        ch.on("close", () => {
          if (ch === live.pub || ch === live.sub) onLost("channel closed");
        });
      };
      watch(pub);
      watch(sub);
      this.watchChannel = watch;
      await this.setupWithin(live, url);
      if (this.closed) {
        await conn.close().catch(() => {});
        throw new AmqpConnectionError(`connection to ${url.display} is closed`);
      }
      this.live = live;
      this.emit("ready", live);
      return live;
    } catch (err) {
      await conn.close().catch(() => {});
      throw err;
    }
  }

  /**
   * Runs the owner's setup, but not forever: on a cluster a declaration can
   * wait on a queue whose leader died with the node (a quorum queue electing
   * one). Past SETUP_TIMEOUT_MS the connection is dropped and the next
   * attempt made, on the next server of a list, instead of a wedged worker.
   */
  private async setupWithin(live: Live, url: AmqpUrl): Promise<void> {
    if (!this.opts.setup) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.servers.failed(url);
        reject(new AmqpConnectionError(`${url.display} (${this.role}) did not finish declaring queues and consumers in ${SETUP_TIMEOUT_MS / 1000} s`));
      }, SETUP_TIMEOUT_MS);
    });
    try {
      await Promise.race([this.opts.setup(live), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Puts a new confirm channel in place of `live.pub`, at most once a second.
   * RabbitMQ 3.10 goes on refusing (basic.nack) every publish of a channel
   * that published to a quorum queue while the queue had no leader (its node
   * killed), long after a new leader took over; a channel opened after that
   * is accepted. The old channel closes once its last confirms are in.
   */
  renewPublisher(live: Live): void {
    const now = performance.now();
    if (this.live !== live || this.renewing || now - this.renewedAt < RENEW_PUBLISHER_MS) return;
    this.renewing = true;
    this.renewedAt = now;
    live.conn
      .createConfirmChannel()
      .then((ch) => {
        if (this.live !== live) return void ch.close().catch(() => {});
        const old = live.pub;
        live.pub = ch;
        this.watchChannel?.(ch);
        this.log.info(`AMQP publish channel to ${this.connectedTo?.display ?? this.servers.display} (${this.role}) renewed after RabbitMQ refused a message`);
        old
          .waitForConfirms()
          .catch(() => {})
          .finally(() => void old.close().catch(() => {}));
      })
      .catch(() => {}) // the connection is going: its 'close' reconnects
      .finally(() => (this.renewing = false));
  }

  private async reconnect(): Promise<Live> {
    const max = this.opts.maxRetries === undefined ? null : this.opts.maxRetries;
    let pause = BACKOFF_MIN_MS;
    for (let attempt = 1; ; attempt++) {
      if (this.closed) throw new AmqpConnectionError(`connection to ${this.servers.display} is closed`);
      try {
        const live = await this.open();
        this.log.info(`AMQP connection to ${this.connectedTo!.display} (${this.role}) restored after ${attempt} attempt${attempt === 1 ? "" : "s"}`);
        return live;
      } catch (err) {
        if (max !== null && attempt >= max) {
          throw new AmqpConnectionError(`cannot reconnect to ${this.servers.display} after ${attempt} attempts: ${(err as Error).message}`);
        }
        if (attempt === 1 || attempt % 10 === 0) {
          const why = err instanceof BrokerConnectionError ? err.message : `cannot reach ${this.servers.display}: ${(err as Error).message}`;
          this.log.warn(`${why}; retrying (attempt ${attempt})`);
        }
        // Within a round of the list the next server is tried at once; the wait grows between rounds.
        if (attempt % this.servers.size !== 0) continue;
        await new Promise((r) => setTimeout(r, pause));
        pause = Math.min(BACKOFF_MAX_MS, pause * 2);
      }
    }
  }

  /**
   * A channel for declarations and queue checks. A failed declaration closes
   * only this channel (the error goes to the caller); the next call opens a new one.
   */
  adminChannel(): Promise<Channel> {
    return this.admin.get();
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
