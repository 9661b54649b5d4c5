// Publishing with publisher confirms, in batches. Every send resolves only once
// RabbitMQ has confirmed its message (basic.ack), and rejects with
// PublishNacked when RabbitMQ refuses it (basic.nack: a full queue with
// x-overflow reject-publish, an internal error), exactly the sends concerned.
// A send whose connection is lost before its confirm goes again on the next
// connection (at least once, as kombu's ensure() retries a publish).
//
// The sends of one event-loop turn go out together: their frames are encoded
// into one buffer and written to the channel at once (one socket write for
// many messages), and all of them wait for confirms collectively, in the
// window amqplib's ConfirmChannel keeps (its rolling list of callbacks,
// advanced by RabbitMQ's multiple-acks). So publishing costs RabbitMQ and this
// process a fraction of a round trip per message instead of one each.
import type { Options } from "amqplib";
import { PublishNacked } from "../../errors.js";
import type { Message } from "../../protocol/message.js";
import { publishOptions } from "./codec.js";
import { appendPublish } from "./frames.js";
import type { AmqpSession, Live } from "./session.js";

/** Where a send goes, worked out (and declared) again before each attempt: a new connection may need the declarations again. */
export interface Outgoing {
  exchange: string;
  routingKey: string;
  message: Message;
  priority?: number | undefined;
}

interface Send {
  prepare: () => Outgoing | Promise<Outgoing>;
  resolve: () => void;
  reject: (err: Error) => void;
  attempts: number;
  /** The connection generation of the current attempt. */
  generation: number;
  /** What the current attempt publishes, once prepared. */
  out: Outgoing | null;
}

/** The parts of amqplib's ConfirmChannel a batch write uses (lib/channel.js, lib/connection.js). */
interface ConfirmChannelInternals {
  ch: number;
  connection: { frameMax: number; sentSinceLastCheck: boolean; channels: ({ buffer: { write(chunk: Buffer): boolean } } | null)[] };
  pushConfirmCallback(cb: (err: Error | null) => void): void;
}

/** How many times a send is tried across reconnects before its error is the caller's. */
const MAX_ATTEMPTS = 20;
/** A batch is written in buffers of about this many bytes. */
const WRITE_BYTES = 256 * 1024;

export class Publisher {
  private queued: Send[] = [];
  private scheduled = false;

  constructor(
    private readonly session: AmqpSession,
    private readonly isClosed: () => boolean,
  ) {}

  /** A confirmed publish of what `prepare` says (it may declare first); sent again after a reconnect. */
  send(prepare: () => Outgoing | Promise<Outgoing>): Promise<void> {
    return new Promise((resolve, reject) => this.attempt({ prepare, resolve, reject, attempts: 0, generation: 0, out: null }));
  }

  private attempt(send: Send): void {
    send.attempts++;
    send.generation = this.session.currentGeneration;
    let out: Outgoing | Promise<Outgoing>;
    try {
      out = send.prepare();
    } catch (err) {
      return send.reject(err as Error);
    }
    if (out instanceof Promise)
      out.then(
        (o) => this.enqueue(send, o),
        (err: Error) => this.again(send, err),
      );
    else this.enqueue(send, out);
  }

  private enqueue(send: Send, out: Outgoing): void {
    send.out = out;
    this.queued.push(send);
    if (this.scheduled) return;
    this.scheduled = true;
    // After this turn's other sends (and the microtasks that prepare them) have joined.
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    const live = this.session.current;
    if (!live) {
      // Reconnecting: send once it is back (or fail them all if it never is).
      const waiting = this.queued.splice(0);
      void this.session.ready().then(
        () => {
          for (const s of waiting) this.attempt(s);
        },
        (err: Error) => {
          for (const s of waiting) s.reject(err);
        },
      );
      return;
    }
    const batch = this.queued;
    this.queued = [];
    this.write(live, batch);
  }

  /** Encodes the batch, registers a confirm callback per message in frame order, and writes it in a few large chunks. */
  private write(live: Live, batch: Send[]): void {
    const ch = live.pub as unknown as ConfirmChannelInternals;
    const target = ch.connection.channels[ch.ch];
    if (!target) {
      // The channel closed this turn; its 'close' event reconnects.
      for (const s of batch) this.again(s, new Error("channel closed"));
      return;
    }
    let parts: Buffer[] = [];
    let bytes = 0;
    for (const s of batch) {
      const out = s.out!;
      s.out = null;
      let options: Options.Publish;
      let n: number;
      try {
        options = publishOptions(out.message, out.priority);
        n = appendPublish(parts, ch.ch, ch.connection.frameMax, out.exchange, out.routingKey, out.message.body, options);
      } catch (err) {
        s.reject(err as Error); // this message cannot be encoded; the others go
        continue;
      }
      ch.pushConfirmCallback((err) => (err ? this.unconfirmed(live, s, err) : s.resolve()));
      bytes += n;
      if (bytes >= WRITE_BYTES) {
        target.buffer.write(Buffer.concat(parts, bytes));
        parts = [];
        bytes = 0;
      }
    }
    if (bytes) target.buffer.write(Buffer.concat(parts, bytes));
    ch.connection.sentSinceLastCheck = true;
  }

  /** amqplib's confirm callback with an error: "message nacked" from RabbitMQ, or the channel closed before the confirm. */
  private unconfirmed(live: Live, send: Send, err: Error): void {
    if (err.message === "message nacked") {
      // The caller's retry policy sends it again, on a new channel (see renewPublisher).
      this.session.renewPublisher(live);
      return send.reject(new PublishNacked("RabbitMQ refused the message (basic.nack)"));
    }
    // The connection went before the confirm: the message may or may not be there; send it again on the next one.
    this.again(send, err);
  }

  /**
   * After a failed attempt: again once the connection is new (the failure was
   * the connection's), else the error is the caller's (a declaration refused).
   * A turn later, so the session has seen the close that caused it.
   */
  private again(send: Send, err: Error): void {
    if (this.isClosed() || send.attempts >= MAX_ATTEMPTS) return send.reject(err);
    setImmediate(() => {
      if (this.session.isOpen && this.session.currentGeneration === send.generation) return send.reject(err);
      void this.session.ready().then(
        () => this.attempt(send),
        (e: Error) => send.reject(e),
      );
    });
  }
}
