// Zstandard bodies written by Celeriac (kombu's 'application/zstd'). Node 20's
// zlib has no zstd and npm has no pure-JS encoder worth trusting, so sending
// uses zstd-napi (Apache-2.0, the reference libzstd compiled by node-gyp) when
// the deployment installed it; it is no dependency of the package (its build
// takes about a minute), so without it a send fails with an EncodeError that
// says how to add it. Reading zstd needs none of this (zstd.ts, pure JS).
import { EncodeError, PackageNotInstalled } from "../../errors.js";
import { requireOptional } from "../../util/optional-package.js";

interface ZstdNapi {
  compress(data: Uint8Array): Buffer;
}

let zstdNapi: ZstdNapi | null = null;

export function zstd(body: Buffer): Buffer {
  if (!zstdNapi) {
    try {
      zstdNapi = requireOptional<ZstdNapi>("zstd-napi", "zstd sends");
    } catch (err) {
      if (!(err instanceof PackageNotInstalled)) throw err;
      throw new EncodeError(
        "Celeriac reads application/zstd bodies but sends them only with the npm package zstd-napi, which is not installed: " +
          "npm install zstd-napi --build-from-source (or choose zlib, brotli or bzip2 to send)",
        { cause: err },
      );
    }
  }
  return zstdNapi.compress(body);
}
