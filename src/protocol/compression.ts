// Body compression, named in the `compression` header by content type as kombu
// does. kombu registers zlib under 'application/x-gzip' (aliases zlib, gzip) and
// compresses with zlib's format, so we do the same to stay readable by Python.
import { brotliCompressSync, brotliDecompressSync, deflateSync, unzipSync } from "node:zlib";
import { DecodeError, MessageTooLarge } from "../errors.js";

export type CompressionName = "zlib" | "gzip" | "brotli";

const contentTypes: Record<CompressionName, string> = {
  zlib: "application/x-gzip",
  gzip: "application/x-gzip",
  brotli: "application/x-brotli",
};

export function compressionContentType(name: string): string {
  const type = contentTypes[name as CompressionName];
  if (!type) throw new DecodeError(`unknown compression ${JSON.stringify(name)} (known: zlib, gzip, brotli)`);
  return type;
}

export function compress(body: Buffer, name: string): { body: Buffer; contentType: string } {
  const contentType = compressionContentType(name);
  return { body: contentType === "application/x-brotli" ? brotliCompressSync(body) : deflateSync(body), contentType };
}

/**
 * Inflates a body. `limit` (bytes) bounds the output: a small compressed body
 * can inflate to gigabytes (a compression bomb), so the inflater stops there
 * rather than the worker's memory.
 */
export function decompress(body: Buffer, contentType: string, limit: number | null = null): Buffer {
  const opts = limit === null ? {} : { maxOutputLength: Math.max(1, limit) };
  try {
    switch (contentType) {
      case "application/x-gzip":
      case "zlib":
      case "gzip":
        return unzipSync(body, opts); // accepts both zlib and gzip framing
      case "application/x-brotli":
      case "brotli":
        return brotliDecompressSync(body, opts);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") {
      throw new MessageTooLarge(`${contentType} body inflates to more than the message size limit (${limit} bytes)`);
    }
    throw new DecodeError(`cannot decompress ${contentType} body: ${(err as Error).message}`);
  }
  throw new DecodeError(`unknown compression ${JSON.stringify(contentType)}`);
}
