// `celeriac multi start|stop|stopwait|restart|kill|show <names|N> [worker options]`:
// several named workers in the background, each with its pid file and log
// file, as Celery's `celery multi` (celery/apps/multi.py). `start 3` names
// them celery1..celery3; `start w1 w2` names them w1, w2; node names are
// <name>@<host>. Pid files default to %n.pid, log files to %n.log (cwd).
import { execFile } from "node:child_process";
import { rmSync } from "node:fs";
import { hostname } from "node:os";
import { resolve } from "node:path";
import { promisify } from "node:util";
import { ConfigurationError } from "../errors.js";
import { takeOption } from "./parse.js";
import { isAlive, readPidfile } from "./pidfile.js";
import { expandNodeName } from "./worker-command.js";

const run = promisify(execFile);

export const MULTI_ACTIONS = ["start", "stop", "stopwait", "restart", "kill", "show"] as const;

interface Node {
  name: string;
  nodeName: string;
  pidfile: string;
  logfile: string;
  /** The command that starts it: `celeriac … worker -n … --detach …`. */
  argv: string[];
}

/** The nodes `tokens` (what follows the action) name, and the command each starts with. */
export function planNodes(tokens: string[], globalArgs: string[]): Node[] {
  const firstOption = tokens.findIndex((t) => t.startsWith("-"));
  const names = firstOption < 0 ? tokens : tokens.slice(0, firstOption);
  const extra = firstOption < 0 ? [] : tokens.slice(firstOption);
  if (!names.length) throw new ConfigurationError("celeriac multi needs node names or a count: multi start w1 w2, or multi start 3");
  const expanded = names.length === 1 && /^\d+$/.test(names[0]!) ? Array.from({ length: Number(names[0]) }, (_, i) => `celery${i + 1}`) : names;
  const pidPattern = takeOption(extra, "--pidfile") ?? "%n.pid";
  const logPattern = takeOption(extra, "--logfile") ?? "%n.log";
  return expanded.map((name) => {
    const nodeName = `${name}@${hostname()}`;
    const pidfile = resolve(expandNodeName(pidPattern, nodeName));
    const logfile = resolve(expandNodeName(logPattern, nodeName));
    const argv = [...globalArgs, "worker", "-n", nodeName, "--detach", `--pidfile=${pidfile}`, `--logfile=${logfile}`, ...extra];
    return { name, nodeName, pidfile, logfile, argv };
  });
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function start(node: Node, script: string): Promise<void> {
  const pid = readPidfile(node.pidfile);
  if (pid !== null && isAlive(pid)) {
    console.log(`\t> ${node.nodeName}: already running (pid ${pid})`);
    return;
  }
  try {
    await run(process.execPath, [...process.execArgv, script, ...node.argv]);
    console.log(`\t> ${node.nodeName}: OK (pid ${readPidfile(node.pidfile) ?? "?"})`);
  } catch (err) {
    process.exitCode = 1;
    const e = err as { stderr?: string; message: string };
    console.log(`\t> ${node.nodeName}: FAILED ${(e.stderr || e.message).trim()}`);
  }
}

/** Signals the node's process; with `waitMs`, waits until it is gone (stopwait). */
async function stop(node: Node, signal: NodeJS.Signals, waitMs: number | null): Promise<void> {
  const pid = readPidfile(node.pidfile);
  if (pid === null || !isAlive(pid)) {
    console.log(`\t> ${node.nodeName}: not running`);
    return;
  }
  // A kill takes the node's whole process group (it leads one: detached), pool children with it; they cannot clean up.
  process.kill(signal === "SIGKILL" ? -pid : pid, signal);
  if (signal === "SIGKILL") rmSync(node.pidfile, { force: true });
  if (waitMs === null) {
    console.log(`\t> ${node.nodeName}: ${signal} sent (pid ${pid})`);
    return;
  }
  const until = Date.now() + waitMs;
  while (isAlive(pid) && Date.now() < until) await wait(100);
  if (isAlive(pid)) {
    process.exitCode = 1;
    console.log(`\t> ${node.nodeName}: still running after ${waitMs / 1000} s (pid ${pid})`);
  } else console.log(`\t> ${node.nodeName}: ${signal === "SIGKILL" ? "killed" : "stopped"} (pid ${pid})`);
}

export async function runMulti(action: string, tokens: string[], globalArgs: string[], script: string): Promise<void> {
  if (!(MULTI_ACTIONS as readonly string[]).includes(action)) {
    throw new ConfigurationError(`unknown multi action ${JSON.stringify(action)} (known: ${MULTI_ACTIONS.join(", ")})`);
  }
  const nodes = planNodes(tokens, globalArgs);
  const stopWaitMs = 60_000;
  switch (action) {
    case "show":
      for (const n of nodes) console.log(["celeriac", ...n.argv].join(" "));
      return;
    case "start":
      console.log("> Starting nodes...");
      for (const n of nodes) await start(n, script);
      return;
    case "stop":
      console.log("> Stopping nodes...");
      for (const n of nodes) await stop(n, "SIGTERM", null);
      return;
    case "stopwait":
      console.log("> Stopping nodes, waiting for them to exit...");
      await Promise.all(nodes.map((n) => stop(n, "SIGTERM", stopWaitMs)));
      return;
    case "kill":
      console.log("> Killing nodes...");
      for (const n of nodes) await stop(n, "SIGKILL", 5000);
      return;
    case "restart":
      console.log("> Restarting nodes...");
      await Promise.all(nodes.map((n) => stop(n, "SIGTERM", stopWaitMs)));
      for (const n of nodes) await start(n, script);
      return;
  }
}
