// lzma/xz bodies: kombu's 'application/x-lzma', which Python writes with
// lzma.compress (the .xz format, CRC64 check, preset 6) and reads with
// lzma.decompress (.xz or legacy .lzma, concatenated streams). Both ways go
// through lzma-native (MIT; liblzma built from source by node-gyp), an
// optional dependency loaded on the first such body.
//
// Decoding a message is synchronous, so this drives lzma-native's native
// stream directly in its synchronous mode (code(chunk, false) runs liblzma on
// this thread and calls bufferHandler before it returns) rather than through
// its Transform stream, whose events always arrive on a later tick.
import { CodecUnavailable, DecodeError, EncodeError } from "../../errors.js";
import { BoundedOutput } from "./bounded-output.js";
import { loadCodecPackage } from "./load-package.js";

interface NativeStream {
  easyEncoder_(preset: number, check: number): void;
  autoDecoder_(memlimit: number | null, flags: number): void;
  code(chunk: Buffer | null, async: false): void;
  resetUnderlying(): void;
  /** Called from inside code(): a chunk of output, or (null) the end, or an error. */
  bufferHandler: (buf: Buffer | null | undefined, processed: number | undefined, err: Error | null | undefined) => void;
}

interface LzmaNative {
  Stream: new () => NativeStream;
  CHECK_CRC64: number;
  CONCATENATED: number;
}

const FORMAT = "application/x-lzma";
/** Python's lzma.compress default (PRESET_DEFAULT). */
const PRESET = 6;
/**
 * Compressed bytes fed per native call when the output is bounded: LZMA
 * expands at most ~7,000-fold, so the limit is checked every few megabytes
 * of output instead of after the whole (possibly enormous) body.
 */
const BOUNDED_STEP = 1024;
/**
 * The dictionary a body may ask the decoder to allocate. xz -9 needs 65 MiB;
 * a forged header can ask for 4 GiB, which is refused instead of allocated.
 */
const MEMLIMIT = 256 * 1024 * 1024;

let lzma: LzmaNative | null = null;

function load(): LzmaNative {
  return (lzma ??= loadCodecPackage<LzmaNative>("lzma-native", "lzma/xz"));
}

/** Runs `input` through a fresh native coder, synchronously. */
function run(init: (s: NativeStream) => void, input: Buffer, step: number, out: BoundedOutput): Buffer {
  const stream = new (load().Stream)();
  init(stream);
  let error: Error | null = null;
  let ended = false;
  stream.bufferHandler = (buf, _processed, err) => {
    if (err) error = err;
    else if (buf === null) ended = true;
    else if (buf) out.write(buf);
  };
  try {
    for (let at = 0; at < input.length && !error && !ended; at += step) stream.code(input.subarray(at, at + step), false);
    if (!error && !ended) stream.code(null, false); // end of input: liblzma finishes or says it is truncated
  } catch (err) {
    stream.resetUnderlying(); // a MessageTooLarge from out.write: free liblzma's state now
    throw err;
  }
  if (error) throw new DecodeError(`cannot decompress ${FORMAT} body: ${describe(error)}`);
  return out.result();
}

function describe(err: Error): string {
  // liblzma's LZMA_BUF_ERROR at the end of input means the body stopped early.
  return err.message === "No progress is possible" ? "truncated stream" : err.message;
}

export function unxz(body: Buffer, limit: number | null): Buffer {
  const { CONCATENATED } = load();
  return run((s) => s.autoDecoder_(MEMLIMIT, CONCATENATED), body, limit === null ? body.length || 1 : BOUNDED_STEP, new BoundedOutput(FORMAT, limit));
}

export function xz(body: Buffer): Buffer {
  let codec: LzmaNative;
  try {
    codec = load();
  } catch (err) {
    if (!(err instanceof CodecUnavailable)) throw err;
    throw new EncodeError(
      `${FORMAT} (xz) bodies are sent with the npm package lzma-native, which is not installed: npm install lzma-native (or choose zlib, brotli or bzip2 to send)`,
      { cause: err },
    );
  }
  return run((s) => s.easyEncoder_(PRESET, codec.CHECK_CRC64), body, body.length || 1, new BoundedOutput(FORMAT, null));
}
