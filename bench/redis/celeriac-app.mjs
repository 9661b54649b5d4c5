// The Celeriac app the Redis benchmark runs: one no-op task. Plain JavaScript
// importing the built package, as a deployed app runs.
import { Celeriac } from "celeriac";

export const app = new Celeriac({ name: "bench", broker: process.env.BENCH_REDIS_URL, backend: process.env.BENCH_REDIS_URL });

export const noop = app.task({ name: "bench.noop", ignoreResult: true }, () => null);

/** Stores its result: for the delay→get round trip. */
export const echo = app.task("bench.echo", (x) => x);
