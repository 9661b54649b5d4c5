// bzip2 bodies written by Celeriac: kombu's 'application/x-bz2', which a
// Python consumer reads with bz2.decompress. npm has no bzip2 encoder we can
// use (compressjs is GPL; libbzip2-wasm's emscripten glue installs
// process-wide uncaughtException/unhandledRejection handlers that abort; the
// others only decode), so this is a small encoder of our own, written from
// the format (the stages of Seward's bzip2 1.0 and its stream layout):
//
//   per block of at most 899,981 bytes after the first run-length stage:
//   RLE1 (runs of 4-255 equal bytes become 4 bytes and a count), the
//   Burrows-Wheeler transform (cyclic rotations sorted by prefix doubling,
//   O(n log n)), move-to-front with zero runs as RUNA/RUNB, then Huffman
//   coding with two tables chosen per group of 50 symbols.
//
// It favours being simple and right over ratio: two tables where bzip2 uses
// up to six, so its output is somewhat larger than bzip2's, and always valid.

const BLOCK_MAX = 900_000 - 19; // level 9 ('BZh9'): bzip2 keeps 19 bytes of slack
const GROUP = 50;
const MAX_CODE = 17;

const CRC_TABLE = (() => {
  const t = new Int32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 24;
    for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    t[i] = c;
  }
  return t;
})();

class BitWriter {
  private readonly chunks: Buffer[] = [];
  private buf = Buffer.alloc(1 << 16);
  private pos = 0;
  private acc = 0;
  private n = 0;

  /** Writes the low `bits` bits of `value`, most significant first (bits ≤ 24). */
  write(bits: number, value: number): void {
    this.acc = (this.acc << bits) | (value & ((1 << bits) - 1));
    this.n += bits;
    while (this.n >= 8) {
      this.n -= 8;
      this.byte((this.acc >>> this.n) & 0xff);
    }
    this.acc &= (1 << this.n) - 1;
  }

  write32(value: number): void {
    this.write(16, value >>> 16);
    this.write(16, value & 0xffff);
  }

  private byte(b: number): void {
    if (this.pos === this.buf.length) {
      this.chunks.push(this.buf);
      this.buf = Buffer.alloc(this.buf.length * 2);
      this.pos = 0;
    }
    this.buf[this.pos++] = b;
  }

  finish(): Buffer {
    if (this.n > 0) this.write(8 - this.n, 0);
    return Buffer.concat([...this.chunks, this.buf.subarray(0, this.pos)]);
  }
}

export function bzip2(input: Buffer): Buffer {
  const out = new BitWriter();
  out.write(24, 0x425a68); // "BZh"
  out.write(8, 0x39); // '9'
  let combined = 0;
  const block = new Uint8Array(BLOCK_MAX);
  let at = 0;
  while (at < input.length) {
    const { length, consumed, crc } = runLengthBlock(input, at, block);
    at += consumed;
    combined = (((combined << 1) | (combined >>> 31)) ^ crc) >>> 0;
    writeBlock(out, block.subarray(0, length), crc);
  }
  out.write(24, 0x177245);
  out.write(24, 0x385090);
  out.write32(combined);
  return out.finish();
}

/** RLE1 from `start` into `block` until it is full; the CRC is of the input bytes taken. */
function runLengthBlock(input: Buffer, start: number, block: Uint8Array): { length: number; consumed: number; crc: number } {
  let crc = -1;
  let i = start;
  let n = 0;
  while (i < input.length && n + 5 <= block.length) {
    const b = input[i]!;
    let run = 1;
    while (run < 255 && i + run < input.length && input[i + run] === b) run++;
    for (let k = 0; k < run; k++) crc = (crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ b) & 0xff]!;
    i += run;
    if (run < 4) {
      for (let k = 0; k < run; k++) block[n++] = b;
    } else {
      block[n++] = b;
      block[n++] = b;
      block[n++] = b;
      block[n++] = b;
      block[n++] = run - 4;
    }
  }
  return { length: n, consumed: i - start, crc: ~crc >>> 0 };
}

/** The sorted cyclic rotations of `s` (their start offsets), by prefix doubling with counting sorts. */
function sortRotations(s: Uint8Array): Int32Array {
  const n = s.length;
  const p = new Int32Array(n);
  let c = new Int32Array(n);
  const pn = new Int32Array(n);
  let cn = new Int32Array(n);
  const count = new Int32Array(Math.max(256, n));
  for (let i = 0; i < n; i++) count[s[i]!]!++;
  for (let i = 1; i < 256; i++) count[i]! += count[i - 1]!;
  for (let i = n - 1; i >= 0; i--) p[--count[s[i]!]!] = i;
  let classes = 1;
  c[p[0]!] = 0;
  for (let i = 1; i < n; i++) {
    if (s[p[i]!] !== s[p[i - 1]!]) classes++;
    c[p[i]!] = classes - 1;
  }
  for (let h = 1; h < n && classes < n; h <<= 1) {
    for (let i = 0; i < n; i++) pn[i] = (p[i]! - h + n) % n;
    count.fill(0, 0, classes);
    for (let i = 0; i < n; i++) count[c[pn[i]!]!]!++;
    for (let i = 1; i < classes; i++) count[i]! += count[i - 1]!;
    for (let i = n - 1; i >= 0; i--) p[--count[c[pn[i]!]!]!] = pn[i]!;
    cn[p[0]!] = 0;
    classes = 1;
    for (let i = 1; i < n; i++) {
      const a = p[i]!;
      const b = p[i - 1]!;
      if (c[a] !== c[b] || c[(a + h) % n] !== c[(b + h) % n]) classes++;
      cn[a] = classes - 1;
    }
    [c, cn] = [cn, c];
  }
  return p;
}

function writeBlock(out: BitWriter, block: Uint8Array, crc: number): void {
  const n = block.length;
  const order = sortRotations(block);
  let origPtr = 0;
  const last = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const start = order[i]!;
    if (start === 0) origPtr = i;
    last[i] = block[(start + n - 1) % n]!;
  }
  // Move-to-front over the bytes in use, zero runs as RUNA (0) / RUNB (1), other ranks v as v + 1, then end of block.
  const inUse = new Array<boolean>(256).fill(false);
  for (let i = 0; i < n; i++) inUse[last[i]!] = true;
  const used: number[] = [];
  for (let b = 0; b < 256; b++) if (inUse[b]) used.push(b);
  const eob = used.length + 1;
  const alphaSize = used.length + 2;
  const syms = new Uint16Array(n + 1);
  let nSyms = 0;
  const mtf = Uint8Array.from(used);
  let zeros = 0;
  const flushZeros = () => {
    for (let z = zeros - 1; ; z = (z - 2) >> 1) {
      syms[nSyms++] = z & 1; // RUNB for odd, RUNA for even: bijective base 2
      if (z < 2) break;
    }
    zeros = 0;
  };
  for (let i = 0; i < n; i++) {
    const b = last[i]!;
    let j = 0;
    while (mtf[j] !== b) j++;
    if (j === 0) {
      zeros++;
      continue;
    }
    if (zeros) flushZeros();
    mtf.copyWithin(1, 0, j);
    mtf[0] = b;
    syms[nSyms++] = j + 1;
  }
  if (zeros) flushZeros();
  syms[nSyms++] = eob;

  const tables = chooseTables(syms.subarray(0, nSyms), alphaSize);

  out.write(24, 0x314159);
  out.write(24, 0x265359);
  out.write32(crc);
  out.write(1, 0); // not randomised
  out.write(24, origPtr);
  let ranges = 0;
  for (let r = 0; r < 16; r++) if (inUse.slice(r * 16, r * 16 + 16).some(Boolean)) ranges |= 0x8000 >> r;
  out.write(16, ranges);
  for (let r = 0; r < 16; r++) {
    if (!(ranges & (0x8000 >> r))) continue;
    let bits = 0;
    for (let k = 0; k < 16; k++) if (inUse[r * 16 + k]) bits |= 0x8000 >> k;
    out.write(16, bits);
  }
  out.write(3, 2);
  out.write(15, tables.selectors.length);
  // Selectors are move-to-front coded then unary; with two tables the rank is the table when the last one was 0.
  let front = 0;
  for (const t of tables.selectors) {
    if (t === front) out.write(1, 0);
    else {
      out.write(2, 0b10);
      front = t;
    }
  }
  for (const lengths of tables.lengths) {
    let cur = lengths[0]!;
    out.write(5, cur);
    for (let s = 0; s < alphaSize; s++) {
      // Each symbol's length as steps from the one before: 10 up, 11 down, 0 done.
      for (; cur < lengths[s]!; cur++) out.write(2, 0b10);
      for (; cur > lengths[s]!; cur--) out.write(2, 0b11);
      out.write(1, 0);
    }
  }
  const codes = tables.lengths.map(canonicalCodes);
  for (let g = 0; g < tables.selectors.length; g++) {
    const t = tables.selectors[g]!;
    const [lengths, code] = [tables.lengths[t]!, codes[t]!];
    const end = Math.min(nSyms, (g + 1) * GROUP);
    for (let i = g * GROUP; i < end; i++) out.write(lengths[syms[i]!]!, code[syms[i]!]!);
  }
}

/**
 * Two Huffman tables: one from all the symbols, one refitted to the groups
 * the first codes worst; each group then takes the table that codes it shorter.
 */
function chooseTables(syms: Uint16Array, alphaSize: number): { lengths: Uint8Array[]; selectors: number[] } {
  const groups = Math.ceil(syms.length / GROUP);
  const freqOf = (filter: (g: number) => boolean) => {
    const f = new Uint32Array(alphaSize);
    for (let g = 0; g < groups; g++) if (filter(g)) for (let i = g * GROUP; i < Math.min(syms.length, (g + 1) * GROUP); i++) f[syms[i]!]!++;
    return f;
  };
  const cost = (lengths: Uint8Array, g: number) => {
    let bits = 0;
    for (let i = g * GROUP; i < Math.min(syms.length, (g + 1) * GROUP); i++) bits += lengths[syms[i]!]!;
    return bits;
  };
  const all = huffmanLengths(freqOf(() => true));
  const costs = Array.from({ length: groups }, (_, g) => cost(all, g) / Math.min(GROUP, syms.length - g * GROUP));
  const median = [...costs].sort((a, b) => a - b)[Math.floor(groups / 2)]!;
  const worse = huffmanLengths(freqOf((g) => costs[g]! > median));
  const selectors = Array.from({ length: groups }, (_, g) => (cost(worse, g) < cost(all, g) ? 1 : 0));
  return { lengths: [all, worse], selectors };
}

/** Huffman code lengths for every symbol (unseen ones too), at most MAX_CODE bits: frequencies are flattened until they fit, as bzip2 does. */
function huffmanLengths(freq: Uint32Array): Uint8Array {
  const weights = Array.from(freq, (f) => Math.max(1, f));
  for (;;) {
    const lengths = huffman(weights);
    if (Math.max(...lengths) <= MAX_CODE) return Uint8Array.from(lengths);
    for (let i = 0; i < weights.length; i++) weights[i] = 1 + (weights[i]! >> 1);
  }
}

function huffman(weights: number[]): number[] {
  // Nodes: leaves 0..n-1, then inner nodes; parent links give each leaf's depth.
  const n = weights.length;
  const weight = [...weights];
  const parent = new Array<number>(2 * n).fill(-1);
  const live = weights.map((_, i) => i);
  while (live.length > 1) {
    live.sort((a, b) => weight[a]! - weight[b]! || a - b);
    const [a, b] = live.splice(0, 2) as [number, number];
    const node = weight.length;
    weight.push(weight[a]! + weight[b]!);
    parent[a] = node;
    parent[b] = node;
    live.push(node);
  }
  return weights.map((_, leaf) => {
    let depth = 0;
    for (let x = leaf; parent[x]! >= 0; x = parent[x]!) depth++;
    return Math.max(1, depth);
  });
}

/** bzip2's canonical codes: by length, then by symbol. */
function canonicalCodes(lengths: Uint8Array): Uint32Array {
  const code = new Uint32Array(lengths.length);
  let next = 0;
  for (let len = 1; len <= MAX_CODE; len++) {
    for (let s = 0; s < lengths.length; s++) if (lengths[s] === len) code[s] = next++;
    next <<= 1;
  }
  return code;
}
