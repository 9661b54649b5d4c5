// Topology declarations on RabbitMQ, each done once per connection: a task
// queue with its exchange and binding (topology.ts), an exchange a route names,
// the ETA delay cascade and its bindings (delay.ts), broadcast exchanges
// (fanout.ts). Each is kept as a promise, so concurrent publishes share one
// declaration, and forgotten when it fails, so the next use tries again.
// After a reconnect every declaration is forgotten (reset()): the new
// connection declares again what it uses (kombu's Queue.declare on revive).
import type { Channel, ChannelModel } from "amqplib";
import { ConfigurationError } from "../../errors.js";
import { bindDelayTarget, CLASSIC_CASCADE, declareDelayCascade, QUORUM_CASCADE, type DelayCascade } from "./delay.js";
import type { ExchangeDecl } from "./fanout.js";
import { hasReplyCode, PRECONDITION_FAILED } from "./reply-code.js";
import type { AmqpSession } from "./session.js";
import type { QueueSpec, Topology } from "./topology.js";

export class Declarations {
  /** Declarations done on the current connection, by queue name (or "exchange:", "broadcast:" key). */
  private declared = new Map<string, Promise<void>>();
  /** The delay cascades declared on this connection, by prefix. */
  private readonly delayDeclared = new Map<string, Promise<void>>();
  private readonly delayTargets = new Map<string, Promise<void>>();
  /** Every queue declared through here (tests clean up with it). */
  readonly queues = new Set<string>();

  constructor(
    private readonly session: AmqpSession,
    private readonly topology: Topology,
  ) {}

  /** Forgets every declaration: the next use on a new connection declares again. */
  reset(): void {
    this.declared = new Map();
    this.delayDeclared.clear();
    this.delayTargets.clear();
  }

  /** Forgets one queue (it was deleted). */
  forgetQueue(name: string): void {
    this.declared.delete(name);
    this.queues.delete(name);
  }

  /** Declares a queue as the topology says (its exchange and binding too) on `ch`. */
  async declareOn(ch: Channel, spec: QueueSpec): Promise<void> {
    if (spec.exchange) await ch.assertExchange(spec.exchange, spec.exchangeType, { durable: true, autoDelete: false });
    await ch.assertQueue(spec.name, { durable: spec.durable, exclusive: false, autoDelete: false, arguments: spec.arguments });
    if (spec.exchange) await ch.bindQueue(spec.name, spec.exchange, spec.routingKey);
    this.queues.add(spec.name);
  }

  /** Declares a queue (and its exchange and binding) once per connection. */
  queue(name: string): Promise<void> {
    return this.once(name, () => {
      const spec = this.topology.queue(name);
      return this.session.adminChannel().then((ch) => this.declareOn(ch, spec));
    });
  }

  /** Declares an exchange a route names that no queue in the settings declares. */
  exchange(exchange: string): Promise<void> {
    return this.once(`exchange:${exchange}`, () => {
      const type = this.topology.exchangeType(exchange) ?? "direct";
      return this.session
        .adminChannel()
        .then((ch) => ch.assertExchange(exchange, type, { durable: true, autoDelete: false }))
        .then(
          () => {},
          // It exists with another type: that is the owner's business; publishing still works.
          (err: Error) => {
            if (!hasReplyCode(err, PRECONDITION_FAILED)) throw err;
          },
        );
    });
  }

  /** The delay cascade a queue's ETA messages take: the quorum one for a quorum queue. */
  cascade(queue: string): DelayCascade {
    return this.topology.queue(queue).quorum ? QUORUM_CASCADE : CLASSIC_CASCADE;
  }

  /** Declares the queue's delay cascade and binds its delivery exchange to `queue`, once per connection. */
  delay(queue: string): Promise<void> {
    if (/[*#]/.test(queue)) {
      return Promise.reject(new ConfigurationError(`queue ${JSON.stringify(queue)}: names with "*" or "#" cannot take messages with an ETA on AMQP`));
    }
    const cascade = this.cascade(queue);
    let levels = this.delayDeclared.get(cascade.prefix);
    if (!levels) {
      const p = this.session.adminChannel().then((ch) => declareDelayCascade(ch, cascade));
      this.delayDeclared.set(cascade.prefix, (levels = p));
      p.catch(() => this.delayDeclared.get(cascade.prefix) === p && this.delayDeclared.delete(cascade.prefix));
    }
    let p = this.delayTargets.get(queue);
    if (!p) {
      p = Promise.all([levels, this.queue(queue)])
        .then(() => this.session.adminChannel())
        .then((ch) => bindDelayTarget(ch, queue, cascade));
      this.delayTargets.set(queue, p);
      p.catch(() => this.delayTargets.delete(queue));
    }
    return p;
  }

  /** Declares a broadcast (or bound-queue) exchange once per connection. */
  broadcastExchange(name: string, decl: ExchangeDecl): Promise<void> {
    return this.once(`broadcast:${name}`, () => this.session.ready().then((live) => declareExchange(live.conn, name, decl)));
  }

  private once(key: string, declare: () => Promise<void>): Promise<void> {
    let p = this.declared.get(key);
    if (!p) {
      p = declare();
      this.declared.set(key, p);
      const map = this.declared;
      p.catch(() => {
        if (map.get(key) === p) map.delete(key);
      });
    }
    return p;
  }
}

/** Declares an exchange on a channel of its own: declared differently by a peer (PRECONDITION_FAILED) is fine. */
export async function declareExchange(conn: ChannelModel, name: string, decl: ExchangeDecl): Promise<void> {
  const ch = await conn.createChannel();
  ch.on("error", () => {});
  try {
    await ch.assertExchange(name, decl.type, { durable: decl.durable, autoDelete: false });
  } catch (err) {
    if (!hasReplyCode(err, PRECONDITION_FAILED)) throw err;
    return;
  }
  await ch.close().catch(() => {});
}
