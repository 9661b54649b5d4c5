// Body compression, named in the `compression` header by content type as kombu
// does. kombu registers zlib under 'application/x-gzip' (aliases zlib, gzip) and
// compresses with zlib's format, so we do the same to stay readable by Python.
import { brotliCompressSync, brotliDecompressSync, deflateSync, unzipSync } from "node:zlib";
import { DecodeError } from "../errors.js";

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

export function decompress(body: Buffer, contentType: string): Buffer {
  try {
    switch (contentType) {
      case "application/x-gzip":
      case "zlib":
      case "gzip":
        return unzipSync(body); // accepts both zlib and gzip framing
      case "application/x-brotli":
      case "brotli":
        return brotliDecompressSync(body);
    }
  } catch (err) {
    throw new DecodeError(`cannot decompress ${contentType} body: ${(err as Error).message}`);
  }
  throw new DecodeError(`unknown compression ${JSON.stringify(contentType)}`);
}
