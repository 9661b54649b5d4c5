// A codec's npm package, loaded on the first body that needs it (so a user
// who never meets bzip2 or zstd pays nothing for them). require, not import():
// decoding a message is synchronous, and these packages ship CommonJS.
import { CodecUnavailable, PackageNotInstalled } from "../../errors.js";
import { requireOptional } from "../../util/optional-package.js";

/** The package's exports, or CodecUnavailable saying which package `format` needs. */
export function loadCodecPackage<T>(pkg: string, format: string): T {
  try {
    return requireOptional<T>(pkg, `${format} bodies`);
  } catch (err) {
    // A DecodeError, so the message is settled as undecodable, not retried.
    if (err instanceof PackageNotInstalled) throw new CodecUnavailable(err.message, { cause: err.cause });
    throw err;
  }
}
