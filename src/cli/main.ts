// The `celeriac` command, in Celery's shape: `celeriac -A tasks worker -l info`.
import { Command } from "commander";
import { hostname } from "node:os";
import { Celeriac } from "../app.js";
import { CeleriacError } from "../errors.js";
import { maskUrl } from "../url.js";
import { VERSION } from "../version.js";
import { loadApp } from "../worker/load-app.js";
import { resolveAppModule } from "./app-module.js";
import { addBeatCommands } from "./beat.js";
import { bindingOf, bindingsTable, knownQueues } from "./bindings.js";
import { confirm } from "./confirm.js";
import { MULTI_ACTIONS, runMulti } from "./multi.js";
import { int, list, num, parseJson } from "./parse.js";
import { addRemoteCommands } from "./remote-commands.js";
import { report } from "./report.js";
import { addWorkerCommand } from "./worker-command.js";

interface GlobalOptions {
  app?: string;
  broker?: string;
  resultBackend?: string;
}

const program = new Command();
program
  .name("celeriac")
  .description("A distributed task queue for TypeScript that speaks Celery's protocol")
  .version(VERSION, "--version", "print the version")
  .option("-A, --app <module>", "module that exports the app: tasks, ./tasks.ts, dist/app.js, a directory with an index", process.env.CELERIAC_APP_MODULE)
  .option("-b, --broker <url>", "broker URL (overrides the app's)")
  .option("--result-backend <url>", "result backend URL (overrides the app's)")
  .showHelpAfterError();

const appModule = (): string | null => {
  const spec = program.opts<GlobalOptions>().app;
  return spec ? resolveAppModule(spec) : null;
};

async function getApp(): Promise<Celeriac> {
  const g = program.opts<GlobalOptions>();
  const module = appModule();
  const app = module ? await loadApp(module) : new Celeriac({ name: "celeriac" });
  if (g.broker) app.settings.brokerUrl = g.broker;
  if (g.resultBackend) app.settings.resultBackend = g.resultBackend;
  return app;
}

addWorkerCommand(program, { appModule, getApp });
addBeatCommands(program, getApp);
addRemoteCommands(program, getApp);

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
    console.log(
      JSON.stringify({ id, state: r.state, result: meta?.result ?? null, traceback: meta?.traceback ?? null, date_done: meta?.date_done ?? null }, null, 2),
    );
    await app.close();
  });

program
  .command("purge")
  .description("remove every waiting message from queues (asks first unless -f)")
  .option("-Q, --queues <list>", "comma-separated queues (default: the app's known queues)")
  .option("-X, --exclude-queues <list>", "comma-separated queues to leave alone")
  .option("-f, --force", "do not ask for confirmation")
  .action(async (o) => {
    const app = await getApp();
    const excluded = new Set(list(o.excludeQueues));
    const queues = (o.queues ? list(o.queues) : knownQueues(app.settings)).filter((q) => !excluded.has(q));
    const where = maskUrl(app.settings.brokerUrl);
    // Connected before asking: a bad URL or a broker that is down fails now, not after a "yes".
    const broker = await app.broker();
    if (!o.force) {
      console.log(`WARNING: This will remove all tasks from queue${queues.length === 1 ? "" : "s"}: ${queues.join(", ")} on ${where}.`);
      console.log("         There is no undo for this operation! (to skip this prompt use the -f option)");
      if (!(await confirm("Are you sure you want to delete all tasks"))) {
        console.log("purge cancelled: nothing removed");
        process.exitCode = 1;
        await app.close();
        return;
      }
    }
    let total = 0;
    for (const q of queues) total += await broker.purge(q);
    console.log(`purged ${total} message${total === 1 ? "" : "s"} from ${queues.join(", ")} on ${where}`);
    await app.close();
  });

program
  .command("list <what>")
  .description("list bindings: the app's queues with their exchange and routing key")
  .action(async (what: string) => {
    if (what !== "bindings") throw new Error(`unknown list ${JSON.stringify(what)} (known: bindings)`);
    const app = await getApp();
    console.log(bindingsTable(knownQueues(app.settings).map((q) => bindingOf(q, app.settings))));
  });

program
  .command("report")
  .description("versions, platform and settings (passwords masked), for a bug report")
  .action(async () => {
    const app = await getApp();
    console.log(report(app, appModule()));
  });

program
  .command("shell")
  .description("a REPL with the app and its tasks loaded (app, celery, tasks by name, chain, group…)")
  .action(async () => {
    const { runShell } = await import("./shell.js");
    await runShell(await getApp());
  });

program
  .command("multi <action> [nodes...]")
  .description(`named workers in the background, with pid and log files (${MULTI_ACTIONS.join(", ")}): multi start w1 w2 -l info`)
  .allowUnknownOption()
  .helpOption(false)
  .action(async (action: string, _nodes: string[], _opts: unknown, command: Command) => {
    // Its own help option is off (worker options such as -h pass through), so -h/--help as the action shows it.
    if (action === "-h" || action === "--help") return command.outputHelp();
    // Everything after the action is the nodes and their worker options, as given.
    const argv = process.argv.slice(2);
    const tokens = argv.slice(argv.indexOf(action, argv.indexOf("multi")) + 1).filter((t, i, all) => !isGlobal(t, all[i - 1]));
    const g = program.opts<GlobalOptions>();
    const globalArgs = [
      ...(g.app ? ["-A", appModule()!] : []),
      ...(g.broker ? ["-b", g.broker] : []),
      ...(g.resultBackend ? ["--result-backend", g.resultBackend] : []),
    ];
    await runMulti(action, tokens, globalArgs, process.argv[1]!);
  });

/** Whether a token is (the value of) a global option, which multi passes on itself. */
function isGlobal(token: string, previous: string | undefined): boolean {
  const flags = ["-A", "--app", "-b", "--broker", "--result-backend"];
  return flags.includes(token) || flags.some((f) => token.startsWith(`${f}=`)) || (previous !== undefined && flags.includes(previous));
}

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
  .option("--history <file>", "SQLite file keeping the task history across restarts", "./celeriac-dashboard.db")
  .option("--no-history", "keep the task history in memory only")
  .option("--poll-interval <seconds>", "how often workers are inspected and queues measured (one depth sample each time)", num, 3)
  .action(async (o) => {
    const { runDashboardCommand } = await import("./dashboard-command.js");
    const history = o.history === false ? null : (o.history as string);
    const token = o.token ?? process.env.CELERIAC_DASHBOARD_TOKEN;
    await runDashboardCommand(await getApp(), { port: o.port, host: o.host, token, history, pollIntervalMs: o.pollInterval * 1000 });
  });

program.command("hostname", { hidden: true }).action(() => console.log(hostname()));

program.parseAsync(process.argv).catch((err: Error) => {
  // Our typed errors by name (BrokerAuthenticationError: …), so a script or a log search can tell them apart.
  const kind = err instanceof CeleriacError ? `${err.name}: ` : "";
  console.error(`celeriac: ${kind}${maskUrl(err.message)}`);
  process.exit(2);
});
