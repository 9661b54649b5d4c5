// `celeriac inspect`, `control` and `status`: remote control of running
// workers, as Celery's celery/bin/control.py. Unknown methods get the list of
// known ones (with the closest named), before anything connects.
import type { Command } from "commander";
import type { Celeriac } from "../app.js";
import type { BroadcastOptions } from "../control/control.js";
import { ConfigurationError } from "../errors.js";
import { didYouMean } from "../util/did-you-mean.js";
import { num } from "./parse.js";

type GetApp = () => Promise<Celeriac>;
type Replies = Record<string, unknown>[];

function printReplies(replies: Replies, json: boolean): void {
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

/** The inspect methods, and the arguments each takes from the command line (Celery's variadic ones). */
const INSPECT: Record<string, (args: string[]) => Record<string, unknown>> = {
  active: () => ({}),
  reserved: () => ({}),
  scheduled: () => ({}),
  registered: (args) => (args.length ? { taskinfoitems: args } : {}),
  stats: () => ({}),
  revoked: () => ({}),
  active_queues: () => ({}),
  query_task: (args) => ({ ids: args }),
  clock: () => ({}),
  report: () => ({}),
  conf: (args) => ({ with_defaults: args[0] === "true" || args[0] === "1" }),
  ping: () => ({}),
};

interface ControlFlags {
  terminate?: boolean;
}

/** The control methods: their usage, and how each is sent. */
const CONTROL: Record<string, { usage: string; send(app: Celeriac, args: string[], opts: BroadcastOptions, flags: ControlFlags): Promise<Replies> }> = {
  revoke: { usage: "revoke <id>... [--terminate]", send: (app, args, opts, f) => app.control.revoke(args, { ...opts, terminate: f.terminate }) },
  rate_limit: { usage: "rate_limit <task> <rate>", send: (app, args, opts) => app.control.rateLimit(need(args, 0, "task"), args[1] ?? null, opts) },
  time_limit: {
    usage: "time_limit <task> <soft> <hard>",
    send: (app, args, opts) => app.control.timeLimit(need(args, 0, "task"), args[1] ? Number(args[1]) : null, args[2] ? Number(args[2]) : null, opts),
  },
  add_consumer: { usage: "add_consumer <queue>", send: (app, args, opts) => app.control.addConsumer(need(args, 0, "queue"), opts) },
  cancel_consumer: { usage: "cancel_consumer <queue>", send: (app, args, opts) => app.control.cancelConsumer(need(args, 0, "queue"), opts) },
  pool_grow: { usage: "pool_grow [n]", send: (app, args, opts) => app.control.poolGrow(Number(args[0] ?? 1), opts) },
  pool_shrink: { usage: "pool_shrink [n]", send: (app, args, opts) => app.control.poolShrink(Number(args[0] ?? 1), opts) },
  enable_events: { usage: "enable_events", send: (app, _args, opts) => app.control.broadcast("enable_events", {}, opts) },
  disable_events: { usage: "disable_events", send: (app, _args, opts) => app.control.broadcast("disable_events", {}, opts) },
  shutdown: { usage: "shutdown", send: (app, _args, opts) => app.control.broadcast("shutdown", {}, opts) },
};

function need(args: string[], i: number, what: string): string {
  const v = args[i];
  if (v === undefined) throw new ConfigurationError(`missing argument: ${what}`);
  return v;
}

function unknownMethod(kind: string, method: string, known: string[]): ConfigurationError {
  return new ConfigurationError(`unknown ${kind} method ${JSON.stringify(method)}${didYouMean(method, known)}; known: ${known.join(", ")}`);
}

export function addRemoteCommands(program: Command, getApp: GetApp): void {
  program
    .command("inspect <method> [args...]")
    .description(`ask workers about themselves: ${Object.keys(INSPECT).join(", ")}`)
    .option("-d, --destination <hosts>", "comma-separated worker hostnames")
    .option("-t, --timeout <seconds>", "how long to wait for replies", num, 1)
    .option("-j, --json", "print JSON")
    .action(async (method: string, args: string[], o) => {
      const toArgs = INSPECT[method];
      if (!toArgs) throw unknownMethod("inspect", method, Object.keys(INSPECT));
      const app = await getApp();
      const replies = await app.control.broadcast(method, toArgs(args), { reply: true, timeout: o.timeout * 1000, destination: o.destination?.split(",") });
      printReplies(replies, o.json);
      await app.close();
    });

  program
    .command("control <method> [args...]")
    .description(
      `change workers: ${Object.values(CONTROL)
        .map((c) => c.usage)
        .join(", ")}`,
    )
    .option("-d, --destination <hosts>", "comma-separated worker hostnames")
    .option("-t, --timeout <seconds>", "how long to wait for replies", num, 1)
    .option("--terminate", "revoke: also stop the task if it is running")
    .option("-j, --json", "print JSON")
    .action(async (method: string, args: string[], o) => {
      const entry = CONTROL[method];
      if (!entry) throw unknownMethod("control", method, Object.keys(CONTROL));
      const app = await getApp();
      const replies = await entry.send(
        app,
        args,
        { timeout: o.timeout * 1000, destination: o.destination?.split(","), reply: true },
        { terminate: o.terminate },
      );
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
}
