// bzip2 bodies: kombu's 'application/x-bz2' (Python's bz2.compress, one or
// more streams), read with seek-bzip (pure JS, MIT), loaded on first use.
import { BoundedOutput } from "./bounded-output.js";
import { loadCodecPackage } from "./load-package.js";

interface SeekBzip {
  decode(input: Buffer, output: { writeByte(byte: number): void }, multistream?: boolean): unknown;
}

let seekBzip: SeekBzip | null = null;

export function bunzip2(body: Buffer, limit: number | null): Buffer {
  seekBzip ??= loadCodecPackage<SeekBzip>("seek-bzip", "bzip2");
  const out = new BoundedOutput("application/x-bz2", limit);
  seekBzip.decode(body, out, true);
  return out.result();
}
