// The README's demo: starts a worker process on the embedded SQLite store,
// sends a few tasks, prints their states and results, stops the worker.
//   npm run demo
import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { add, app, divide, flaky, greet } from "./tasks.js";

const bin = fileURLToPath(new URL("../bin/celeriac.js", import.meta.url));
const tasksModule = fileURLToPath(new URL("./tasks.ts", import.meta.url));

// Start from an empty queue, whatever an earlier run left behind.
await (await app.broker()).purge(app.settings.taskDefaultQueue);

console.log(`broker and results: ${app.settings.brokerUrl}`);
const worker = spawn(process.execPath, [bin, "-A", tasksModule, "worker", "--concurrency", "2", "--loglevel", "warning"], {
  stdio: ["ignore", "inherit", "inherit"],
});
console.log(`worker started (pid ${worker.pid}); sending tasks…`);

// Tasks wait in the broker until the worker is up: nothing is lost meanwhile.
const calls = [
  { label: "add(2, 3)", result: add.delay(2, 3) },
  { label: "add(10, 20) with countdown 1s", result: add.applyAsync([10, 20], { countdown: 1 }) },
  { label: "greet('Ada', { greeting: 'Hi' })", result: greet.applyAsync(["Ada"], { kwargs: { greeting: "Hi" } }) },
  { label: "divide(1, 0)", result: divide.delay(1, 0) },
  { label: "flaky('sync')", result: flaky.delay("sync") },
];

let ok = true;
for (const { label, result } of calls) {
  const value: unknown = await result.get({ timeout: 30_000, propagate: false });
  const shown = value instanceof Error ? `${value.name}: ${value.message}` : JSON.stringify(value);
  console.log(`${label.padEnd(34)} -> ${result.state.padEnd(8)} ${shown}`);
  if (!["SUCCESS", "FAILURE"].includes(result.state)) ok = false;
}

worker.kill("SIGTERM");
const [code] = await once(worker, "exit");
console.log(`worker stopped (exit ${code})`);
await app.close();
process.exit(ok && code === 0 ? 0 : 1);
