// The dashboard's periodic tasks: beat's entries with their schedule, last and
// next run and the last run's state; add, edit, enable/disable, remove and run
// now. Changes go through BeatEntries, the same dynamic-entry store
// `celeriac beat add|remove` writes, so running beats pick them up on their
// next pass.
import type { Celeriac } from "../app.js";
import { BeatEntries, describeEntry } from "../beat/entries.js";
import type { BeatEntry, BeatEntryInput, BeatEntryOptions } from "../beat/entry.js";
import { tickTaskId } from "../beat/tick-id.js";
import type { State } from "../events/state.js";
import { CeleriacError } from "../errors.js";
import { HttpError } from "./http.js";
import { params, type ApiRequest, type RouteGroup } from "./routes.js";

export class BeatRoutes implements RouteGroup {
  private entries: BeatEntries | null = null;

  constructor(
    private readonly app: Celeriac,
    private readonly state: State,
  ) {}

  handle(req: ApiRequest): Promise<unknown> | null {
    const { method, path, body } = req;
    if (method === "GET" && path === "/api/beat") return this.list();
    if (method === "POST" && path === "/api/beat/entries") return this.put(body);
    const action = params(/^\/api\/beat\/entries\/([^/]+)\/(enable|disable|remove|run)$/, path);
    if (method === "POST" && action) return this.act(action[0]!, action[1]!);
    return null;
  }

  async close(): Promise<void> {
    await this.entries?.close();
    this.entries = null;
  }

  /** The store, opened on first use: a broker beat cannot keep state in (AMQP without beatStoreUrl) fails here, with why. */
  private store(): BeatEntries {
    this.entries ??= new BeatEntries(this.app);
    return this.entries;
  }

  private async list(): Promise<unknown> {
    const beat = this.store();
    let all: BeatEntry[];
    try {
      all = await beat.list();
    } catch (err) {
      // No store for beat is a state of the cluster, shown in the page, not a failed request.
      if (err instanceof CeleriacError) return { available: false, error: err.message, entries: [] };
      throw err;
    }
    const [last, leader] = await Promise.all([beat.lastTicks(), beat.leader()]);
    const tz = this.app.settings.timezone;
    const now = Date.now();
    return {
      available: true,
      leader: leader ? { holder: leader.holder, token: leader.token } : null,
      entries: all.map((e) => {
        const lastTick = last.get(e.name) ?? null;
        // A tick's task id is derived from (app, entry, tick): the last run's task, if beat sent one for it.
        const lastTaskId = lastTick === null ? null : tickTaskId(this.app.name, e.name, lastTick);
        const lastTask = lastTaskId ? this.state.tasks.get(lastTaskId) : undefined;
        const next = e.enabled ? e.schedule.next(Math.max(lastTick ?? now, now), tz) : null;
        return {
          ...describeEntry(e),
          lastRun: lastTick === null ? null : lastTick / 1000,
          nextRun: next === null ? null : next / 1000,
          lastTask: lastTask ? { id: lastTask.uuid, state: lastTask.state } : null,
        };
      }),
    };
  }

  /** Adds an entry, or replaces the one of that name (editing is a put under the same name). */
  private async put(body: Record<string, unknown>): Promise<unknown> {
    const name = typeof body.name === "string" ? body.name.trim() : "";
    if (!name) throw new HttpError(400, "name the entry (name)");
    if (body.args !== undefined && !Array.isArray(body.args)) throw new HttpError(400, "args must be a JSON array");
    if (body.kwargs !== undefined && (typeof body.kwargs !== "object" || body.kwargs === null || Array.isArray(body.kwargs)))
      throw new HttpError(400, "kwargs must be a JSON object");
    const options: BeatEntryOptions = {};
    if (typeof body.queue === "string" && body.queue.trim()) options.queue = body.queue.trim();
    const input: BeatEntryInput = {
      task: typeof body.task === "string" ? body.task.trim() : "",
      // A string ("every 30s", "*/5 * * * *"), seconds, or a stored spec: the forms beatSchedule takes.
      schedule: body.schedule as BeatEntryInput["schedule"],
      args: (body.args as unknown[] | undefined) ?? [],
      kwargs: (body.kwargs as Record<string, unknown> | undefined) ?? {},
      options,
      enabled: body.enabled !== false,
    };
    try {
      const e = await this.store().add(name, input);
      return { ok: true, name: e.name, schedule: e.schedule.toString() };
    } catch (err) {
      if (err instanceof CeleriacError) throw new HttpError(400, err.message);
      throw err;
    }
  }

  private async act(name: string, action: string): Promise<unknown> {
    const beat = this.store();
    if (action === "enable" || action === "disable") {
      const e = await beat.setEnabled(name, action === "enable");
      if (!e) throw new HttpError(404, `no beat entry named ${name}`);
      return { ok: true, name, enabled: e.enabled };
    }
    if (action === "remove") {
      if (await beat.remove(name)) return { ok: true, name };
      const inSettings = name in (this.app.settings.beatSchedule ?? {});
      throw new HttpError(
        inSettings ? 409 : 404,
        inSettings ? `${name} is defined in the app's beatSchedule: disable it instead` : `no stored beat entry named ${name}`,
      );
    }
    const e = (await beat.list()).find((x) => x.name === name);
    if (!e) throw new HttpError(404, `no beat entry named ${name}`);
    // Run now sends what a tick sends, with a fresh id: it is no tick, so it does not move the schedule.
    const o = e.options;
    const r = this.app.sendTask(e.task, e.args, e.kwargs, {
      queue: o.queue,
      priority: o.priority,
      expires: o.expires,
      exchange: o.exchange,
      routingKey: o.routingKey,
      headers: { ...o.headers, beat_entry: e.name },
    });
    await r.sent;
    return { ok: true, name, id: r.id };
  }
}
