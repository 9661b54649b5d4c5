// The floor for a delay→get round trip on this machine: bare ioredis, the same
// hops as a task queue (LPUSH → BRPOP in another process → SET + PUBLISH →
// subscriber) and nothing else. No queue can be faster than this here.
import { Redis } from "ioredis";

const url = process.env.BENCH_REDIS_URL;
const blocker = new Redis(url);
const client = new Redis(url);
console.log("raw worker ready");
for (;;) {
  const popped = await blocker.brpop("bench-raw", 1);
  if (popped) client.multi().set(`bench-raw-result-${popped[1]}`, "x").publish("bench-raw-done", popped[1]).exec();
}
