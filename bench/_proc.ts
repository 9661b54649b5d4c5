import { spawn } from "node:child_process";
import { Redis } from "ioredis";
import { Celeriac } from "../src/index.js";
const URL_ = "redis://127.0.0.1:6379/5";
const redis = new Redis(URL_);
await redis.flushdb();
const app = new Celeriac({ name: "p", broker: URL_, backend: URL_ });
const N = Number(process.argv[2] ?? 50000);
const sent: Promise<void>[] = [];
for (let i = 0; i < N; i++) sent.push(app.sendTask("bench.noop", [i], undefined, { queue: "px" }).sent);
await Promise.all(sent);
const prof = process.env.PROF ? ["--cpu-prof", "--cpu-prof-dir=/tmp/prof3"] : [];
const w = spawn(process.execPath, [...prof, "--import", "tsx", "src/cli/main.ts", "-A", "bench/redis/celeriac-app.ts", "worker", "-P", "async", "-c", process.env.C ?? "100", "-l", "warning", "-Q", "px"], { env: { ...process.env, BENCH_REDIS_URL: URL_ }, stdio: "inherit" });
let t0 = performance.now();
for (;;) {
  const n = Number(await redis.llen("px")) + Number(await redis.hlen("unacked"));
  const now = performance.now();
  if (n >= N) t0 = now;
  if (n === 0) { console.log(`processing ${(N / (now - t0) * 1000).toFixed(0)}/s`); break; }
  await new Promise((r) => setTimeout(r, 2));
}
w.kill("SIGTERM"); await new Promise((r) => w.on("exit", r)); await app.close(); redis.disconnect();
