// The `celeriac` command, in Celery's shape: `celeriac -A ./tasks.ts worker -l info`.
import { Command, Option } from "commander";
import { hostname } from "node:os";
import { Celeriac } from "../app.js";
import { loadApp } from "../worker/load-app.js";
import { Worker } from "../worker/worker.js";
import { maskUrl } from "../url.js";
import { CeleriacError } from "../errors.js";
import { Beat } from "../beat/beat.js";
import { addBeatCommands } from "./beat.js";
import { int, num, parseJson } from "./parse.js";

interface GlobalOptions {
  app?: string;
  broker?: string;
  resultBackend?: string;
}

const program = new Command();
program
  .name("celeriac")
  .description("A distributed task queue for TypeScript that speaks Celery's protocol")
  .option("-A, --app <module>", "module that exports the app (.ts or .js)", process.env.CELERIAC_APP_MODULE)
  .option("-b, --broker <url>", "broker URL (overrides the app's)")
  .option("--result-backend <url>", "result backend URL (overrides the app's)")
  .showHelpAfterError();

async function getApp(): Promise<Celeriac> {
  const g = program.opts<GlobalOptions>();
  const app = g.app ? await loadApp(g.app) : new Celeriac({ name: "celeriac" });
  if (g.broker) app.settings.brokerUrl = g.broker;
  if (g.resultBackend) app.settings.resultBackend = g.resultBackend;
  return app;
}



program
  .command("worker")
  .description("start a worker")
  .option("-c, --concurrency <n>", "tasks at once (default: number of CPUs)", int)
  .option("-Q, --queues <list>", "comma-separated queues to consume")
  .addOption(new Option("-l, --loglevel <level>", "log level").default("info"))
  .option("-n, --hostname <name>", "node name (%h = host name)")
  .addOption(new Option("-P, --pool <kind>", "pool").choices(["process", "thread", "async"]).default("process"))
  .option("--prefetch-multiplier <n>", "messages reserved per pool slot", int)
  .option("--time-limit <seconds>", "hard time limit for every task", num)
  .option("--soft-time-limit <seconds>", "soft time limit for every task", num)
  .option("--max-tasks-per-child <n>", "replace a pool child after this many tasks", int)
  .option("--max-memory-per-child <kb>", "replace a pool child above this resident memory", int)
  .option("-E, --task-events", "send task events")
  .option("--without-heartbeat", "do not send worker heartbeat events")
  .option("-S, --statedb <file>", "keep revoked task ids in this file across restarts")
  .option("--without-rate-limits", "ignore task rate limits")
  .option("-B, --beat", "also run beat (periodic tasks) in this worker; several -B workers are safe: one sends")
  .action(async (o) => {
    process.env.CELERIAC_LOG_LEVEL = o.loglevel;
    const g = program.opts<GlobalOptions>();
    if (!g.app) throw new Error("the worker needs -A <module> (the module that exports your app)");
    const app = await getApp();
    const worker = new Worker(app, {
      appModule: g.app,
      concurrency: o.concurrency,
      queues: o.queues ? String(o.queues).split(",").map((q: string) => q.trim()).filter(Boolean) : undefined,
      hostname: o.hostname,
      pool: o.pool,
      prefetchMultiplier: o.prefetchMultiplier,
      timeLimit: o.timeLimit,
      softTimeLimit: o.softTimeLimit,
      maxTasksPerChild: o.maxTasksPerChild,
      maxMemoryPerChild: o.maxMemoryPerChild,
      stateDb: o.statedb,
      disableRateLimits: o.withoutRateLimits,
      taskEvents: o.taskEvents,
      heartbeat: o.withoutHeartbeat ? false : undefined,
    });
    const beat = o.beat ? new Beat(app) : null;
    // Warm shutdown: beat, then the worker (running tasks finish), then the
    // connections. Closing a connection to a broker that is misbehaving must not
    // keep a stopped worker alive: it gets a few seconds, then the process exits.
    const warmShutdown = () =>
      void (beat ? beat.stop() : Promise.resolve())
        .then(() => worker.stop(true))
        // Sends that failed unawaited were logged at ERROR when they failed: close's report of them does not stop the exit.
        .then(() => Promise.race([app.close().catch(() => {}), new Promise((r) => setTimeout(r, 5000).unref())]))
        .then(() => process.exit(0));
    worker.on("shutdown-requested", warmShutdown);
    let signals = 0;
    const onSignal = (sig: string) => {
      signals++;
      if (signals === 1) {
        app.log.info(`${sig} received: warm shutdown (a second signal stops at once)`);
        warmShutdown();
      } else {
        app.log.warn(`${sig} received again: cold shutdown`);
        void worker.stop(false).finally(() => process.exit(1));
      }
    };
    process.on("SIGTERM", () => onSignal("SIGTERM"));
    process.on("SIGINT", () => onSignal("SIGINT"));
    await worker.start();
    // The banner goes to stdout whatever the log level, as Celery's does.
    if (o.loglevel.toLowerCase() !== "info" && o.loglevel.toLowerCase() !== "debug") {
      console.log(`${worker.hostname} ready: pool ${worker.poolKind} x${worker.concurrency}, queues [${worker.queues.join(", ")}]`);
    }
    await beat?.start();
  });

addBeatCommands(program, getApp);

program
  .command("call <name>")
  .description("send a task by name and print its id")
  .option("--args <json>", "positional arguments, a JSON array", "[]")
  .option("--kwargs <json>", "keyword arguments, a JSON object", "{}")
  .option("--countdown <seconds>", "run after this many seconds", num)
  .option("--eta <iso>", "run at this time")
  .option("--expires <seconds>", "do not run after this many seconds", num)
  .option("--queue <name>", "queue")
  .option("--priority <n>", "priority", int)
  .action(async (name: string, o) => {
    const app = await getApp();
    const args = parseJson<unknown[]>(o.args, "args", []);
    if (!Array.isArray(args)) throw new Error("--args must be a JSON array");
    const kwargs = parseJson<Record<string, unknown>>(o.kwargs, "kwargs", {});
    const r = app.sendTask(name, args, kwargs, { countdown: o.countdown, eta: o.eta, expires: o.expires, queue: o.queue, priority: o.priority });
    await r.sent;
    console.log(r.id);
    await app.close();
  });

program
  .command("result <id>")
  .description("print a task's state and result")
  .option("--wait", "wait until the task is done")
  .option("--timeout <seconds>", "give up waiting after this many seconds", num)
  .action(async (id: string, o) => {
    const app = await getApp();
    const r = app.AsyncResult(id);
    if (o.wait) await r.get({ timeout: o.timeout ? o.timeout * 1000 : undefined, propagate: false });
    else await r.refresh();
    const meta = r.info;
    console.log(JSON.stringify({ id, state: r.state, result: meta?.result ?? null, traceback: meta?.traceback ?? null, date_done: meta?.date_done ?? null }, null, 2));
    await app.close();
  });

program
  .command("purge")
  .description("remove every waiting message from queues")
  .option("-Q, --queues <list>", "comma-separated queues (default: the default queue)")
  .action(async (o) => {
    const app = await getApp();
    const broker = await app.broker();
    const queues = o.queues ? String(o.queues).split(",") : [app.settings.taskDefaultQueue];
    let total = 0;
    for (const q of queues) total += await broker.purge(q.trim());
    console.log(`purged ${total} message${total === 1 ? "" : "s"} from ${queues.join(", ")} on ${maskUrl(app.settings.brokerUrl)}`);
    await app.close();
  });

function printReplies(replies: Record<string, unknown>[], json: boolean): void {
  if (json) {
    console.log(JSON.stringify(Object.assign({}, ...replies), null, 2));
    return;
  }
  if (!replies.length) {
    console.log("Error: no nodes replied within time constraint.");
    process.exitCode = 1;
    return;
  }
  for (const r of replies) {
    for (const [host, reply] of Object.entries(r)) console.log(`-> ${host}: ${typeof reply === "object" ? JSON.stringify(reply, null, 2) : String(reply)}`);
  }
  console.log(`\n${replies.length} node${replies.length === 1 ? "" : "s"} online.`);
}

const inspectMethods = ["active", "reserved", "scheduled", "registered", "stats", "revoked", "active_queues", "ping"];
program
  .command("inspect <method>")
  .description(`ask workers about themselves: ${inspectMethods.join(", ")}`)
  .option("-d, --destination <hosts>", "comma-separated worker hostnames")
  .option("-t, --timeout <seconds>", "how long to wait for replies", num, 1)
  .option("-j, --json", "print JSON")
  .action(async (method: string, o) => {
    if (!inspectMethods.includes(method)) throw new Error(`unknown inspect method ${method} (known: ${inspectMethods.join(", ")})`);
    const app = await getApp();
    const replies = await app.control.broadcast(method, {}, { reply: true, timeout: o.timeout * 1000, destination: o.destination?.split(",") });
    printReplies(replies, o.json);
    await app.close();
  });

program
  .command("control <method> [args...]")
  .description("change workers: revoke <id> [--terminate], rate_limit <task> <rate>, time_limit <task> <soft> <hard>, add_consumer <queue>, cancel_consumer <queue>, pool_grow [n], pool_shrink [n], enable_events, disable_events, shutdown")
  .option("-d, --destination <hosts>", "comma-separated worker hostnames")
  .option("-t, --timeout <seconds>", "how long to wait for replies", num, 1)
  .option("--terminate", "revoke: also stop the task if it is running")
  .option("-j, --json", "print JSON")
  .action(async (method: string, args: string[], o) => {
    const app = await getApp();
    const opts = { timeout: o.timeout * 1000, destination: o.destination?.split(","), reply: true };
    const c = app.control;
    let replies: Record<string, unknown>[];
    switch (method) {
      case "revoke":
        replies = await c.revoke(args, { ...opts, terminate: o.terminate });
        break;
      case "rate_limit":
        replies = await c.rateLimit(args[0]!, args[1] ?? null, opts);
        break;
      case "time_limit":
        replies = await c.timeLimit(args[0]!, args[1] ? Number(args[1]) : null, args[2] ? Number(args[2]) : null, opts);
        break;
      case "add_consumer":
        replies = await c.addConsumer(args[0]!, opts);
        break;
      case "cancel_consumer":
        replies = await c.cancelConsumer(args[0]!, opts);
        break;
      case "pool_grow":
        replies = await c.poolGrow(Number(args[0] ?? 1), opts);
        break;
      case "pool_shrink":
        replies = await c.poolShrink(Number(args[0] ?? 1), opts);
        break;
      case "shutdown":
        replies = await c.broadcast("shutdown", {}, opts);
        break;
      case "enable_events":
      case "disable_events":
        replies = await c.broadcast(method, {}, opts);
        break;
      default:
        throw new Error(`unknown control method ${method}`);
    }
    printReplies(replies, o.json);
    await app.close();
  });

program
  .command("status")
  .description("list the workers that answer a ping")
  .option("-t, --timeout <seconds>", "how long to wait", num, 1)
  .action(async (o) => {
    const app = await getApp();
    const replies = await app.control.ping({ timeout: o.timeout * 1000 });
    for (const r of replies) for (const host of Object.keys(r)) console.log(`${host}: OK`);
    console.log(`\n${replies.length} node${replies.length === 1 ? "" : "s"} online.`);
    if (!replies.length) process.exitCode = 1;
    await app.close();
  });

program
  .command("events")
  .description("watch the cluster live: workers and the latest tasks (workers need -E for task events)")
  .option("--dump", "print every event as a line instead")
  .option("--refresh <seconds>", "redraw interval of the live view", num, 1)
  .action(async (o) => {
    const { runEventsCommand } = await import("./events-command.js");
    await runEventsCommand(await getApp(), { dump: o.dump === true, refreshSeconds: o.refresh });
  });

program
  .command("dashboard")
  .description("serve the web dashboard (workers, queues, tasks, charts, /metrics)")
  .option("-p, --port <port>", "port", int, 5555)
  .option("--host <address>", "address to bind", "127.0.0.1")
  .option("--token <token>", "access token (or CELERIAC_DASHBOARD_TOKEN); required when not bound to loopback")
  .action(async (o) => {
    const { runDashboardCommand } = await import("./dashboard-command.js");
    await runDashboardCommand(await getApp(), { port: o.port, host: o.host, token: o.token ?? process.env.CELERIAC_DASHBOARD_TOKEN });
  });

program.command("hostname", { hidden: true }).action(() => console.log(hostname()));

program.parseAsync(process.argv).catch((err: Error) => {
  // Our typed errors by name (BrokerAuthenticationError: …), so a script or a log search can tell them apart.
  const kind = err instanceof CeleriacError ? `${err.name}: ` : "";
  console.error(`celeriac: ${kind}${maskUrl(err.message)}`);
  process.exit(2);
});
