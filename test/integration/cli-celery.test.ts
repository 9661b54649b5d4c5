// The CLI beside Celery's, run as a user runs it: `-A tasks` by module name
// from the project directory, Celery's pool names and log levels, the banner,
// --detach/--pidfile/--logfile, multi, --purge, purge's question, shell,
// report, list bindings, and the errors for unknown names. Workers started
// here run as real processes in their own process groups; the detached ones
// (their own sessions) are stopped by the test and checked gone.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { promisify } from "node:util";
import { isAlive, readPidfile } from "../../src/cli/pidfile.js";
import { CLI, ROOT, startProcess } from "../support/processes.js";
import { waitUntil } from "../support/wait.js";

const exec = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), "celeriac-cli-celery-"));
const url = `sqlite://${join(dir, "broker.db")}`;
const TSX = import.meta.resolve("tsx");
// Under npm test the compiled CLI and a JavaScript tasks module (no tsx in each process, see
// test/support/processes.ts); run alone, the sources through tsx and a TypeScript one.
const COMPILED = process.env.CELERIAC_TEST_COMPILED;
const TASKS = COMPILED ? "tasks.js" : "tasks.ts";
const cliArgs = (args: string[]) => (COMPILED ? [join(COMPILED, "src/cli/main.js"), ...args] : ["--import", TSX, CLI, ...args]);
const env = { ...process.env, CELERIAC_BROKER_URL: url, CELERIAC_RESULT_BACKEND: url };

/** Runs `celeriac <args>` in the project directory; resolves with stdout/stderr, or rejects with code and stderr. */
function celeriac(args: string[], opts: { input?: string } = {}) {
  const child = exec(process.execPath, cliArgs(args), { cwd: dir, env });
  if (opts.input !== undefined) child.child.stdin!.end(opts.input);
  else child.child.stdin!.end();
  return child;
}

/** The pids of detached workers this file started: killed with their groups if a test left one. */
const detached = new Set<number>();
after(() => {
  for (const pid of detached) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // gone, as it should be
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

/** A process group that no longer has any member (the worker and its pool children are all gone). */
const groupGone = (pid: number): boolean => {
  try {
    process.kill(-pid, 0);
    return false;
  } catch {
    return true;
  }
};

writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
writeFileSync(
  join(dir, TASKS),
  `import { Celeriac } from ${JSON.stringify(COMPILED ? join(COMPILED, "src/index.js") : join(ROOT, "src/index.ts"))};\n` +
    `export const app = new Celeriac({ name: "proj", taskQueues: [{ name: "celery" }, { name: "io", exchange: "media", routingKey: "media.io" }] });\n` +
    `export const add = app.task("proj.add", (x${COMPILED ? "" : ": number"}, y${COMPILED ? "" : ": number"}) => x + y);\n` +
    `export const boom = app.task("proj.boom", function explode() { throw new RangeError("boom here"); });\n`,
);

describe("celeriac CLI, Celery's options", () => {
  it("--version prints the package version", async () => {
    const { stdout } = await celeriac(["--version"]);
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
    assert.equal(stdout.trim(), pkg.version);
  });

  it("multi --help shows multi's usage (not an unknown action)", async () => {
    const { stdout } = await celeriac(["multi", "--help"]);
    assert.match(stdout, /^Usage: celeriac multi <action> \[nodes\.\.\.\]/);
  });

  it("unknown names get clear errors: log level, pool, -O, app module, inspect and control methods", async () => {
    const cases: [string[], RegExp][] = [
      [["-A", "tasks", "worker", "-l", "VERBOSE"], /ConfigurationError: unknown log level "VERBOSE" \(known: DEBUG, INFO, WARNING, ERROR, CRITICAL, FATAL/],
      [["-A", "tasks", "worker", "-P", "greenlet"], /unknown pool "greenlet" \(known: process, thread, async, prefork, threads, gevent, eventlet, solo\)/],
      [["-A", "tasks", "worker", "-O", "fast"], /unknown -O "fast" \(known: fair, default\)/],
      [["-A", "taks", "worker"], /cannot find the app module "taks": tried taks, taks\{\.ts,\.js/],
      [["-A", "tasks", "inspect", "stat"], /unknown inspect method "stat" \(did you mean stats\?\); known: active, reserved/],
      [["-A", "tasks", "control", "rate_limt", "x"], /unknown control method "rate_limt" \(did you mean rate_limit\?\); known: revoke, rate_limit/],
      [["-A", "tasks", "multi", "begin", "w1"], /unknown multi action "begin" \(known: start, stop, stopwait, restart, kill, show\)/],
    ];
    for (const [args, message] of cases) {
      await assert.rejects(celeriac(args), (e: { code: number; stderr: string }) => {
        assert.equal(e.code, 2, args.join(" "));
        assert.match(e.stderr, message);
        return true;
      });
    }
  });

  it("a worker on -A tasks with -P prefork, -X and Celery's no-op switches prints the banner; inspect stats lists its pool processes", async () => {
    const w = startProcess(
      process.execPath,
      cliArgs(["-A", "tasks", "worker", "-P", "prefork", "-c", "2", "-X", "io", "-O", "fair", "--without-gossip", "--without-mingle", "-l", "INFO"]),
      {
        cwd: dir,
        env,
      },
    );
    await w.waitFor(/ ready: /, 30_000);
    const out = w.output();
    assert.match(out, new RegExp(`\\.> app: +proj \\(.*${TASKS.replace(".", "\\.")}\\)`));
    assert.match(out, /\.> concurrency: 2 \(process \(Celery's prefork\)\)/);
    assert.match(out, /\[queues\]\n\.> celery +exchange=celery\(direct\) key=celery\n\n/, "io is excluded by -X");
    assert.match(out, /\[tasks\]\n {2}\. proj\.add\n {2}\. proj\.boom\n/);
    const { stdout } = await celeriac(["-A", "tasks", "inspect", "stats", "--json", "-t", "5"]);
    const stats = Object.values(JSON.parse(stdout) as Record<string, { pool: { implementation: string; processes: number[] } }>)[0]!;
    assert.equal(stats.pool.implementation, "process");
    assert.equal(stats.pool.processes.length, 2);
    for (const pid of stats.pool.processes) assert.ok(isAlive(pid), `pool process ${pid} is alive`);
    assert.equal(await w.stop(), 0);
  });

  it("list bindings shows each queue's exchange and routing key; report masks passwords", async () => {
    const { stdout } = await celeriac(["-A", "tasks", "list", "bindings"]);
    assert.match(stdout, /^Queue +Exchange +Routing Key$/m);
    assert.match(stdout, /^celery +celery\(direct\) +celery$/m);
    assert.match(stdout, /^io +media\(direct\) +media\.io$/m);
    const r = await exec(process.execPath, cliArgs(["-A", "tasks", "report"]), {
      cwd: dir,
      env: { ...env, CELERIAC_RESULT_BACKEND: "redis://user:hunter2@127.0.0.1:1/0" },
    });
    assert.match(r.stdout, /software -> celeriac:\S+ \(celery:5\.2\.6 wire protocol\) node:v\d+/);
    const ioredis = (JSON.parse(readFileSync(join(ROOT, "node_modules/ioredis/package.json"), "utf8")) as { version: string }).version;
    assert.ok(r.stdout.includes("packages -> better-sqlite3:") && r.stdout.includes(` ioredis:${ioredis} `), r.stdout);
    assert.match(r.stdout, /result_backend: "redis:\/\/user:\*{8}@127\.0\.0\.1:1\/0"/, "masked as Celery masks it");
    assert.match(r.stdout, /"routingKey":"media\.io"/, "inside a list only secrets are hidden");
    assert.doesNotMatch(r.stdout, /hunter2/);
  });

  it("purge asks first: no answer or 'no' removes nothing; 'yes' or -f purges; worker --purge empties its queues before it starts", async () => {
    for (let i = 0; i < 2; i++) await celeriac(["-A", "tasks", "call", "proj.add", "--args", "[1, 2]"]);
    await assert.rejects(celeriac(["-A", "tasks", "purge", "-Q", "celery"], { input: "" }), (e: { code: number; stdout: string }) => {
      assert.equal(e.code, 1);
      assert.match(e.stdout, /There is no undo for this operation!/);
      assert.match(e.stdout, /purge cancelled: nothing removed/);
      return true;
    });
    await assert.rejects(celeriac(["-A", "tasks", "purge", "-Q", "celery"], { input: "no\n" }), (e: { stdout: string }) => /purge cancelled/.test(e.stdout));
    const yes = await celeriac(["-A", "tasks", "purge", "-Q", "celery"], { input: "yes\n" });
    assert.match(yes.stdout, /purged 2 messages from celery/);
    await celeriac(["-A", "tasks", "call", "proj.add", "--args", "[1, 2]", "--queue", "io"]);
    const forced = await celeriac(["-A", "tasks", "purge", "-f"]);
    assert.match(forced.stdout, /purged 1 message from celery, io/);

    for (let i = 0; i < 3; i++) await celeriac(["-A", "tasks", "call", "proj.add", "--args", "[1, 2]"]);
    const w = startProcess(process.execPath, cliArgs(["-A", "tasks", "worker", "--purge", "-P", "solo", "-l", "info"]), { cwd: dir, env });
    await w.waitFor(/ ready: /, 30_000);
    assert.match(w.output(), /Purged 3 messages from 2 known task queues\./);
    assert.match(w.output(), /\.> concurrency: 1 \(async \(Celery's solo\)\)/);
    assert.equal(await w.stop(), 0);
  });

  it("worker --detach returns once the worker is up, logs to --logfile, holds --pidfile; a second worker on that pid file is refused", async () => {
    const pidfile = join(dir, "d1.pid");
    const logfile = join(dir, "d1.log");
    const { stdout } = await celeriac(["-A", "tasks", "worker", "--detach", "-n", "d1@%h", "-c", "1", "--pidfile", pidfile, "--logfile", logfile]);
    const pid = readPidfile(pidfile);
    assert.ok(pid !== null, "the pid file holds a pid");
    detached.add(pid);
    assert.match(stdout, new RegExp(`d1@\\S+ started in the background: pid ${pid}`));
    assert.ok(isAlive(pid));
    assert.match(readFileSync(logfile, "utf8"), /d1@\S+ ready: /);
    await assert.rejects(celeriac(["-A", "tasks", "worker", "--pidfile", pidfile]), /pid file .*d1\.pid names a running process/);
    process.kill(pid, "SIGTERM");
    await waitUntil("the detached worker and its pool children to exit", () => groupGone(pid));
    assert.equal(existsSync(pidfile), false, "the pid file is removed at exit");
    assert.match(readFileSync(logfile, "utf8"), /warm shutdown/);
  });

  it("multi start/stopwait/kill: named workers with pid and log files, none left behind", async () => {
    const show = await celeriac(["multi", "show", "w1", "w2", "-A", "tasks", "-c", "1", "-l", "info"]);
    assert.match(show.stdout, /worker -n w1@\S+ --detach --pidfile=\S+w1\.pid --logfile=\S+w1\.log -c 1 -l info/);
    const start = await celeriac(["multi", "start", "w1", "w2", "-A", "tasks", "-c", "1", "-l", "info"]);
    assert.match(start.stdout, /> w1@\S+: OK \(pid \d+\)\n\t> w2@\S+: OK \(pid \d+\)/);
    const pids = ["w1", "w2"].map((n) => readPidfile(join(dir, `${n}.pid`))!);
    for (const p of pids) detached.add(p);
    const again = await celeriac(["multi", "start", "w1", "-A", "tasks"]);
    assert.match(again.stdout, /w1@\S+: already running/);
    const status = await celeriac(["-A", "tasks", "status", "-t", "5"]);
    assert.match(status.stdout, /w1@\S+: OK/);
    assert.match(status.stdout, /w2@\S+: OK/);
    const stop = await celeriac(["multi", "stopwait", "w1", "w2"]);
    assert.match(stop.stdout, /w1@\S+: stopped/);
    for (const p of pids) assert.ok(groupGone(p), `worker ${p} and its children are gone`);
    assert.match(readFileSync(join(dir, "w2.log"), "utf8"), /w2@\S+ ready: /);

    await celeriac(["multi", "start", "2", "-A", "tasks", "-c", "1"]);
    const killed = ["celery1", "celery2"].map((n) => readPidfile(join(dir, `${n}.pid`))!);
    for (const p of killed) detached.add(p);
    const kill = await celeriac(["multi", "kill", "2"]);
    assert.match(kill.stdout, /celery1@\S+: killed/);
    for (const p of killed) await waitUntil(`killed worker ${p}'s group to be gone`, () => groupGone(p));
    assert.equal(existsSync(join(dir, "celery1.pid")), false);
  });

  it("CELERIAC_LOG_FORMAT=json: task lines carry taskId, task, state, runtime, worker, queue; a failure carries its stack", async () => {
    const w = startProcess(process.execPath, cliArgs(["-A", "tasks", "worker", "-P", "solo", "-n", "json@%h", "-l", "info"]), {
      cwd: dir,
      env: { ...env, CELERIAC_LOG_FORMAT: "json" },
    });
    await w.waitFor(/ ready: /, 30_000);
    const ok = (await celeriac(["-A", "tasks", "call", "proj.add", "--args", "[2, 3]"])).stdout.trim();
    const bad = (await celeriac(["-A", "tasks", "call", "proj.boom"])).stdout.trim();
    await w.waitFor(new RegExp(`"taskId":"${bad}"`));
    await w.waitFor(new RegExp(`"taskId":"${ok}"`));
    const lines = w
      .output()
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const success = lines.find((l) => l.taskId === ok)!;
    assert.equal(success.task, "proj.add");
    assert.equal(success.state, "SUCCESS");
    assert.equal(typeof success.runtime, "number");
    assert.match(String(success.worker), /^json@/);
    assert.equal(success.queue, "celery");
    const failure = lines.find((l) => l.taskId === bad)!;
    assert.equal(failure.state, "FAILURE");
    assert.equal(failure.task, "proj.boom");
    assert.match(String(failure.msg), /raised RangeError: boom here/);
    assert.match(String((failure.err as { stack: string }).stack), /explode/);
    assert.equal(await w.stop(), 0);
  });

  it("shell has the app and its tasks loaded", async () => {
    const { stdout } = await celeriac(["-A", "tasks", "shell"], { input: "app.name\nadd.name\ntypeof chain\n.exit\n" });
    assert.match(stdout, /app: proj; tasks: add, boom/);
    assert.match(stdout, /'proj'/);
    assert.match(stdout, /'proj\.add'/);
    assert.match(stdout, /'function'/);
  });
});
