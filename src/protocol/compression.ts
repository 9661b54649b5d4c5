// Body compression, named in the `compression` header by content type as
// kombu's kombu/compression.py registers them, with its aliases. zlib is
// registered under 'application/x-gzip' (aliases zlib, gzip) but compresses
// with zlib's format, so we do the same to stay readable by Python.
import { brotliCompressSync, brotliDecompressSync, deflateSync, unzipSync } from "node:zlib";
import { DecodeError, EncodeError, MessageTooLarge } from "../errors.js";
import { bunzip2 } from "./codecs/bzip2.js";
import { bzip2 } from "./codecs/bzip2-encode.js";
import { unzstd } from "./codecs/zstd.js";
import { zstd } from "./codecs/zstd-encode.js";
import { unxz, xz } from "./codecs/xz.js";

type Inflate = (body: Buffer, limit: number | null) => Buffer;

interface Compression {
  contentType: string;
  /** kombu's aliases, the names a setting or a send option may use. */
  names: readonly string[];
  compress: (body: Buffer) => Buffer;
  decompress: Inflate;
}

const zlibLimit = (limit: number | null) => (limit === null ? {} : { maxOutputLength: Math.max(1, limit) });

const compressions: readonly Compression[] = [
  {
    contentType: "application/x-gzip",
    names: ["zlib", "gzip"],
    compress: (body) => deflateSync(body),
    decompress: (body, limit) => unzipSync(body, zlibLimit(limit)), // accepts both zlib and gzip framing
  },
  {
    contentType: "application/x-brotli",
    names: ["brotli"],
    compress: (body) => brotliCompressSync(body),
    decompress: (body, limit) => brotliDecompressSync(body, zlibLimit(limit)),
  },
  { contentType: "application/x-bz2", names: ["bzip2", "bzip"], compress: bzip2, decompress: bunzip2 },
  { contentType: "application/zstd", names: ["zstd", "zstandard"], compress: zstd, decompress: unzstd },
  {
    contentType: "application/x-lzma",
    names: ["lzma", "xz"],
    compress: xz,
    decompress: unxz,
  },
];

const byName = new Map<string, Compression>();
for (const c of compressions) for (const key of [c.contentType, ...c.names]) byName.set(key, c);

const known = () => compressions.flatMap((c) => c.names).join(", ");

/** The compression a setting or header names (an alias or a content type), as kombu's get_encoder/get_decoder look it up. */
function compressionNamed(name: string): Compression | undefined {
  return byName.get(name);
}

export function compressionContentType(name: string): string {
  const c = compressionNamed(name);
  if (!c) throw new EncodeError(`unknown compression ${JSON.stringify(name)} (known: ${known()})`);
  return c.contentType;
}

export function compress(body: Buffer, name: string): { body: Buffer; contentType: string } {
  const c = compressionNamed(name);
  if (!c) throw new EncodeError(`unknown compression ${JSON.stringify(name)} (known: ${known()})`);
  return { body: c.compress(body), contentType: c.contentType };
}

/**
 * Inflates a body. `limit` (bytes) bounds the output in every format: a small
 * compressed body can inflate to gigabytes (a compression bomb), so the
 * inflater stops there rather than the worker's memory.
 */
export function decompress(body: Buffer, contentType: string, limit: number | null = null): Buffer {
  const c = compressionNamed(contentType);
  if (!c) throw new DecodeError(`unknown compression ${JSON.stringify(contentType)} (known: ${known()})`);
  try {
    return c.decompress(body, limit);
  } catch (err) {
    if (err instanceof DecodeError) throw err; // MessageTooLarge, CodecUnavailable: already say why
    if ((err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") {
      throw new MessageTooLarge(`${c.contentType} body inflates to more than the message size limit (${limit} bytes)`);
    }
    throw new DecodeError(`cannot decompress ${c.contentType} body: ${(err as Error).message}`);
  }
}
