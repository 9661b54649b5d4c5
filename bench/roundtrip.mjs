// delay→get round trips from a producer process of its own, as Python's
// clients do for Celery: the bench process itself holds the heaps of the
// enqueue rounds, and its collector would show in the tails.
//
//   node bench/roundtrip.mjs <celeriac|bullmq|raw> <queue> <n>   prints {"samples_ms": […]}
//
// BENCH_REDIS_URL: the Redis for every system. For Celeriac, BENCH_BROKER_URL
// and BENCH_BACKEND_URL (when set) name another broker and result backend
// (RabbitMQ with rpc://), and BENCH_TASK the task (default bench.echo(i)).
import { Queue, QueueEvents } from "bullmq";
import { Celeriac } from "celeriac";
import { Redis } from "ioredis";

const [system, queue, n] = [process.argv[2], process.argv[3], Number(process.argv[4])];
const url = process.env.BENCH_REDIS_URL;
/**
 * Round trips before the measured ones, for this long (ms): in a process's first
 * seconds V8 compiles its hot code on background threads, which on two cores
 * compete with the three processes of a round trip and set the tail. The
 * steady state is what a long-running service sees; every system gets the same.
 */
const WARM_UP_MS = Number(process.env.BENCH_WARM_UP_MS ?? 3000);

/** Runs `once` for WARM_UP_MS, then n times more, one after another; the times of those n, ms. */
async function measure(once) {
  const warmUntil = performance.now() + WARM_UP_MS;
  let i = 0;
  while (performance.now() < warmUntil) await once(i++);
  const samples = [];
  for (let j = 0; j < n; j++, i++) {
    const t0 = performance.now();
    await once(i);
    samples.push(performance.now() - t0);
  }
  return samples;
}

async function celeriac() {
  const broker = process.env.BENCH_BROKER_URL ?? url;
  const task = process.env.BENCH_TASK ?? "bench.echo";
  // On RabbitMQ the run's queue has an exchange of its own name (bench/amqp.ts).
  const routing = broker.startsWith("amqp") ? { taskDefaultQueue: queue, taskDefaultExchange: queue, taskDefaultRoutingKey: queue } : {};
  const app = new Celeriac({ name: "bench-roundtrip", broker, backend: process.env.BENCH_BACKEND_URL ?? url, ...routing });
  const args = task === "bench.echo" ? (i) => [i] : () => [];
  try {
    return await measure((i) => app.sendTask(task, args(i), undefined, { queue }).get({ timeout: 10_000 }));
  } finally {
    await app.close();
  }
}

async function bullmq() {
  const u = new URL(url);
  const connection = { host: u.hostname, port: Number(u.port || 6379), db: Number(u.pathname.slice(1) || 0) };
  const q = new Queue(queue, { connection });
  const events = new QueueEvents(queue, { connection });
  await Promise.all([q.waitUntilReady(), events.waitUntilReady()]);
  // QueueEvents reads its stream from "now" once its first blocking read is in:
  // a job that finishes before that is never reported (seen as a 10 s timeout
  // on the first warm-up job). Give the read a moment to start.
  await new Promise((r) => setTimeout(r, 300));
  try {
    return await measure(async (i) => (await q.add("echo", { x: i }, { removeOnComplete: 1000 })).waitUntilFinished(events, 10_000));
  } finally {
    await events.close();
    await q.close();
  }
}

/** The floor: bench/redis/raw-worker.mjs answers each LPUSH with a PUBLISH. */
async function raw() {
  const client = new Redis(url);
  const sub = new Redis(url);
  let done = () => {};
  sub.on("message", () => done());
  await sub.subscribe("bench-raw-done");
  try {
    return await measure(async (i) => {
      const answered = new Promise((r) => (done = r));
      await client.lpush("bench-raw", String(i));
      await answered;
    });
  } finally {
    sub.disconnect();
    client.disconnect();
  }
}

const samples = await { celeriac, bullmq, raw }[system]();
console.log(JSON.stringify({ samples_ms: samples }));
