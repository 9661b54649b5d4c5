// The leader's half of a global rate limit on RabbitMQ (rate-bucket.ts has the
// rest): while this process holds a bucket's exclusive `<key>.refiller` queue,
// it puts tokens into the bucket queue at the bucket's rate.
//
// The bucket queue holds one token and refuses more (x-overflow
// reject-publish), so RabbitMQ confirming a token means the previous one was
// taken by some process: that is how the leader sees demand from processes
// other than its own, and it gives leadership up once there is none.
import type { ConfirmChannel } from "amqplib";

/** What a refiller reads on every tick: the rate, and when this process last asked for a token. */
export interface Demand {
  perSecond: number;
  askedAt: number;
}

export interface RefillerQueues {
  /** Where the tokens go. */
  bucket: string;
  /** The exclusive queue whose holder is the leader. */
  leader: string;
}

/** Ticks no closer than this (high rates: fewer tokens than asked, never more). */
const MIN_TICK_MS = 5;
/** Ticks at least this often, so a new rate or the end of demand is seen soon. */
const MAX_TICK_MS = 1000;
/** Leadership is given up after this long (or three token periods, up to an hour) with no demand. */
const IDLE_MS = 5000;
const MAX_IDLE_MS = 3_600_000;

const TOKEN = Buffer.alloc(0);

export class TokenRefiller {
  private timer: NodeJS.Timeout | null = null;
  /** Tokens due but not yet published; the fraction carries over to the next tick. */
  private credit = 0;
  private lastTick = Date.now();
  /** When RabbitMQ last accepted a token, i.e. found the previous one taken. */
  private acceptedAt = Date.now();
  private stopped = false;
  private ended = false;

  /**
   * `ch` is the channel the leadership was claimed on (a confirm channel).
   * It only publishes and deletes our own queue, so it closes only with the
   * connection (RabbitMQ then drops the leader queue itself) or when we close it.
   * `onEnd` runs once the leadership is gone; `onUnroutable` when a token
   * found no bucket queue (deleted under us: declare it again).
   */
  constructor(
    private readonly ch: ConfirmChannel,
    private readonly queues: RefillerQueues,
    private readonly demand: Demand,
    private readonly onEnd: () => void,
    onUnroutable: () => void,
  ) {
    ch.on("close", () => this.end());
    ch.on("return", onUnroutable);
    // A new leader starts empty: the previous leader's last token may still
    // be in the queue, and starting full would let one token too many through.
    this.schedule();
  }

  /** When this process's next token is due, ms (the leader's takers need not guess). */
  nextTokenIn(): number {
    return Math.max(0, ((1 - this.credit) / this.demand.perSecond) * 1000 - (Date.now() - this.lastTick));
  }

  /** Stops publishing; the leadership goes with the connection (broker closing). */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** The leadership is gone (or this channel can no longer use it). */
  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.stop();
    this.onEnd();
  }

  private schedule(): void {
    if (this.stopped) return;
    const due = this.nextTokenIn();
    this.timer = setTimeout(() => this.tick(), Math.min(MAX_TICK_MS, Math.max(MIN_TICK_MS, due)));
  }

  private tick(): void {
    this.timer = null;
    const now = Date.now();
    const idleAfter = Math.max(IDLE_MS, Math.min(MAX_IDLE_MS, (3 * 1000) / this.demand.perSecond));
    if (now - Math.max(this.demand.askedAt, this.acceptedAt) > idleAfter) return this.release();
    this.credit += ((now - this.lastTick) / 1000) * this.demand.perSecond;
    this.lastTick = now;
    if (this.credit >= 1) {
      // The bucket holds one token: whole tokens beyond it would be refused anyway.
      this.credit -= Math.floor(this.credit);
      this.publish();
    }
    this.schedule();
  }

  private publish(): void {
    try {
      // mandatory: a bucket queue deleted under us comes back as a 'return'.
      this.ch.sendToQueue(this.queues.bucket, TOKEN, { persistent: false, mandatory: true }, (err) => {
        if (!err) this.acceptedAt = Date.now();
      });
    } catch {
      // The channel is closed: so is the connection, whose end took the leader queue with it.
      this.end();
    }
  }

  /** Nobody wants tokens: delete the leader queue so that the next process to want some can claim it. */
  private release(): void {
    this.stop();
    void this.ch
      .deleteQueue(this.queues.leader)
      .catch(() => {})
      .then(() => this.ch.close())
      .catch(() => {});
  }
}
