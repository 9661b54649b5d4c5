#!/usr/bin/env node
// `npm run parity -- <celery-5.2.6 source tree> [--python] [pytest args…]`:
// runs Celery 5.2.6's own integration tests (t/integration/test_tasks.py,
// test_canvas.py, test_inspect.py, unchanged) with a Python producer against a
// Celeriac worker over Redis, or with --python against Celery's own worker for
// the reference figure, and prints the pass count. The Celery tree is not part
// of this repository: get it with
//   git clone -b v5.2.6 --depth 1 https://github.com/celery/celery /tmp/celery-5.2.6
// Needs /usr/bin/python3 with celery 5.2.6, pytest, pytest-timeout and Redis.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const [tree, ...rest] = process.argv.slice(2);
if (!tree || !existsSync(join(tree, "t", "integration", "test_tasks.py"))) {
  console.error("usage: npm run parity -- <celery 5.2.6 source tree> [--python] [pytest args…]");
  process.exit(2);
}
const python = rest.includes("--python");
const extra = rest.filter((a) => a !== "--python");
const redis = process.env.PARITY_REDIS_URL ?? "redis://127.0.0.1:6379/12";
// The broker defaults to the same Redis; PARITY_BROKER_URL=amqp://… runs the suite over RabbitMQ (results stay in Redis, as in Celery's own CI).
const broker = process.env.PARITY_BROKER_URL ?? redis;
const brokerName = broker.startsWith("amqp") ? "RabbitMQ" : "Redis";
// The tree's own celery/ package must not shadow the installed Celery 5.2.6
// (Debian's, patched for its billiard 4: the tree's fails to import billiard's
// buf_t, so its prefork worker does not start, and its eager traces wrap
// errors in ExceptionWithTraceback): only the tree's t/ package goes on the
// path, through a scratch folder that holds a link to it (and to the tree's
// pytest settings, which collect the suite's test_* classes), which is also
// the folder pytest and the worker run in.
const suite = mkdtempSync(join(tmpdir(), "celeriac-parity-"));
for (const entry of ["t", "pyproject.toml"]) symlinkSync(join(resolve(tree), entry), join(suite, entry));
const files = ["test_tasks.py", "test_canvas.py", "test_inspect.py"].map((f) => join(suite, "t", "integration", f));
const args = [
  "-m",
  "pytest",
  ...files,
  "-p",
  "celery.contrib.pytest",
  "-p",
  "celeriac_worker",
  // Celery marks its integration tests flaky (5 reruns each): off, so a failure costs one run, not six.
  "-p",
  "no:rerunfailures",
  "-o",
  "addopts=",
  "-p",
  "no:cacheprovider",
  "--timeout=120",
  "-q",
  "-rfE",
  ...extra,
];
const child = spawn("/usr/bin/python3", args, {
  cwd: suite,
  env: {
    ...process.env,
    PYTHONPATH: [here, suite].join(":"),
    PARITY_WORKER: python ? "python" : "celeriac",
    TEST_BROKER: broker,
    TEST_BACKEND: redis,
    REDIS_HOST: new URL(redis).hostname,
  },
  stdio: ["ignore", "pipe", "inherit"],
});
let tail = "";
child.stdout.on("data", (chunk) => {
  process.stdout.write(chunk);
  tail = (tail + chunk.toString()).slice(-4000);
});
child.on("close", (code) => {
  rmSync(suite, { recursive: true, force: true });
  const summary = tail.trim().split("\n").pop() ?? "";
  console.log(`\nparity (${python ? "Python Celery worker" : "Celeriac worker"}, ${brokerName}): ${summary}`);
  process.exit(code === 0 || code === 1 ? 0 : (code ?? 1));
});
