// Decompression speed of each compression Celeriac reads, side by side with
// Python's kombu on the same body: a task body of about 1 MiB of JSON records,
// compressed by kombu. Run: npx tsx bench/codecs.ts (BENCH_ROUNDS, default 20).
import { execFileSync } from "node:child_process";
import { decompress } from "../src/protocol/compression.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 20);
const MAKE_BODY = `import json, random
random.seed(1)
body = json.dumps([[{"id": i, "name": "user%d" % i, "score": random.random(), "tags": ["a", "b", str(i % 7)]} for i in range(12000)], {}, {}]).encode()`;

/** The body kombu compressed under `alias`, and kombu's own milliseconds per decompress of it. */
function fromPython(alias: string): { body: Buffer; pyMs: number } {
  const script = `${MAKE_BODY}
import sys, time, base64, json as j
from kombu.compression import compress, decompress
packed, ct = compress(body, ${JSON.stringify(alias)})
t = time.perf_counter()
for _ in range(${ROUNDS}): decompress(packed, ct)
print(j.dumps({"body": base64.b64encode(packed).decode(), "ms": (time.perf_counter() - t) * 1000 / ${ROUNDS}}))`;
  const out = JSON.parse(execFileSync("/usr/bin/python3", ["-c", script], { maxBuffer: 1 << 26 }).toString()) as { body: string; ms: number };
  return { body: Buffer.from(out.body, "base64"), pyMs: out.ms };
}

console.log("| compression | compressed | first call (loads the codec) | Celeriac per body | kombu per body | Celeriac / kombu time |");
console.log("|---|---|---|---|---|---|");
for (const alias of ["zlib", "bzip2", "zstd"]) {
  const { body, pyMs } = fromPython(alias);
  let t = performance.now();
  const out = decompress(body, alias, 64 << 20);
  const firstMs = performance.now() - t;
  t = performance.now();
  for (let i = 0; i < ROUNDS; i++) decompress(body, alias, 64 << 20);
  const ms = (performance.now() - t) / ROUNDS;
  console.log(
    `| ${alias} | ${body.length} B of ${out.length} | ${firstMs.toFixed(0)} ms | ${ms.toFixed(1)} ms | ${pyMs.toFixed(1)} ms | ${(ms / pyMs).toFixed(1)}× |`,
  );
}
