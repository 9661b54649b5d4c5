#!/usr/bin/env node
// The test runner behind `npm test`. Most of a test file's time is spent
// waiting on brokers and worker processes, so files run side by side
// (CELERIAC_TEST_CONCURRENCY, default 3). Then the interop files (a Python
// Celery peer each) two at a time. Then the files that hear every worker on the
// shared brokers (ping, events), one at a time, beside the fault files (heavy
// peers of their own: a private RabbitMQ node, a Sentinel set, a cluster), one
// at a time; last, alone, the files whose assertions are about timing.
//
//   node scripts/test.mjs                 every test/*/*.test.ts
//   node scripts/test.mjs test/unit/*.ts  only these files
//   node scripts/test.mjs --compiled      processes started by tests run from .test-build/ (npm test)
//
// Each file runs in `node --import tsx --test <file>` leading a process group
// of its own, killed whole when the file ends, times out or the run is stopped.
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CONCURRENCY = Math.max(1, Number(process.env.CELERIAC_TEST_CONCURRENCY ?? 3));
// Far above the slowest file (about 3 min): only a hang reaches it.
const FILE_TIMEOUT_MS = Number(process.env.CELERIAC_TEST_FILE_TIMEOUT_MS ?? 15 * 60_000);

// Python peers, on queues of their own: two at a time, after the parallel group.
const PAIRED = [/^test\/interop\//];
// Counting every worker that answers on the shared brokers (ping, events): one
// at a time, with no other file on those brokers; beside them, one at a time,
// the fault files, whose brokers are their own (killed, stopped, clustered).
const BROADCAST = [/^test\/interop\/(amqp|redis|events|sentinel)-celery\.test\.ts$/]; // ping and events hear the other files' workers
const OWN_SERVERS = [/^test\/faults\//];
// Timing-sensitive or heavy: alone, last.
const TIMING = [
  /^test\/integration\/beat-processes\.test\.ts$/, // beat ticks of 200 ms, counted per period
  /^test\/integration\/rate-limit-amqp\.test\.ts$/, // measures the spacing of runs
  /^test\/integration\/worker-redis\.test\.ts$/, // 50 000 scheduled messages
];
const SERIAL = [...BROADCAST, ...OWN_SERVERS, ...TIMING];

// Known broken and slow (a 3-node RabbitMQ cluster, 150 s, marked todo): its
// scenario runs in `npm run chaos` (CHAOS_ONLY=cluster); here only with
// CELERIAC_TEST_ALL=1 or when named. Said in the output, never skipped silently.
const KNOWN_BROKEN = [/^test\/faults\/amqp-cluster\.test\.ts$/];

function allTestFiles() {
  const files = [];
  for (const group of readdirSync(join(ROOT, "test"), { withFileTypes: true })) {
    if (!group.isDirectory()) continue;
    for (const f of readdirSync(join(ROOT, "test", group.name))) if (f.endsWith(".test.ts")) files.push(`test/${group.name}/${f}`);
  }
  return files.sort();
}

// --compiled: the processes the tests start run from .test-build/ (scripts/build-tests.mjs, which `npm test` runs first).
const compiled = process.argv.includes("--compiled");
const args = process.argv.slice(2).filter((a) => a !== "--compiled");
if (compiled) process.env.CELERIAC_TEST_COMPILED = join(ROOT, ".test-build");
const named = args.length > 0;
const everything = named ? args.map((f) => relative(ROOT, resolve(f))) : allTestFiles();
const held = named || process.env.CELERIAC_TEST_ALL === "1" ? [] : everything.filter((f) => KNOWN_BROKEN.some((re) => re.test(f)));
const files = everything.filter((f) => !held.includes(f));
for (const f of held) process.stdout.write(`not run: ${f} (known broken, see docs/high-availability.md; CELERIAC_TEST_ALL=1 runs it)\n`);
const serial = files.filter((f) => SERIAL.some((re) => re.test(f)));
const matching = (res) => serial.filter((f) => res.some((re) => re.test(f)));
const paired = files.filter((f) => !serial.includes(f) && PAIRED.some((re) => re.test(f)));
const parallel = files.filter((f) => !serial.includes(f) && !paired.includes(f));

const running = new Set();
let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    stopping = true;
    for (const child of running) killGroup(child);
    process.exitCode = 130;
  });
}

function killGroup(child) {
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    // The group is gone already.
  }
}

/** The counts node's spec reporter prints at the end of a file ("ℹ tests 12", "ℹ pass 11", …). */
function counts(output) {
  const count = (name) => Number(new RegExp(`^\\S* ?${name} (\\d+)$`, "m").exec(output)?.[1] ?? 0);
  return { tests: count("tests"), pass: count("pass"), fail: count("fail"), skipped: count("skipped") + count("todo"), cancelled: count("cancelled") };
}

/** Runs one file, streaming its lines prefixed with its name; resolves with its result. */
function runFile(file) {
  const started = Date.now();
  const child = spawn(process.execPath, ["--import", "tsx", "--test", "--test-reporter=spec", file], {
    cwd: ROOT,
    env: process.env,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  running.add(child);
  let output = "";
  const prefix = `[${file.replace(/^test\//, "").replace(/\.test\.ts$/, "")}] `;
  const stream = (to) => {
    let partial = "";
    return (chunk) => {
      const text = partial + chunk.toString();
      output += chunk.toString();
      const lines = text.split("\n");
      partial = lines.pop();
      for (const line of lines) to.write(prefix + line + "\n");
    };
  };
  child.stdout.on("data", stream(process.stdout));
  child.stderr.on("data", stream(process.stderr));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child);
  }, FILE_TIMEOUT_MS);
  return new Promise((resolve) => {
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      // Whatever the file started and left behind ends with it.
      killGroup(child);
      const c = counts(output);
      const ok = code === 0 && !timedOut && c.fail === 0 && c.cancelled === 0;
      const why = timedOut ? `timed out after ${FILE_TIMEOUT_MS} ms` : signal ? `killed by ${signal}` : `exit ${code}`;
      process.stdout.write(
        `${ok ? "ok  " : "FAIL"} ${file} (${((Date.now() - started) / 1000).toFixed(1)} s, ${c.pass}/${c.tests} passed${ok ? "" : `, ${why}`})\n`,
      );
      resolve({ file, ok, ms: Date.now() - started, ...c });
    });
  });
}

async function runAll(list, concurrency) {
  const results = [];
  let next = 0;
  async function lane() {
    while (!stopping && next < list.length) results.push(await runFile(list[next++]));
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, list.length) }, lane));
  return results;
}

const t0 = Date.now();
const broadcast = matching(BROADCAST);
const ownServers = matching(OWN_SERVERS);
const timing = matching(TIMING);
process.stdout.write(
  `${parallel.length} files at a concurrency of ${CONCURRENCY}, then ${paired.length} two at a time, ` +
    `then ${broadcast.length} one at a time beside ${ownServers.length} one at a time, then ${timing.length} alone\n`,
);
const results = [
  ...(await runAll(parallel, CONCURRENCY)),
  ...(await runAll(paired, 2)),
  ...(await Promise.all([runAll(broadcast, 1), runAll(ownServers, 1)])).flat(),
  ...(await runAll(timing, 1)),
];
const sum = (k) => results.reduce((n, r) => n + r[k], 0);
const failedFiles = results.filter((r) => !r.ok);
const slowest = [...results].sort((a, b) => b.ms - a.ms).slice(0, 5);
process.stdout.write(`\nslowest: ${slowest.map((r) => `${r.file} ${(r.ms / 1000).toFixed(0)} s`).join(", ")}\n`);
if (failedFiles.length) process.stdout.write(`failed files:\n${failedFiles.map((r) => `  ${r.file}`).join("\n")}\n`);
process.stdout.write(
  `files ${results.length}, tests ${sum("tests")}, passed ${sum("pass")}, failed ${sum("fail") + sum("cancelled")}, skipped ${sum("skipped")}, failed files ${failedFiles.length}, duration ${((Date.now() - t0) / 1000).toFixed(1)} s\n`,
);
if (failedFiles.length || results.length < files.length) process.exitCode = process.exitCode || 1;
