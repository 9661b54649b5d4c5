// `celeriac events`: the live terminal view, or `--dump` for one line per event.
import type { Celeriac } from "../app.js";
import { EventDumper } from "../events/dump.js";
import { EventReceiver } from "../events/receiver.js";
import { State } from "../events/state.js";
import { renderTop } from "../events/top.js";

export async function runEventsCommand(app: Celeriac, opts: { dump: boolean; refreshSeconds: number }): Promise<void> {
  const broker = await app.broker();
  const receiver = new EventReceiver(broker, { log: app.log });
  let timer: NodeJS.Timeout | null = null;
  const stop = () => {
    if (timer) clearInterval(timer);
    if (!opts.dump && process.stdout.isTTY) process.stdout.write("\x1b[?25h\n");
    void receiver
      .stop()
      .then(() => app.close())
      .catch(() => {})
      .then(() => process.exit(0)); // failed sends were logged when they failed
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  if (opts.dump) {
    const dumper = new EventDumper();
    console.log(`-> celeriac events: dumping events from ${broker.displayUrl}`);
    await receiver.start((e) => console.log(dumper.format(e)));
    // Subscriptions do not keep the process alive by themselves: this does, until a signal.
    timer = setInterval(() => {}, 60_000);
    return;
  }
  const state = new State();
  await receiver.start((e) => state.event(e));
  const tty = process.stdout.isTTY === true;
  const draw = () => {
    const screen = renderTop(state, { width: process.stdout.columns, rows: process.stdout.rows, color: tty, brokerUrl: broker.displayUrl });
    // On a terminal: redraw in place; piped: print a frame at a time.
    process.stdout.write(tty ? `\x1b[?25l\x1b[H\x1b[2J${screen}` : `${screen}\n\n`);
  };
  draw();
  timer = setInterval(draw, Math.max(0.2, opts.refreshSeconds) * 1000);
}
