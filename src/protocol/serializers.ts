// Serializers by Celery's names. A message names its serializer by content
// type; a worker refuses content types that are not in `acceptContent`.
import { Packr, Unpackr } from "msgpackr";
import { ContentDisallowed, DecodeError } from "../errors.js";

export interface Serializer {
  name: string;
  contentType: string;
  contentEncoding: string;
  encode(value: unknown): Buffer;
  decode(body: Buffer): unknown;
}

const json: Serializer = {
  name: "json",
  contentType: "application/json",
  contentEncoding: "utf-8",
  // Date objects become ISO-8601 strings through Date#toJSON, as kombu does.
  encode: (value) => Buffer.from(JSON.stringify(value), "utf8"),
  decode: (body) => JSON.parse(body.toString("utf8")),
};

// Plain maps and arrays, no msgpackr record extension: Python's msgpack must read it.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

const msgpack: Serializer = {
  name: "msgpack",
  contentType: "application/x-msgpack",
  contentEncoding: "binary",
  encode: (value) => packr.pack(value),
  decode: (body) => unpackr.unpack(body),
};

const byName = new Map<string, Serializer>([["json", json], ["msgpack", msgpack]]);
const byContentType = new Map<string, Serializer>([
  ["application/json", json],
  ["application/x-msgpack", msgpack],
  ["application/msgpack", msgpack],
]);

export function serializerByName(name: string): Serializer {
  const s = byName.get(name);
  if (!s) throw new DecodeError(`unknown serializer ${JSON.stringify(name)} (known: ${[...byName.keys()].join(", ")})`);
  return s;
}

/** The serializer for a content type, if `accept` (names or content types) allows it. */
export function serializerForContentType(contentType: string, accept: readonly string[]): Serializer {
  const s = byContentType.get(contentType);
  if (!s) throw new ContentDisallowed(`unknown content type ${JSON.stringify(contentType)}`);
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
    throw new DecodeError(`cannot decode ${contentType} body: ${(err as Error).message}`);
  }
}
