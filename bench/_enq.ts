import { Celeriac } from "../src/index.js";
const app = new Celeriac({ name: "p", broker: "redis://127.0.0.1:6379/5", backend: "redis://127.0.0.1:6379/5" });
await app.sendTask("bench.noop", [0], undefined, { queue: "enqx" }).sent;
for (let round = 0; round < 3; round++) {
  const N = 50000;
  const t0 = performance.now();
  const sent: Promise<void>[] = new Array(N);
  for (let i = 0; i < N; i++) sent[i] = app.sendTask("bench.noop", [i], undefined, { queue: "enqx" }).sent;
  const t1 = performance.now();
  await Promise.all(sent);
  const t2 = performance.now();
  console.log(`enqueue ${(N / (t2 - t0) * 1000).toFixed(0)}/s (build ${(t1 - t0).toFixed(0)} ms, wait ${(t2 - t1).toFixed(0)} ms)`);
}
const b = await app.broker(); await b.purge("enqx"); await app.close();
