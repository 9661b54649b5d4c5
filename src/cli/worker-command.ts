// `celeriac worker`, with Celery's options (celery/bin/worker.py): the pool
// names, -O, the --without-* switches, --autoscale, --pidfile, --logfile,
// --detach, -X, --purge; the start-up banner; warm and cold shutdown.
import { Option, type Command } from "commander";
import { hostname } from "node:os";
import { resolve } from "node:path";
import type { Celeriac } from "../app.js";
import { Beat } from "../beat/beat.js";
import { ConfigurationError } from "../errors.js";
import { normalizeLogLevel } from "../log.js";
import { Worker } from "../worker/worker.js";
import { Autoscaler, parseAutoscale } from "./autoscale.js";
import { banner } from "./banner.js";
import { knownQueues } from "./bindings.js";
import { detach, reportDetachedReady } from "./detach.js";
import { int, list, num, takeOption } from "./parse.js";
import { holdPidfile } from "./pidfile.js";
import { POOL_NAMES, poolChoice, poolLabel } from "./pool-names.js";

export interface WorkerCommandContext {
  /** The -A module, resolved (null when none was given). */
  appModule(): string | null;
  getApp(): Promise<Celeriac>;
}

/** Celery's %h (host), %n (name part of the node name) and %i (pid) in --pidfile/--logfile names. */
export function expandNodeName(pattern: string, nodeName: string): string {
  const [name, host = ""] = nodeName.split("@");
  return pattern.replace(/%h/g, nodeName).replace(/%n/g, name!).replace(/%d/g, host).replace(/%i/g, String(process.pid));
}

export function addWorkerCommand(program: Command, ctx: WorkerCommandContext): void {
  program
    .command("worker")
    .description("start a worker")
    .option("-c, --concurrency <n>", "tasks at once (default: number of CPUs)", int)
    .option("-Q, --queues <list>", "comma-separated queues to consume (default: taskQueues, else the default queue)")
    .option("-X, --exclude-queues <list>", "comma-separated queues not to consume")
    .addOption(new Option("-l, --loglevel <level>", "DEBUG, INFO, WARNING, ERROR, CRITICAL or FATAL").default("info"))
    .option("-n, --hostname <name>", "node name (%h = host name)")
    .option("-P, --pool <kind>", `pool: ${POOL_NAMES.join(", ")} (Celery's names are mapped to ours)`, "process")
    .option("--autoscale <max,min>", "grow the pool up to MAX when tasks wait, shrink it to MIN when idle")
    .option("-O <optimization>", "Celery's -O fair/default: accepted, tasks already go to free slots only")
    .option("--prefetch-multiplier <n>", "messages reserved per pool slot", int)
    .option("--time-limit <seconds>", "hard time limit for every task", num)
    .option("--soft-time-limit <seconds>", "soft time limit for every task", num)
    .option("--max-tasks-per-child <n>", "replace a pool child after this many tasks", int)
    .option("--max-memory-per-child <kb>", "replace a pool child above this resident memory", int)
    .option("-E, --task-events", "send task events")
    .option("--without-heartbeat", "do not send worker heartbeat events")
    .option("--without-gossip", "accepted for Celery parity: workers here do not gossip")
    .option("--without-mingle", "accepted for Celery parity: workers here do not mingle at start-up")
    .option("-S, --statedb <file>", "keep revoked task ids in this file across restarts")
    .option("--without-rate-limits", "ignore task rate limits")
    .option("--purge", "remove every waiting message from the worker's queues before starting")
    .option("--pidfile <file>", "write the pid here; refuse to start while it names a running worker (%n = node name)")
    .option("--logfile <file>", "write the log here instead of stderr (%n = node name)")
    .option("-D, --detach", "run in the background (logs to --logfile, default %n.log; pid in --pidfile, default %n.pid)")
    .option("-B, --beat", "also run beat (periodic tasks) in this worker; several -B workers are safe: one sends")
    .action(async (o) => {
      // Checked before the app loads, so a bad value is blamed on itself.
      process.env.CELERIAC_LOG_LEVEL = normalizeLogLevel(o.loglevel);
      const choice = poolChoice(o.pool);
      if (o.O !== undefined && !["fair", "default"].includes(o.O)) throw new ConfigurationError(`unknown -O ${JSON.stringify(o.O)} (known: fair, default)`);
      const autoscale = o.autoscale ? parseAutoscale(o.autoscale) : null;
      const appModule = ctx.appModule();
      if (!appModule) throw new ConfigurationError("the worker needs -A <module> (the module that exports your app)");
      const nodeName = (o.hostname ?? "celeriac@%h").replace("%h", hostname());
      if (o.detach) {
        const logfile = resolve(expandNodeName(o.logfile ?? "%n.log", nodeName));
        const pidfile = resolve(expandNodeName(o.pidfile ?? "%n.pid", nodeName));
        const argv = process.argv.slice(1);
        takeOption(argv, "--pidfile");
        takeOption(argv, "--logfile");
        argv.push(`--pidfile=${pidfile}`);
        const pid = await detach(argv, logfile);
        console.log(`${nodeName} started in the background: pid ${pid}, pid file ${pidfile}, log ${logfile}`);
        return;
      }
      if (o.pidfile) holdPidfile(resolve(expandNodeName(o.pidfile, nodeName)));
      if (o.logfile) process.env.CELERIAC_LOG_FILE = resolve(expandNodeName(o.logfile, nodeName));
      const app = await ctx.getApp();
      const excluded = new Set(list(o.excludeQueues));
      const queues = (o.queues ? list(o.queues) : knownQueues(app.settings)).filter((q) => !excluded.has(q));
      if (!queues.length) throw new ConfigurationError("no queue left to consume after -X");
      const concurrency = autoscale?.max ?? choice.concurrency ?? o.concurrency;
      if (o.purge) {
        const broker = await app.broker();
        let purged = 0;
        for (const q of queues) purged += await broker.purge(q);
        console.log(`Purged ${purged} message${purged === 1 ? "" : "s"} from ${queues.length} known task queue${queues.length === 1 ? "" : "s"}.`);
      }
      const worker = new Worker(app, {
        appModule,
        concurrency,
        queues,
        hostname: o.hostname,
        pool: choice.kind,
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
      const level = process.env.CELERIAC_LOG_LEVEL;
      if (level === "info" || level === "debug" || level === "trace") {
        const shown = autoscale ? `${autoscale.max} (autoscale ${autoscale.max},${autoscale.min})` : String(worker.concurrency);
        console.log(
          banner(app, {
            hostname: worker.hostname,
            appModule,
            concurrency: shown,
            pool: poolLabel(choice),
            queues,
            taskEvents: o.taskEvents ?? app.settings.workerSendTaskEvents,
          }),
        );
      }
      const beat = o.beat ? new Beat(app) : null;
      const scaler = autoscale ? new Autoscaler(worker, autoscale, app.log) : null;
      if (scaler) {
        worker.control.autoscaler = {
          get range() {
            return scaler.bounds;
          },
          setRange: (r) => scaler.setRange(r),
        };
      }
      // Warm shutdown: beat, then the worker (running tasks finish), then the
      // connections. Closing a connection to a broker that is misbehaving must not
      // keep a stopped worker alive: it gets a few seconds, then the process exits.
      const warmShutdown = () =>
        void (beat ? beat.stop() : Promise.resolve())
          .then(() => scaler?.stop())
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
      await scaler?.start();
      // Below info the banner is not shown: one line says the worker is up, on stdout as Celery's banner is.
      if (level !== "info" && level !== "debug" && level !== "trace") {
        console.log(`${worker.hostname} ready: pool ${poolLabel(choice)} x${worker.concurrency}, queues [${worker.queues.join(", ")}]`);
      }
      await beat?.start();
      reportDetachedReady();
    });
}
