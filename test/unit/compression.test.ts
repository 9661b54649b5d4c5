// Compression by kombu's names: bodies Python's kombu compressed, read back;
// ours read by kombu; and every format's bomb stopped at the limit.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, it } from "node:test";
import { compress, decompress } from "../../src/protocol/compression.js";
import { DecodeError, EncodeError, MessageTooLarge } from "../../src/errors.js";
import { installedVersion } from "../../src/util/optional-package.js";

const PY = "/usr/bin/python3";
const text = Buffer.from(JSON.stringify([["héllo ✓", 2], { big: "x".repeat(50_000) }, {}]));

/** `text` compressed by kombu.compression.compress under `alias`, and the content type kombu wrote. */
function kombuCompressed(alias: string, input: Buffer = text): { body: Buffer; contentType: string } {
  const script = `
import sys, base64, json
from kombu.compression import compress
body, ct = compress(sys.stdin.buffer.read(), ${JSON.stringify(alias)})
print(json.dumps({"body": base64.b64encode(body).decode(), "ct": ct}))`;
  const out = JSON.parse(execFileSync(PY, ["-c", script], { input, maxBuffer: 1 << 26 }).toString()) as { body: string; ct: string };
  return { body: Buffer.from(out.body, "base64"), contentType: out.ct };
}

function kombuDecompressed(body: Buffer, contentType: string): Buffer {
  const script = `
import sys
from kombu.compression import decompress
sys.stdout.buffer.write(decompress(sys.stdin.buffer.read(), ${JSON.stringify(contentType)}))`;
  return execFileSync(PY, ["-c", script], { input: body, maxBuffer: 1 << 26 });
}

describe("compression, as kombu registers it", () => {
  for (const [alias, contentType] of [
    ["bzip2", "application/x-bz2"],
    ["bzip", "application/x-bz2"],
    ["zstd", "application/zstd"],
    ["zstandard", "application/zstd"],
    ["zlib", "application/x-gzip"],
    ["xz", "application/x-lzma"],
    ["lzma", "application/x-lzma"],
  ] as const) {
    it(`reads what kombu compressed as ${alias} (${contentType}), by content type and by alias`, () => {
      const packed = kombuCompressed(alias);
      assert.equal(packed.contentType, contentType);
      assert.deepEqual(decompress(packed.body, packed.contentType, 1 << 20), text);
      assert.deepEqual(decompress(packed.body, alias, 1 << 20), text);
    });
  }

  it("kombu reads what we compressed (zlib, bzip2, xz; brotli needs Python's brotli: skipped there)", () => {
    for (const alias of ["zlib", "bzip2", "xz", "lzma"]) {
      const ours = compress(text, alias);
      assert.deepEqual(kombuDecompressed(ours.body, ours.contentType), text, alias);
    }
  });

  it("our bzip2 encoder: empty, runs across RLE1's 4/255 bounds, several blocks, random bytes; read by Python's bz2 and by us", () => {
    const cases = [
      Buffer.alloc(0),
      Buffer.from("a"),
      Buffer.from("aaaa"),
      Buffer.concat([Buffer.alloc(255, 1), Buffer.alloc(256, 2), Buffer.alloc(3, 3), Buffer.alloc(4, 4), Buffer.alloc(5, 4)]),
      Buffer.from("banana".repeat(1000)),
      Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 251)),
      // Two blocks (a block holds up to 899,981 bytes after RLE1); one run-length stage output of 4+1 bytes per 255.
      Buffer.from(Array.from({ length: 950_000 }, (_, i) => (i * i) % 97)),
    ];
    const script = `
import sys, bz2, json, base64
print(json.dumps([base64.b64encode(bz2.decompress(base64.b64decode(b))).decode() for b in json.load(sys.stdin)]))`;
    const packed = cases.map((c) => compress(c, "bzip2").body);
    const back = JSON.parse(
      execFileSync(PY, ["-c", script], { input: JSON.stringify(packed.map((b) => b.toString("base64"))), maxBuffer: 1 << 26 }).toString(),
    ) as string[];
    cases.forEach((c, i) => {
      assert.ok(Buffer.from(back[i]!, "base64").equals(c), `Python's bz2 reads case ${i}`);
      assert.ok(decompress(packed[i]!, "application/x-bz2", null).equals(c), `we read case ${i}`);
    });
    assert.ok(packed[4]!.length < 200, "it compresses");
  });

  it("reads a multi-stream bzip2 body and a multi-frame zstd body", () => {
    const a = kombuCompressed("bzip2", Buffer.from("first,"));
    const b = kombuCompressed("bzip2", Buffer.from("second"));
    assert.equal(decompress(Buffer.concat([a.body, b.body]), "application/x-bz2").toString(), "first,second");
    const c = kombuCompressed("zstd", Buffer.from("first,"));
    const d = kombuCompressed("zstd", Buffer.from("second"));
    assert.equal(decompress(Buffer.concat([c.body, d.body]), "application/zstd", 100).toString(), "first,second");
    const e = kombuCompressed("xz", Buffer.from("first,"));
    const f = kombuCompressed("xz", Buffer.from("second"));
    assert.equal(decompress(Buffer.concat([e.body, f.body]), "application/x-lzma", 100).toString(), "first,second");
  });

  it("xz: empty and random bodies both ways, and the legacy .lzma format Python's lzma.decompress also reads", () => {
    for (const input of [Buffer.alloc(0), Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7919 + (i >> 3)) % 256))]) {
      const ours = compress(input, "xz");
      assert.ok(kombuDecompressed(ours.body, ours.contentType).equals(input));
      assert.ok(decompress(ours.body, "application/x-lzma", 1 << 20).equals(input));
    }
    const alone = execFileSync(PY, ["-c", "import lzma, sys; sys.stdout.buffer.write(lzma.compress(sys.stdin.buffer.read(), format=lzma.FORMAT_ALONE))"], {
      input: text,
    });
    assert.deepEqual(decompress(alone, "application/x-lzma", 1 << 20), text);
  });

  it("an xz bomb (64 MiB of spaces in 10 kB) stops at the limit; a header asking for a 1.5 GiB dictionary is refused, not allocated", () => {
    const bomb = execFileSync(PY, ["-c", "import lzma, sys; sys.stdout.buffer.write(lzma.compress(b' ' * 64 * 2**20, preset=0))"], { maxBuffer: 1 << 26 });
    assert.ok(bomb.length < 20_000);
    const before = process.memoryUsage().arrayBuffers;
    assert.throws(() => decompress(bomb, "application/x-lzma", 1 << 20), MessageTooLarge);
    assert.ok(process.memoryUsage().arrayBuffers - before < 32 * 1024 * 1024, "did not inflate 64 MiB");
    const greedy = execFileSync(PY, [
      "-c",
      "import lzma, sys; sys.stdout.buffer.write(lzma.compress(b'x', filters=[{'id': lzma.FILTER_LZMA2, 'dict_size': 1536 << 20}]))",
    ]);
    assert.throws(() => decompress(greedy, "application/x-lzma", 1 << 20), /cannot decompress application\/x-lzma body: Memory usage limit/);
  });

  it("a bzip2 bomb (242 bytes to 300 MB) stops at the limit", () => {
    const bomb = execFileSync(PY, ["-c", "import bz2, sys; sys.stdout.buffer.write(bz2.compress(b' ' * 300 * 2**20, 9))"]);
    assert.ok(bomb.length < 1000);
    const before = process.memoryUsage().arrayBuffers;
    assert.throws(() => decompress(bomb, "application/x-bz2", 1 << 20), MessageTooLarge);
    assert.ok(process.memoryUsage().arrayBuffers - before < 50 * 1024 * 1024, "did not inflate 300 MB");
  });

  it("a zstd frame over the limit is refused by its header, or as it inflates when it states no size", () => {
    const big = kombuCompressed("zstd", Buffer.alloc(5 << 20, 0x20));
    assert.throws(() => decompress(big.body, "application/zstd", 1 << 20), /states a frame of 5242880 bytes, over the message size limit/);
    assert.equal(decompress(big.body, "application/zstd", 5 << 20).length, 5 << 20);
    // No content size in the header (python-zstandard's write_content_size=False): counted as it comes.
    const unsized = execFileSync(PY, [
      "-c",
      "import zstandard, sys; sys.stdout.buffer.write(zstandard.ZstdCompressor(write_content_size=False).compress(b' ' * 5 * 2**20))",
    ]);
    assert.throws(() => decompress(unsized, "application/zstd", 1 << 20), /states a frame of window 2097152 bytes/);
    assert.throws(() => decompress(unsized, "application/zstd", 4 << 20), /inflates to more than the message size limit \(4194304 bytes\)/);
    assert.equal(decompress(unsized, "application/zstd", 5 << 20).length, 5 << 20);
  });

  it("bad and truncated bodies fail with a DecodeError naming the format", () => {
    const packed = kombuCompressed("bzip2");
    assert.throws(() => decompress(packed.body.subarray(0, 40), "application/x-bz2"), /cannot decompress application\/x-bz2/);
    assert.throws(() => decompress(text, "application/x-bz2"), DecodeError);
    const z = kombuCompressed("zstd");
    assert.throws(() => decompress(z.body.subarray(0, z.body.length - 10), "application/zstd", 1 << 20), DecodeError);
    assert.throws(() => decompress(text, "application/zstd", 1 << 20), /not a zstd frame/);
    const x = kombuCompressed("xz");
    assert.throws(() => decompress(x.body.subarray(0, x.body.length - 10), "application/x-lzma", 1 << 20), /application\/x-lzma body: truncated stream/);
    assert.throws(() => decompress(text, "application/x-lzma"), /cannot decompress application\/x-lzma body: File format not recognized/);
    const tampered = Buffer.from(x.body);
    tampered[40] = tampered[40]! ^ 0xff;
    assert.throws(() => decompress(tampered, "application/x-lzma"), DecodeError);
    assert.throws(() => decompress(text, "application/x-snappy"), /unknown compression "application\/x-snappy"/);
  });

  it("zstd is sent with zstd-napi when it is installed (kombu reads it), else refused with an EncodeError naming it", () => {
    // zstd-napi is no dependency (CI does not build it): with NODE_PATH pointing at a build of it, the first branch runs.
    if (installedVersion("zstd-napi")) {
      const ours = compress(text, "zstd");
      assert.equal(ours.contentType, "application/zstd");
      assert.deepEqual(kombuDecompressed(ours.body, ours.contentType), text);
      assert.deepEqual(decompress(ours.body, "zstandard", 1 << 20), text);
    } else {
      assert.throws(
        () => compress(text, "zstd"),
        (err: Error) => err instanceof EncodeError && /npm install zstd-napi --build-from-source/.test(err.message),
      );
    }
  });

  it("an unknown compression name is refused by name", () => {
    assert.throws(() => compress(text, "nope"), /unknown compression "nope"/);
  });
});
