// `celeriac shell`: a REPL with the app and its tasks loaded (Celery's
// `celery shell`): `app`, `celery`, every task by the last part of its name
// (and by its full name in `tasks`), and the package's exports (chain, group…).
import repl from "node:repl";
import type { Celeriac } from "../app.js";

export async function runShell(app: Celeriac): Promise<void> {
  const api = (await import("../index.js")) as Record<string, unknown>;
  const tasks = Object.fromEntries([...app.tasks].filter(([n]) => !n.startsWith("celery.")));
  const byShortName = Object.fromEntries(Object.entries(tasks).map(([n, t]) => [n.split(".").pop()!, t]));
  const names = Object.keys(byShortName);
  console.log(`app: ${app.name}; tasks: ${names.length ? names.join(", ") : "(none)"}; also: tasks, chain, group, chord, signature…`);
  const server = repl.start({ prompt: `${app.name}> ` });
  Object.assign(server.context, api, byShortName, { app, celery: app, tasks });
  await new Promise<void>((resolve) => server.on("exit", resolve));
  await app.close();
}
