// Global rate limits on RabbitMQ alone: a token bucket shared by every
// process, made of two queues per bucket key (the worker's keys are already
// namespaced: `celeriac.rate.<task name>`).
//
// - `<key>`, the bucket: holds at most one token (x-max-length 1, the capacity
//   of tokenBucketStep) and refuses more (x-overflow reject-publish), so tokens
//   nobody takes never pile up. Taking a token is a basic.get: a token means
//   go, none means come back in about one token period.
// - `<key>.refiller`, the leadership: exactly one process refills the bucket,
//   the one whose connection holds this exclusive queue. RabbitMQ lets one
//   connection declare it, answers the others RESOURCE_LOCKED, and deletes it
//   when the holder's connection dies; processes that want tokens try to claim
//   it about once a second. No clocks or leases of our own are involved.
import type { Channel } from "amqplib";
import { OpenedOnce } from "../../util/opened-once.js";
import type { AmqpSession } from "./session.js";
import { TokenRefiller, type Demand } from "./token-refiller.js";
import { hasReplyCode, RESOURCE_LOCKED } from "./reply-code.js";

const BUCKET_QUEUE = {
  durable: false,
  exclusive: false,
  autoDelete: false,
  arguments: { "x-max-length": 1, "x-overflow": "reject-publish" },
};

/** How often a process that wants tokens tries to become the refiller. */
const CLAIM_EVERY_MS = 1000;
/** The shortest wait returned when the bucket is empty. */
const MIN_WAIT_MS = 5;

interface Bucket extends Demand {
  key: string;
  /** The bucket queue's declaration on the current connection. */
  declared: OpenedOnce<unknown>;
  claimedAt: number;
  claiming: boolean;
  /** Set while this process is the bucket's refiller. */
  refiller: TokenRefiller | null;
}

export class RateBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private closed = false;

  constructor(private readonly session: AmqpSession) {
    // The bucket queues are not durable: a new connection declares them again.
    // Leadership needs no such care: a lost connection closes the refiller's channel.
    session.on("lost", () => {
      for (const b of this.buckets.values()) b.declared.forget();
    });
  }

  /** Takes a token from bucket `key` refilled at `perSecond`: 0 when taken, else ms to wait. */
  async take(key: string, perSecond: number): Promise<number> {
    const bucket = this.bucket(key);
    bucket.perSecond = perSecond;
    bucket.askedAt = Date.now();
    await bucket.declared.get();
    this.maybeClaim(bucket);
    const ch = await this.session.adminChannel();
    let token;
    try {
      token = await ch.get(key, { noAck: true });
    } catch (err) {
      bucket.declared.forget(); // deleted under us, perhaps: declare it again next time
      throw err;
    }
    if (token) return 0;
    // The refiller knows when its next token is due; the other processes take one period as a guess.
    const due = bucket.refiller ? bucket.refiller.nextTokenIn() : 1000 / perSecond;
    return Math.max(MIN_WAIT_MS, Math.ceil(due));
  }

  /** Stops every refiller's timer; closing the connection then hands leadership over. */
  close(): void {
    this.closed = true;
    for (const b of this.buckets.values()) b.refiller?.stop();
  }

  private bucket(key: string): Bucket {
    let b = this.buckets.get(key);
    if (!b) this.buckets.set(key, (b = { key, perSecond: 1, askedAt: 0, declared: this.declaration(key), claimedAt: 0, claiming: false, refiller: null }));
    return b;
  }

  private declaration(key: string): OpenedOnce<unknown> {
    return new OpenedOnce(() => this.session.adminChannel().then((ch: Channel) => ch.assertQueue(key, BUCKET_QUEUE)));
  }

  /** Tries for leadership in the background, at most once a second, unless we lead already. */
  private maybeClaim(bucket: Bucket): void {
    const now = Date.now();
    if (bucket.refiller || bucket.claiming || this.closed || now - bucket.claimedAt < CLAIM_EVERY_MS) return;
    bucket.claiming = true;
    bucket.claimedAt = now;
    this.claim(bucket)
      .catch((err: Error) => this.session.log.warn(`rate limit ${bucket.key}: cannot claim the refiller (${err.message})`))
      .finally(() => (bucket.claiming = false));
  }

  /** Declares the exclusive leader queue on a channel of its own, kept for publishing tokens if the claim succeeds. */
  private async claim(bucket: Bucket): Promise<void> {
    const leader = `${bucket.key}.refiller`;
    const { conn } = await this.session.ready();
    const ch = await conn.createConfirmChannel();
    ch.on("error", () => {});
    try {
      await ch.assertQueue(leader, { durable: false, exclusive: true, autoDelete: false });
    } catch (err) {
      if (hasReplyCode(err, RESOURCE_LOCKED)) return; // another process leads (RabbitMQ closed the channel)
      await ch.close().catch(() => {});
      throw err;
    }
    if (this.closed) {
      await ch.close().catch(() => {}); // the connection is going: RabbitMQ drops the queue with it
      return;
    }
    this.session.log.debug(`rate limit ${bucket.key}: this process refills the bucket`);
    const refiller = new TokenRefiller(
      ch,
      { bucket: bucket.key, leader },
      bucket,
      () => {
        if (bucket.refiller === refiller) bucket.refiller = null;
      },
      () => {
        bucket.declared.forget();
        bucket.declared.get().catch(() => {});
      },
    );
    bucket.refiller = refiller;
  }
}
