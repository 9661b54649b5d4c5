// Celery task protocol v2: building a task message and reading one back, and
// kombu's JSON envelope, the form a message takes inside Redis and SQLite.
import { randomUUID } from "node:crypto";
import { DecodeError } from "../errors.js";
import { compress, decompress } from "./compression.js";
import { argsRepr, kwargsRepr } from "./repr.js";
import { decodeBody, serializerByName } from "./serializers.js";

export interface DeliveryInfo {
  exchange: string;
  routing_key: string;
}

export interface MessageProperties {
  correlation_id?: string;
  reply_to?: string;
  delivery_mode?: number;
  priority?: number;
  delivery_info?: DeliveryInfo;
  delivery_tag?: string;
  body_encoding?: string;
  expiration?: string;
  [key: string]: unknown;
}

/** A message as every broker carries it: the body is serialized (and maybe compressed) bytes. */
export interface Message {
  body: Buffer;
  contentType: string;
  contentEncoding: string;
  headers: Record<string, unknown>;
  properties: MessageProperties;
}

/** A signature as it travels inside `embed` (Celery's dict form). */
export interface SignatureDict {
  task: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  options: Record<string, unknown>;
  subtask_type: string | null;
  immutable: boolean;
  chord_size?: number | null;
  [key: string]: unknown;
}

export interface Embed {
  callbacks: SignatureDict[] | null;
  errbacks: SignatureDict[] | null;
  chain: SignatureDict[] | null;
  chord: SignatureDict | null;
}

/** The protocol v2 headers (the ones every Python-sent task has). */
export interface TaskHeaders {
  lang: string;
  task: string;
  id: string;
  shadow: string | null;
  eta: string | null;
  expires: string | null;
  group: string | null;
  group_index: number | null;
  retries: number;
  timelimit: [number | null, number | null];
  root_id: string;
  parent_id: string | null;
  argsrepr: string;
  kwargsrepr: string;
  origin: string;
  ignore_result: boolean;
  [key: string]: unknown;
}

/** What a producer says about one call; everything else gets Celery's defaults. */
export interface TaskCall {
  task: string;
  id?: string;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  embed?: Partial<Embed>;
  eta?: Date | null;
  expires?: Date | null;
  retries?: number;
  timeLimit?: number | null;
  softTimeLimit?: number | null;
  rootId?: string | null;
  parentId?: string | null;
  group?: string | null;
  groupIndex?: number | null;
  shadow?: string | null;
  origin?: string;
  ignoreResult?: boolean;
  replyTo?: string;
  priority?: number;
  /** Extra user headers, kept alongside the protocol's own. */
  headers?: Record<string, unknown>;
  deliveryInfo?: DeliveryInfo;
}

export interface EncodeOptions {
  serializer?: string;
  compression?: string | null;
}

/** A decoded task message, ready for a worker. */
export interface TaskMessage {
  headers: TaskHeaders;
  properties: MessageProperties;
  args: unknown[];
  kwargs: Record<string, unknown>;
  embed: Embed;
}

const emptyEmbed = (): Embed => ({ callbacks: null, errbacks: null, chain: null, chord: null });

/**
 * ISO-8601 with an explicit offset and six fraction digits, as Python's
 * isoformat() writes it. Six, not three: Celery 5.2's parse_iso8601 reads the
 * fraction digits as microseconds, so ".123" would mean 123 µs, not 123 ms.
 */
export function isoWithOffset(d: Date): string {
  return d.toISOString().replace("Z", "000+00:00");
}

export function encodeTask(call: TaskCall, opts: EncodeOptions = {}): Message {
  const id = call.id ?? randomUUID();
  const args = call.args ?? [];
  const kwargs = call.kwargs ?? {};
  const headers: TaskHeaders = {
    ...call.headers,
    lang: "js",
    task: call.task,
    id,
    shadow: call.shadow ?? null,
    eta: call.eta ? isoWithOffset(call.eta) : null,
    expires: call.expires ? isoWithOffset(call.expires) : null,
    group: call.group ?? null,
    group_index: call.groupIndex ?? null,
    retries: call.retries ?? 0,
    timelimit: [call.timeLimit ?? null, call.softTimeLimit ?? null],
    root_id: call.rootId ?? id,
    parent_id: call.parentId ?? null,
    argsrepr: argsRepr(args),
    kwargsrepr: kwargsRepr(kwargs),
    origin: call.origin ?? "celeriac",
    ignore_result: call.ignoreResult ?? false,
  };
  const serializer = serializerByName(opts.serializer ?? "json");
  let body = serializer.encode([args, kwargs, { ...emptyEmbed(), ...call.embed }]);
  if (opts.compression) {
    const packed = compress(body, opts.compression);
    body = packed.body;
    headers.compression = packed.contentType;
  }
  const properties: MessageProperties = {
    correlation_id: id,
    reply_to: call.replyTo ?? randomUUID(),
    delivery_mode: 2,
    delivery_info: call.deliveryInfo ?? { exchange: "", routing_key: "celery" },
    priority: call.priority ?? 0,
    body_encoding: "base64",
  };
  return { body, contentType: serializer.contentType, contentEncoding: serializer.contentEncoding, headers, properties };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Reads a task message. Throws DecodeError (or ContentDisallowed) with a reason
 * a person can act on; the caller decides what to do with the message.
 */
export function decodeTask(msg: Message, accept: readonly string[]): TaskMessage {
  const h = msg.headers;
  if (!isObject(h)) throw new DecodeError("message has no headers");
  if (typeof h.task !== "string" || !h.task) throw new DecodeError("message has no task name (header 'task')");
  if (typeof h.id !== "string" || !h.id) throw new DecodeError("message has no task id (header 'id')");
  let raw = msg.body;
  if (typeof h.compression === "string" && h.compression) raw = decompress(raw, h.compression);
  const body = decodeBody(raw, msg.contentType, accept);
  if (!Array.isArray(body) || body.length < 2) {
    throw new DecodeError("task body is not [args, kwargs, embed] (protocol v1 messages are not supported)");
  }
  const [args, kwargs, embed] = body as [unknown, unknown, unknown];
  if (!Array.isArray(args)) throw new DecodeError("task args are not an array");
  if (!isObject(kwargs)) throw new DecodeError("task kwargs are not an object");
  // Defaults filled in place: the headers object is this message's own (parsed
  // from the envelope), and one copy less per message matters on the hot path.
  const headers = h as TaskHeaders;
  if (typeof headers.lang !== "string") headers.lang = "py";
  headers.shadow ??= null;
  headers.eta ??= null;
  headers.expires ??= null;
  headers.group ??= null;
  headers.group_index ??= null;
  if (typeof headers.retries !== "number") headers.retries = 0;
  if (!Array.isArray(headers.timelimit)) headers.timelimit = [null, null];
  headers.root_id ??= headers.id;
  headers.parent_id ??= null;
  headers.argsrepr ??= "";
  headers.kwargsrepr ??= "";
  headers.origin ??= "";
  headers.ignore_result = headers.ignore_result === true;
  return {
    headers,
    properties: msg.properties ?? {},
    args,
    kwargs,
    embed: isObject(embed) ? { ...emptyEmbed(), ...(embed as Partial<Embed>) } : emptyEmbed(),
  };
}

/** kombu's JSON envelope (the element of a Redis list), with a base64 body; `properties` override the message's. */
export function toEnvelope(msg: Message, properties?: MessageProperties): string {
  return JSON.stringify({
    body: msg.body.toString("base64"),
    "content-encoding": msg.contentEncoding,
    "content-type": msg.contentType,
    headers: msg.headers,
    properties: { ...msg.properties, ...properties, body_encoding: "base64" },
  });
}

export function fromEnvelope(text: string | Buffer): Message {
  let env: unknown;
  try {
    env = JSON.parse(typeof text === "string" ? text : text.toString("utf8"));
  } catch (err) {
    throw new DecodeError(`message envelope is not JSON: ${(err as Error).message}`);
  }
  if (!isObject(env) || typeof env.body !== "string") throw new DecodeError("message envelope has no body");
  const properties = isObject(env.properties) ? (env.properties as MessageProperties) : {};
  const body =
    properties.body_encoding === "base64" ? Buffer.from(env.body, "base64") : Buffer.from(env.body, "utf8");
  return {
    body,
    contentType: String(env["content-type"] ?? "application/json"),
    contentEncoding: String(env["content-encoding"] ?? "utf-8"),
    headers: isObject(env.headers) ? env.headers : {},
    properties,
  };
}

/** Parses Celery's ISO-8601 eta/expires header into epoch milliseconds (null when absent or bad). */
export function parseIsoTime(value: unknown): number | null {
  if (typeof value !== "string" || !value) return null;
  // Python may write microseconds and no offset (naive = UTC in Celery's default config).
  let s = value.replace(/(\.\d{3})\d+/, "$1");
  if (!/[zZ]|[+-]\d\d:?\d\d$/.test(s)) s += "Z";
  const t = Date.parse(s);
  return Number.isNaN(t) ? null : t;
}
