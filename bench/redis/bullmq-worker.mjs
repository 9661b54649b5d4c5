// One BullMQ worker process for the benchmark: no-op jobs, like the others
// (plain JavaScript, run by node as the Celeriac worker is).
import { Worker } from "bullmq";

const url = new URL(process.env.BENCH_REDIS_URL);
const connection = { host: url.hostname, port: Number(url.port || 6379), db: Number(url.pathname.slice(1) || 0) };
const worker = new Worker(process.env.BENCH_QUEUE, async (job) => job.data.x ?? null, {
  connection,
  concurrency: Number(process.env.BENCH_CONCURRENCY ?? 100),
});
await worker.waitUntilReady();
console.log("bullmq worker ready");
const stop = () => void worker.close().then(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
