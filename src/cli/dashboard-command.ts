// `celeriac dashboard`: serves the web dashboard until stopped.
import type { Celeriac } from "../app.js";
import { Dashboard } from "../dashboard/index.js";
import { maskUrl } from "../url.js";

export async function runDashboardCommand(
  app: Celeriac,
  opts: { port: number; host: string; token?: string; history?: string | null; pollIntervalMs?: number },
): Promise<void> {
  const dashboard = new Dashboard(app, {
    port: opts.port,
    host: opts.host,
    token: opts.token || null,
    history: opts.history,
    pollIntervalMs: opts.pollIntervalMs,
  });
  const url = await dashboard.start();
  // The token is never printed: whoever started the dashboard knows it.
  console.log(`celeriac dashboard on ${url}/ (broker ${maskUrl(app.settings.brokerUrl)})${opts.token ? " — token required" : ""}`);
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void dashboard
      .close()
      .then(() => app.close())
      .catch(() => {})
      .then(() => process.exit(0)); // failed sends were logged when they failed
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}
