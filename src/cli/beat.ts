// The `celeriac beat` commands: run the scheduler (`beat`, `beat run`) and
// manage its dynamic entries (`beat list | add | remove`).
import { Option, type Command } from "commander";
import type { Celeriac } from "../app.js";
import { Beat, type CatchUpPolicy } from "../beat/beat.js";
import { BeatEntries, describeEntry } from "../beat/entries.js";
import type { BeatEntryInput } from "../beat/entry.js";
import { unitSeconds } from "../beat/schedule.js";
import { num, parseJson } from "./parse.js";

type GetApp = () => Promise<Celeriac>;

/** "30", "30s", "5m", "1.5h", "250ms" → seconds. */
function intervalSeconds(text: string): number {
  const m = /^([0-9]*\.?[0-9]+)\s*([a-z]*)$/i.exec(text.trim());
  if (!m) throw new Error(`--every wants a duration like 30s, 5m, 1h, got ${JSON.stringify(text)}`);
  return Number(m[1]) * (m[2] ? unitSeconds(m[2]) : 1);
}

/** Runs beat until SIGTERM/SIGINT; on the signal, gives the lease up so another beat takes over at once. */
export async function runBeatUntilSignal(beat: Beat, onStopped: () => Promise<void>): Promise<void> {
  let stopping = false;
  const onSignal = (sig: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    beat.app.log.info(`${sig} received: beat stopping`);
    void beat
      .stop()
      .then(onStopped)
      .then(() => process.exit(0));
  };
  process.on("SIGTERM", () => onSignal("SIGTERM"));
  process.on("SIGINT", () => onSignal("SIGINT"));
  await beat.start();
}

export function addBeatCommands(program: Command, getApp: GetApp): void {
  const beat = program.command("beat").description("run the beat scheduler (periodic tasks), or list/add/remove its entries");

  beat
    .command("run", { isDefault: true })
    .description("start beat (the default): any number may run, one sends")
    .addOption(new Option("-l, --loglevel <level>", "log level").default("info"))
    .addOption(new Option("--catch-up <policy>", "ticks missed while no beat ran: none, latest or all").choices(["none", "latest", "all"]))
    .option("--lease <seconds>", "leader lease: how soon another beat takes over a dead one", num)
    .option("--max-interval <seconds>", "longest sleep between passes", num)
    .action(async (o) => {
      process.env.CELERIAC_LOG_LEVEL = o.loglevel;
      const app = await getApp();
      const b = new Beat(app, { catchUp: o.catchUp as CatchUpPolicy | undefined, leaseSeconds: o.lease, maxLoopInterval: o.maxInterval });
      await runBeatUntilSignal(b, () => app.close());
    });

  beat
    .command("list")
    .description("list the schedule entries (from the app's settings and the store), with their last tick")
    .option("--json", "print JSON")
    .action(async (o) => {
      const app = await getApp();
      const entries = new BeatEntries(app);
      try {
        const [list, last, leader] = [await entries.list(), await entries.lastTicks(), await entries.leader()];
        const rows = list.map((e) => ({
          ...describeEntry(e),
          lastTick: last.has(e.name) ? new Date(last.get(e.name)!).toISOString() : null,
        }));
        if (o.json) console.log(JSON.stringify(rows, null, 2));
        else {
          console.log(leader ? `leader: ${leader.holder} (fencing token ${leader.token})` : "leader: none (no beat running)");
          if (!rows.length) console.log("no beat entries");
          for (const r of rows) {
            console.log(`${r.name}  ${r.task}  ${r.schedule}  args=${JSON.stringify(r.args)}  [${r.source}]  last=${r.lastTick ?? "never"}`);
          }
        }
      } finally {
        await entries.close();
        await app.close();
      }
    });

  beat
    .command("add <name>")
    .description("add (or replace) a stored entry; running beats pick it up without restart")
    .requiredOption("--task <name>", "task name")
    .option("--every <duration>", "interval: 30s, 5m, 1h, 0.5s")
    .option("--cron <pattern>", 'cron pattern: "*/5 * * * *" (6 fields: with seconds)')
    .option("--timezone <zone>", "time zone of the cron pattern (default: the app's timezone)")
    .option("--args <json>", "positional arguments, a JSON array", "[]")
    .option("--kwargs <json>", "keyword arguments, a JSON object", "{}")
    .option("--queue <name>", "queue")
    .option("--priority <n>", "priority", num)
    .option("--expires <seconds>", "do not run a tick's task after this many seconds", num)
    .action(async (name: string, o) => {
      if (!o.every === !o.cron) throw new Error("give one of --every or --cron");
      const args = parseJson<unknown[]>(o.args, "args", []);
      if (!Array.isArray(args)) throw new Error("--args must be a JSON array");
      const schedule = o.every ? { every: intervalSeconds(o.every) } : { cron: String(o.cron), ...(o.timezone ? { timezone: String(o.timezone) } : {}) };
      const input: BeatEntryInput = {
        task: o.task,
        schedule,
        args,
        kwargs: parseJson<Record<string, unknown>>(o.kwargs, "kwargs", {}),
        options: Object.fromEntries(Object.entries({ queue: o.queue, priority: o.priority, expires: o.expires }).filter(([, v]) => v !== undefined)),
      };
      const app = await getApp();
      const entries = new BeatEntries(app);
      try {
        const e = await entries.add(name, input);
        console.log(`added ${e.name}: ${e.task} ${e.schedule.toString()}`);
      } finally {
        await entries.close();
        await app.close();
      }
    });

  beat
    .command("remove <name>")
    .description("remove a stored entry (entries in the app's settings stay)")
    .action(async (name: string) => {
      const app = await getApp();
      const entries = new BeatEntries(app);
      try {
        const removed = await entries.remove(name);
        if (!removed) {
          const inSettings = name in (app.settings.beatSchedule ?? {});
          throw new Error(inSettings ? `${name} is defined in the app's beatSchedule, not in the store` : `no stored beat entry named ${name}`);
        }
        console.log(`removed ${name}`);
      } finally {
        await entries.close();
        await app.close();
      }
    });
}
