// A Celery message on AMQP: task headers as application headers, the basic
// properties as properties, the body as raw bytes (no base64 envelope).
//
// Header integers are given explicit 32/64-bit types: amqplib would pick the
// narrowest AMQP type ('b', 's'), which Python's py-amqp reads differently
// ('b' unsigned, 's' as a short string), so a Python worker would see wrong
// numbers or fail to parse the frame. py-amqp writes 'I' and 'L'; we write 'I' and 'l'.
import type { ConsumeMessage, Options } from "amqplib";
import type { Message, MessageProperties } from "../../protocol/message.js";

/** out[k] = v, but an own "__proto__" key stays a key instead of replacing out's prototype. */
function setOwn(out: Record<string, unknown>, k: string, v: unknown): void {
  if (k === "__proto__") Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  else out[k] = v;
}

type Typed = { "!": "int" | "long"; value: number };

function typedValue(v: unknown): unknown {
  if (typeof v === "number") {
    if (!Number.isInteger(v)) return v;
    return { "!": v >= -0x80000000 && v < 0x80000000 ? "int" : "long", value: v } satisfies Typed;
  }
  if (Array.isArray(v)) return v.map(typedValue);
  if (v && typeof v === "object" && !Buffer.isBuffer(v) && !("!" in v)) return typedTable(v as Record<string, unknown>);
  return v;
}

/** Headers ready for amqplib, with integers typed for Python peers; undefined values left out. */
export function typedTable(table: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(table)) if (v !== undefined) setOwn(out, k, typedValue(v));
  return out;
}

/**
 * The basic properties beyond those above, by kombu's name and amqplib's: a
 * Python producer's app_id (say) reaches request.properties, as on Redis.
 */
const STRING_PROPERTIES: [string, string][] = [
  ["message_id", "messageId"],
  ["type", "type"],
  ["user_id", "userId"],
  ["app_id", "appId"],
  ["cluster_id", "clusterId"],
];

/**
 * amqplib publish options for a message. Kombu's Redis envelope fields
 * (delivery_info, delivery_tag, body_encoding) are left out: on AMQP the broker supplies them.
 */
export function publishOptions(message: Message, priority: number | undefined): Options.Publish {
  const p: MessageProperties = message.properties ?? {};
  const opts: Options.Publish = {
    contentType: message.contentType,
    contentEncoding: message.contentEncoding,
    headers: typedTable(message.headers ?? {}),
    deliveryMode: p.delivery_mode ?? 2,
  };
  if (p.correlation_id) opts.correlationId = p.correlation_id;
  if (p.reply_to) opts.replyTo = p.reply_to;
  for (const [ours, theirs] of STRING_PROPERTIES) {
    const v = p[ours];
    if (typeof v === "string" && v) (opts as Record<string, unknown>)[theirs] = v;
  }
  if (typeof p.timestamp === "number") opts.timestamp = p.timestamp;
  const prio = priority ?? p.priority;
  if (typeof prio === "number") opts.priority = Math.max(0, Math.min(255, Math.trunc(prio)));
  if (p.expiration !== undefined && p.expiration !== null) opts.expiration = String(p.expiration);
  return opts;
}

// Headers RabbitMQ adds when it dead-letters a message (our delay cascade):
// broker bookkeeping, not part of the task.
const DEAD_LETTER_HEADERS = /^x-(death|first-death-|last-death-)/;

function plainValue(v: unknown): unknown {
  // Most header values are strings, numbers or null: nothing to convert.
  if (v === null || typeof v !== "object") return v;
  // amqplib decodes timestamps and decimals as {"!": type, value}.
  if (!Array.isArray(v) && !Buffer.isBuffer(v)) {
    if ("!" in v && "value" in v) {
      const t = v as { "!": string; value: unknown };
      if (t["!"] === "timestamp") {
        // Out of Date's range (a hostile header) it stays the number: reading a message never throws.
        const d = new Date(Number(t.value) * 1000);
        return Number.isNaN(d.getTime()) ? t.value : d.toISOString();
      }
      if (t["!"] === "decimal") {
        const d = t.value as { places: number; digits: number };
        return d.digits / 10 ** d.places;
      }
      return t.value;
    }
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) setOwn(out, k, plainValue(x));
    return out;
  }
  if (Array.isArray(v)) return v.map(plainValue);
  if (Buffer.isBuffer(v)) return v.toString("utf8");
  return v;
}

/** A received AMQP message as a broker-neutral Message. */
export function fromAmqp(msg: { content: Buffer; fields: { exchange: string; routingKey: string }; properties: ConsumeMessage["properties"] }): Message {
  const p = msg.properties;
  // amqplib's decoded table is ours alone: converted in place rather than copied.
  const headers: Record<string, unknown> = p.headers ?? {};
  for (const k in headers) {
    if (k.startsWith("x-") && DEAD_LETTER_HEADERS.test(k)) {
      delete headers[k];
      continue;
    }
    const v = headers[k];
    if (v !== null && typeof v === "object") headers[k] = plainValue(v);
  }
  const properties: MessageProperties = {
    delivery_info: { exchange: msg.fields.exchange, routing_key: msg.fields.routingKey },
  };
  if (p.correlationId !== undefined) properties.correlation_id = p.correlationId;
  if (p.replyTo !== undefined) properties.reply_to = p.replyTo;
  if (p.deliveryMode !== undefined) properties.delivery_mode = p.deliveryMode;
  if (p.priority !== undefined) properties.priority = p.priority;
  if (p.expiration !== undefined) properties.expiration = String(p.expiration);
  for (const [ours, theirs] of STRING_PROPERTIES) {
    const v = (p as unknown as Record<string, unknown>)[theirs];
    if (v !== undefined && v !== null) properties[ours] = String(v);
  }
  if (typeof p.timestamp === "number") properties.timestamp = p.timestamp;
  return {
    body: msg.content,
    contentType: p.contentType ?? "application/json",
    contentEncoding: p.contentEncoding ?? "utf-8",
    headers,
    properties,
  };
}
