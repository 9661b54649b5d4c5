// Serializers by Celery's names. A message names its serializer by content
// type; a worker refuses content types that are not in `acceptContent`.
import { Packr, Unpackr } from "msgpackr";
import { ContentDisallowed, DecodeError, EncodeError } from "../errors.js";
import { yamlDecode, yamlEncode } from "./codecs/yaml.js";

export interface Serializer {
  name: string;
  contentType: string;
  contentEncoding: string;
  encode(value: unknown): Buffer;
  decode(body: Buffer): unknown;
}

/**
 * JSON text of a value, or EncodeError saying why it has none (kombu's dumps
 * raises EncodeError too): a BigInt, a circular structure, a toJSON that
 * throws. Every JSON writer of messages and results uses it, so a bad value
 * fails the same way wherever it is written.
 * Date objects become ISO-8601 strings through Date#toJSON, as kombu does.
 */
export function encodeJson(value: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw new EncodeError(`cannot encode as JSON: ${reasonOf(err)}`, { cause: err });
  }
  // A function or a symbol alone has no JSON at all (JSON.stringify returns undefined).
  if (text === undefined) throw new EncodeError(`cannot encode as JSON: a ${typeof value} has no JSON form`);
  return text;
}

/** Why V8 refused a value, in one line (its circular-structure message spans several). */
function reasonOf(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  if (/circular/i.test(message)) return "the value is a circular structure";
  if (/call stack/i.test(message)) return "the value is circular or nested too deep";
  if (/BigInt/i.test(message)) return "a BigInt has no JSON form (convert it to a string or a Number)";
  return message.split("\n")[0]!;
}

const json: Serializer = {
  name: "json",
  contentType: "application/json",
  contentEncoding: "utf-8",
  encode: (value) => Buffer.from(encodeJson(value), "utf8"),
  decode: (body) => JSON.parse(body.toString("utf8")),
};

// Plain maps and arrays, no msgpackr record extension: Python's msgpack must read it.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

const msgpack: Serializer = {
  name: "msgpack",
  contentType: "application/x-msgpack",
  contentEncoding: "binary",
  encode: (value) => {
    try {
      return packr.pack(value);
    } catch (err) {
      throw new EncodeError(`cannot encode as msgpack: ${reasonOf(err)}`, { cause: err });
    }
  },
  decode: (body) => unpackr.unpack(body),
};

const yaml: Serializer = {
  name: "yaml",
  contentType: "application/x-yaml",
  contentEncoding: "utf-8",
  encode: yamlEncode,
  decode: yamlDecode,
};

const byName = new Map<string, Serializer>([
  ["json", json],
  ["msgpack", msgpack],
  ["yaml", yaml],
]);
const byContentType = new Map<string, Serializer>([
  ["application/json", json],
  ["application/x-msgpack", msgpack],
  ["application/msgpack", msgpack],
  ["application/x-yaml", yaml],
]);

/**
 * Adds a serializer under its name and content type, as kombu's
 * registry.register: how app.setupSecurity() installs 'auth'.
 */
export function registerSerializer(s: Serializer): void {
  byName.set(s.name, s);
  byContentType.set(s.contentType, s);
}

const AUTH_HINT = "the auth serializer (message signing) is installed by app.setupSecurity(), Celery's app.setup_security()";

export function serializerByName(name: string): Serializer {
  const s = byName.get(name);
  if (s) return s;
  if (name === "auth") throw new EncodeError(`unknown serializer "auth": ${AUTH_HINT}`);
  throw new DecodeError(`unknown serializer ${JSON.stringify(name)} (known: ${[...byName.keys()].join(", ")})`);
}

/** The serializer of a content type, whatever acceptContent says (kombu's loads(force=True)): for a body already verified. */
export function serializerByContentType(contentType: string): Serializer {
  const s = byContentType.get(contentType);
  if (!s) throw new DecodeError(`unknown content type ${JSON.stringify(contentType)}`);
  return s;
}

/** The serializer for a content type, if `accept` (names or content types) allows it. */
export function serializerForContentType(contentType: string, accept: readonly string[]): Serializer {
  const s = byContentType.get(contentType);
  if (!s) {
    const hint = contentType === "application/data" ? ` (a signed message: ${AUTH_HINT})` : "";
    throw new ContentDisallowed(`unknown content type ${JSON.stringify(contentType)}${hint}`);
  }
  if (!accept.includes(s.name) && !accept.includes(contentType)) {
    throw new ContentDisallowed(`content type ${contentType} is not in acceptContent [${accept.join(", ")}]`);
  }
  return s;
}

export function decodeBody(body: Buffer, contentType: string, accept: readonly string[]): unknown {
  const s = serializerForContentType(contentType, accept);
  try {
    return s.decode(body);
  } catch (err) {
    if (err instanceof DecodeError) throw err; // SecurityError, or an inner body's DecodeError: already says why
    throw new DecodeError(`cannot decode ${contentType} body: ${(err as Error).message}`);
  }
}
