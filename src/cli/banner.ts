// The worker's start-up banner, in the shape of Celery's (celery/apps/worker.py
// startup_info): who, [config], [queues], [tasks]. Printed at -l info and debug.
import { arch, platform } from "node:os";
import type { Celeriac } from "../app.js";
import { describeUrl } from "../url.js";
import { VERSION } from "../version.js";
import { bindingOf } from "./bindings.js";

export interface BannerInfo {
  hostname: string;
  appModule: string;
  concurrency: string;
  pool: string;
  queues: string[];
  taskEvents: boolean;
}

export function banner(app: Celeriac, info: BannerInfo): string {
  const s = app.settings;
  const queues = info.queues.map((q) => {
    const b = bindingOf(q, s);
    return `.> ${q.padEnd(16)} exchange=${b.exchange}(${b.exchangeType}) key=${b.routingKey}`;
  });
  const tasks = [...app.tasks.keys()].filter((n) => !n.startsWith("celery.")).sort();
  return [
    `-------------- ${info.hostname} v${VERSION} (node ${process.version}, ${platform()} ${arch()})`,
    "[config]",
    `.> app:         ${app.name} (${info.appModule})`,
    `.> transport:   ${describeUrl(s.brokerUrl)}`,
    `.> results:     ${describeUrl(s.resultBackend)}`,
    `.> concurrency: ${info.concurrency} (${info.pool})`,
    `.> task events: ${info.taskEvents ? "ON" : "OFF (enable -E to monitor tasks in this worker)"}`,
    "",
    "[queues]",
    ...queues,
    "",
    "[tasks]",
    ...(tasks.length ? tasks.map((t) => `  . ${t}`) : ["  (none)"]),
    "",
  ].join("\n");
}
