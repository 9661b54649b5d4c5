// Celery task protocol v2: building a task message and reading one back, and
// kombu's JSON envelope, the form a message takes inside Redis and SQLite.
import { randomUUID } from "node:crypto";
import { DecodeError, InvalidTaskOptions, MessageTooLarge } from "../errors.js";
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
  /** Set when the broker could not read the message at all (not even its envelope): why. */
  unreadable?: string;
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
  /** What was wrong but not fatal (a bad time limit, a malformed embed entry): ignored, to be logged. */
  warnings?: string[];
}

export interface DecodeLimits {
  /** Bytes a body may have, before and after decompression; null: no limit. */
  messageSizeLimit?: number | null;
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

/**
 * A time limit as a producer may send it: a positive finite number of seconds,
 * or none (null, undefined, 0). Anything else is refused here, where the
 * mistake is made, instead of being ignored by every worker that receives it.
 */
function sendableLimit(v: unknown, which: string, task: string): number | null {
  if (v === null || v === undefined || v === 0) return null;
  if (typeof v === "number" && Number.isFinite(v) && v > 0) return v;
  throw new InvalidTaskOptions(
    `${which} of task ${JSON.stringify(task)} must be a positive number of seconds (0 or null: none), got ${JSON.stringify(v) ?? String(v)}`,
  );
}

export function encodeTask(call: TaskCall, opts: EncodeOptions = {}): Message {
  const timelimit: [number | null, number | null] = [
    sendableLimit(call.timeLimit, "timeLimit", call.task),
    sendableLimit(call.softTimeLimit, "softTimeLimit", call.task),
  ];
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
    timelimit,
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

const isSignature = (v: unknown): v is SignatureDict => isObject(v) && typeof v.task === "string";

/** The embed with what cannot be a signature left out (and said in `warnings`): a bad callback must not stop the task. */
function checkedEmbed(embed: unknown, warnings: string[]): Embed {
  if (embed === null || embed === undefined) return emptyEmbed();
  if (!isObject(embed)) {
    warnings.push(`embed is not an object (${typeof embed}): ignored`);
    return emptyEmbed();
  }
  // Spread, not Object.assign: an own "__proto__" key (JSON.parse makes them) stays a plain key.
  const out: Embed = { ...emptyEmbed(), ...embed };
  for (const key of ["callbacks", "errbacks", "chain"] as const) {
    const list: unknown = embed[key];
    if (list === null || list === undefined) {
      out[key] = null;
    } else if (!Array.isArray(list)) {
      warnings.push(`embed ${key} is not a list: ignored`);
      out[key] = null;
    } else if (!list.every(isSignature)) {
      warnings.push(`embed ${key} has entries that are not signatures: those are ignored`);
      out[key] = list.filter(isSignature);
    }
  }
  const chord: unknown = embed.chord;
  if (chord === undefined || chord === null) out.chord = null;
  else if (!isSignature(chord)) {
    warnings.push("embed chord is not a signature: ignored");
    out.chord = null;
  }
  return out;
}

/** A time limit as the pool can use it: a positive finite number of seconds, or null (none). */
function checkedLimit(v: unknown, which: string, warnings: string[]): number | null {
  if (v === null || v === undefined || v === 0) return null;
  if (typeof v === "number" && Number.isFinite(v) && v > 0) return v;
  warnings.push(`${which} time limit ${JSON.stringify(v) ?? String(v)} is not a positive number of seconds: ignored`);
  return null;
}

const optionalString = (v: unknown): string | null => (typeof v === "string" ? v : null);

/**
 * Reads a task message. Throws DecodeError (or ContentDisallowed,
 * MessageTooLarge) with a reason a person can act on; the caller decides what
 * to do with the message.
 */
export function decodeTask(msg: Message, accept: readonly string[], limits: DecodeLimits = {}): TaskMessage {
  if (msg.unreadable) throw new DecodeError(msg.unreadable);
  if (!Buffer.isBuffer(msg.body)) throw new DecodeError("message body is not bytes");
  const h = msg.headers;
  if (!isObject(h)) throw new DecodeError("message has no headers");
  if (typeof h.task !== "string" || !h.task) throw new DecodeError("message has no task name (header 'task')");
  if (typeof h.id !== "string" || !h.id) throw new DecodeError("message has no task id (header 'id')");
  // As Celery does: an eta or expires that does not parse is refused, not taken as "none".
  if (h.eta !== null && h.eta !== undefined && parseIsoTime(h.eta) === null) {
    throw new DecodeError(`invalid eta ${JSON.stringify(h.eta)} (not an ISO-8601 time)`);
  }
  if (h.expires !== null && h.expires !== undefined && parseIsoTime(h.expires) === null) {
    throw new DecodeError(`invalid expires ${JSON.stringify(h.expires)} (not an ISO-8601 time)`);
  }
  const limit = limits.messageSizeLimit ?? null;
  let raw = msg.body;
  if (limit !== null && raw.length > limit) {
    throw new MessageTooLarge(`message body of ${raw.length} bytes is over the message size limit (${limit} bytes)`);
  }
  if (typeof h.compression === "string" && h.compression) raw = decompress(raw, h.compression, limit);
  const body = decodeBody(raw, msg.contentType, accept);
  if (!Array.isArray(body) || body.length < 2) {
    throw new DecodeError("task body is not [args, kwargs, embed] (protocol v1 messages are not supported)");
  }
  const [args, kwargs, embed] = body as [unknown, unknown, unknown];
  if (!Array.isArray(args)) throw new DecodeError("task args are not an array");
  if (!isObject(kwargs)) throw new DecodeError("task kwargs are not an object");
  const warnings: string[] = [];
  // Defaults filled in place: the headers object is this message's own (parsed
  // from the envelope), and one copy less per message matters on the hot path.
  // Fields of the wrong type are taken as absent: later code relies on the types.
  const headers = h as TaskHeaders;
  if (typeof headers.lang !== "string") headers.lang = "py";
  headers.shadow = optionalString(headers.shadow);
  headers.eta ??= null;
  headers.expires ??= null;
  headers.group = optionalString(headers.group);
  if (typeof headers.group_index !== "number") headers.group_index = null;
  if (typeof headers.retries !== "number" || !Number.isFinite(headers.retries)) headers.retries = 0;
  const tl: unknown = headers.timelimit;
  if (tl === null || tl === undefined) headers.timelimit = [null, null];
  else if (!Array.isArray(tl)) {
    warnings.push(`timelimit ${JSON.stringify(tl) ?? String(tl)} is not [hard, soft]: ignored`);
    headers.timelimit = [null, null];
  } else {
    headers.timelimit = [checkedLimit(tl[0], "hard", warnings), checkedLimit(tl[1], "soft", warnings)];
  }
  headers.root_id = optionalString(headers.root_id) ?? headers.id;
  headers.parent_id = optionalString(headers.parent_id);
  if (typeof headers.argsrepr !== "string") headers.argsrepr = "";
  if (typeof headers.kwargsrepr !== "string") headers.kwargsrepr = "";
  if (typeof headers.origin !== "string") headers.origin = "";
  headers.ignore_result = headers.ignore_result === true;
  const out: TaskMessage = {
    headers,
    properties: isObject(msg.properties) ? msg.properties : {},
    args,
    kwargs,
    embed: checkedEmbed(embed, warnings),
  };
  if (warnings.length) out.warnings = warnings;
  return out;
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
  const body = properties.body_encoding === "base64" ? Buffer.from(env.body, "base64") : Buffer.from(env.body, "utf8");
  return {
    body,
    contentType: String(env["content-type"] ?? "application/json"),
    contentEncoding: String(env["content-encoding"] ?? "utf-8"),
    headers: isObject(env.headers) ? env.headers : {},
    properties,
  };
}

/**
 * An envelope as a Message, or, when it cannot be read, a Message that says
 * why (`unreadable`): the worker then rejects that one message with the reason
 * instead of the whole fetch failing.
 */
export function readEnvelope(text: string | Buffer): Message {
  try {
    // A row or list element of another type (someone wrote it by hand) is no envelope either.
    if (typeof text !== "string" && !Buffer.isBuffer(text)) throw new DecodeError(`message envelope is a ${typeof text}, not text`);
    return fromEnvelope(text);
  } catch (err) {
    const raw = Buffer.isBuffer(text) ? text : Buffer.from(String(text));
    return { body: raw, contentType: "application/x-unreadable", contentEncoding: "binary", headers: {}, properties: {}, unreadable: (err as Error).message };
  }
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
