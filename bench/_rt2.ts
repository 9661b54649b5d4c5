import { spawn } from "node:child_process";
import { Celeriac } from "../src/index.js";
const URL_ = "redis://127.0.0.1:6379/5";
const w = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "-A", "bench/redis/celeriac-app.ts", "worker", "-P", "async", "-c", "100", "-l", "warning", "-Q", "rt2"], { env: { ...process.env, BENCH_REDIS_URL: URL_ }, stdio: "inherit" });
const app = new Celeriac({ name: "p", broker: URL_, backend: URL_ });
for (let i = 0; i < 300; i++) await app.sendTask("bench.echo", [i], undefined, { queue: "rt2" }).get({ timeout: 10000 });
const a: number[] = [], b: number[] = [];
for (let i = 0; i < 2000; i++) {
  const t0 = performance.now();
  const r = app.sendTask("bench.echo", [i], undefined, { queue: "rt2" });
  await r.sent;
  const t1 = performance.now();
  await r.get({ timeout: 10000 });
  a.push(t1 - t0); b.push(performance.now() - t0);
}
const p = (s: number[], q: number) => [...s].sort((x, y) => x - y)[Math.floor(q * s.length)]!.toFixed(3);
console.log("sent p50", p(a, 0.5), "total p50", p(b, 0.5), "p99", p(b, 0.99));
w.kill("SIGTERM"); await new Promise((r) => w.on("exit", r)); await app.close(); process.exit(0);
