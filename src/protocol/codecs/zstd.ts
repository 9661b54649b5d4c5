// Zstandard bodies: kombu's 'application/zstd' (python-zstandard's
// ZstdCompressor().compress), read with fzstd (pure JS, MIT), loaded on first
// use. fzstd sizes its buffer from each frame's header (the content size or
// the window, up to 2 GiB), so the headers are checked against the limit
// before anything is decoded, and the output is counted as it comes.
import { DecodeError, MessageTooLarge } from "../../errors.js";
import { BoundedOutput } from "./bounded-output.js";
import { loadCodecPackage } from "./load-package.js";

interface Fzstd {
  Decompress: new (ondata: (data: Uint8Array, final?: boolean) => unknown) => { push(chunk: Uint8Array, final?: boolean): unknown };
}

let fzstd: Fzstd | null = null;

const FRAME_MAGIC = 0xfd2fb528;

export function unzstd(body: Buffer, limit: number | null): Buffer {
  if (limit !== null) checkFrames(body, limit);
  fzstd ??= loadCodecPackage<Fzstd>("fzstd", "zstd");
  const out = new BoundedOutput("application/zstd", limit);
  new fzstd.Decompress((data) => out.write(data)).push(body, true);
  return out.result();
}

/**
 * Walks the frames (RFC 8878 §3.1) without decoding them, and refuses one
 * whose stated content size or window would make the decoder allocate past
 * `limit`.
 */
function checkFrames(b: Buffer, limit: number): void {
  let pos = 0;
  let stated = 0;
  const need = (n: number) => {
    if (pos + n > b.length) throw new DecodeError("cannot decompress application/zstd body: truncated frame");
  };
  while (pos < b.length) {
    need(4);
    const magic = b.readUInt32LE(pos);
    if ((magic & 0xfffffff0) === 0x184d2a50) {
      // A skippable frame: its 4-byte size, then that many bytes.
      need(8);
      pos += 8 + b.readUInt32LE(pos + 4);
      continue;
    }
    if (magic !== FRAME_MAGIC) throw new DecodeError("cannot decompress application/zstd body: not a zstd frame");
    need(5);
    const fhd = b[pos + 4]!;
    pos += 5;
    const single = (fhd >> 5) & 1;
    const fcsFlag = fhd >> 6;
    let window = 0;
    if (!single) {
      need(1);
      const wd = b[pos++]!;
      const base = 2 ** (10 + (wd >> 3));
      window = base + (base / 8) * (wd & 7);
    }
    pos += [0, 1, 2, 4][fhd & 3]!;
    const fcsBytes = [single ? 1 : 0, 2, 4, 8][fcsFlag]!;
    need(fcsBytes);
    let contentSize: number | null = null;
    if (fcsBytes === 1) contentSize = b[pos]!;
    else if (fcsBytes === 2) contentSize = b.readUInt16LE(pos) + 256;
    else if (fcsBytes === 4) contentSize = b.readUInt32LE(pos);
    else if (fcsBytes === 8) contentSize = Number(b.readBigUInt64LE(pos));
    pos += fcsBytes;
    const size = contentSize ?? window;
    stated += contentSize ?? 0;
    if (size > limit || stated > limit) {
      throw new MessageTooLarge(
        `application/zstd body states a frame of ${contentSize === null ? `window ${window}` : contentSize} bytes, over the message size limit (${limit} bytes)`,
      );
    }
    for (let last = 0; !last;) {
      need(3);
      const header = b.readUIntLE(pos, 3);
      pos += 3;
      last = header & 1;
      const type = (header >> 1) & 3;
      if (type === 3) throw new DecodeError("cannot decompress application/zstd body: reserved block type");
      pos += type === 1 ? 1 : header >>> 3;
    }
    if ((fhd >> 2) & 1) pos += 4;
  }
}
