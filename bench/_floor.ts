import { Redis } from "ioredis";
import { spawn } from "node:child_process";
if (process.argv[2] === "worker") {
  const b = new Redis("redis://127.0.0.1:6379/5"), c = new Redis("redis://127.0.0.1:6379/5");
  for (;;) {
    const r = await b.brpop("floorq", 5);
    if (!r) continue;
    await c.multi().zadd("z", 1, "a").hset("h", "a", "b").exec();
    await c.publish("floorch", r[1]);
  }
}
const w = spawn(process.execPath, ["--import", "tsx", "bench/_floor.ts", "worker"], { stdio: "inherit" });
await new Promise((r) => setTimeout(r, 1500));
const a = new Redis("redis://127.0.0.1:6379/5"), sub = new Redis("redis://127.0.0.1:6379/5");
await sub.subscribe("floorch");
let resolveMsg: (() => void) | null = null;
sub.on("message", () => resolveMsg?.());
const s: number[] = [];
for (let i = 0; i < 3000; i++) {
  const t0 = performance.now();
  const got = new Promise<void>((r) => (resolveMsg = r));
  await a.lpush("floorq", "x" + i);
  await got;
  if (i > 300) s.push(performance.now() - t0);
}
s.sort((x, y) => x - y);
console.log("floor p50", s[s.length >> 1].toFixed(3), "p99", s[Math.floor(s.length * 0.99)].toFixed(3));
w.kill(); process.exit(0);
