// Broadcast over Redis pub/sub, as kombu's Redis transport does it for fanout
// and topic exchanges: the JSON envelope is PUBLISHed on `/<db>.<exchange>`,
// or `/<db>.<exchange>/<routing_key>` when there is a routing key (kombu's
// fanout_prefix and fanout_patterns, on in Celery), e.g.
// events on `/<db>.celeryev/<routing_key>`. With kombu's global_keyprefix the
// channels start with it too (kombu prefixes PUBLISH and (P)SUBSCRIBE).
// Subscribers get only what is published while they listen (no backlog).
import type { Redis } from "ioredis";
import { globEscape } from "../../redis/glob.js";
import type { BrokerRedis } from "./client.js";
import { fromEnvelope, toEnvelope, type Message } from "../../protocol/message.js";
import { OpenedOnce } from "../../util/opened-once.js";
import { topicMatches } from "../broker.js";

type Handler = (message: Message, routingKey: string) => void;

interface Subscription {
  pattern: string;
  handler: Handler;
}

export class RedisFanout {
  /** The subscriber connection; a failed connect is retried by the next subscribe, not remembered. */
  private readonly sub = new OpenedOnce<Redis>(
    () =>
      this.open().then((sub) => {
        sub.on("pmessage", (_pattern: string, channel: string, text: string) => this.deliver(channel, text));
        if (this.closed) sub.disconnect();
        return sub;
      }),
    (sub) => sub.disconnect(),
  );
  private closed = false;
  /** Handlers by exchange; one PSUBSCRIBE pair per exchange, shared by its handlers. */
  private readonly exchanges = new Map<string, Set<Subscription>>();

  constructor(
    private readonly keyPrefix: string,
    private readonly db: number,
    /** Opens the subscriber connection (to the broker's server). */
    private readonly open: () => Promise<Redis>,
    private readonly onBadMessage: (reason: string) => void,
    /** On a cluster: a key whose slot's master every message is published from (fanout-publish.lua), so they keep their order. */
    private readonly slotKey: string | null = null,
  ) {}

  channel(exchange: string, routingKey: string): string {
    return routingKey ? `${this.base(exchange)}/${routingKey}` : this.base(exchange);
  }

  private base(exchange: string): string {
    return `${this.keyPrefix}/${this.db}.${exchange}`;
  }

  async publish(client: BrokerRedis, exchange: string, routingKey: string, message: Message): Promise<void> {
    const channel = this.channel(exchange, routingKey);
    if (this.slotKey) await client.celeriacFanoutPublish(this.slotKey, channel, toEnvelope(message));
    else await client.publish(channel, toEnvelope(message));
  }

  async subscribe(exchange: string, pattern: string, handler: Handler): Promise<() => Promise<void>> {
    const sub = await this.sub.get();
    let subs = this.exchanges.get(exchange);
    if (!subs) {
      subs = new Set();
      this.exchanges.set(exchange, subs);
      await sub.psubscribe(...this.patterns(exchange));
    }
    const entry: Subscription = { pattern, handler };
    subs.add(entry);
    return async () => {
      subs.delete(entry);
      if (subs.size || this.exchanges.get(exchange) !== subs) return;
      this.exchanges.delete(exchange);
      const sub = await this.sub.started?.catch(() => null);
      await sub?.punsubscribe(...this.patterns(exchange)).catch(() => {});
    };
  }

  private patterns(exchange: string): string[] {
    // Glob-escape the exchange name; match it bare and with any routing key.
    const base = globEscape(this.base(exchange));
    return [base, `${base}/*`];
  }

  private deliver(channel: string, text: string): void {
    const rest = channel.slice(this.base("").length);
    for (const [exchange, subs] of this.exchanges) {
      let routingKey: string;
      if (rest === exchange) routingKey = "";
      else if (rest.startsWith(`${exchange}/`)) routingKey = rest.slice(exchange.length + 1);
      else continue;
      let message: Message;
      try {
        message = fromEnvelope(text);
      } catch (err) {
        this.onBadMessage(`fanout message on ${channel} ignored: ${(err as Error).message}`);
        return;
      }
      for (const s of subs) {
        if (!topicMatches(s.pattern, routingKey)) continue;
        try {
          s.handler(message, routingKey);
        } catch {
          // One failing handler must not stop the others or the subscription.
        }
      }
    }
  }

  close(): void {
    this.closed = true;
    this.exchanges.clear();
    void this.sub.close();
  }
}
