// One line per event, as `celery events --dump` prints them:
// `w@host [2026-11-25 17:00:01.123] task succeeded: proj.add(<id>) args=(2, 3) kwargs={} result=5, runtime=0.01`
import type { CeleryEvent } from "./event.js";

const HUMAN_TYPES: Record<string, string> = { "worker-offline": "shutdown", "worker-online": "started", "worker-heartbeat": "heartbeat" };
const OMIT = new Set(["timestamp", "type", "hostname", "uuid", "local_received", "name", "args", "kwargs"]);

export class EventDumper {
  /** Task descriptions by id, from task-sent/received, for the events that carry only the id. */
  private readonly names = new Map<string, string>();

  format(e: CeleryEvent): string {
    const when = new Date(e.timestamp * 1000).toISOString().replace("T", " ").replace("Z", "");
    const type = HUMAN_TYPES[e.type] ?? e.type.replace(/-/g, " ");
    let task = "";
    if (e.type.startsWith("task-") && e.uuid) {
      if (e.type === "task-received" || e.type === "task-sent") {
        task = `${String(e.name)}(${e.uuid}) args=${String(e.args)} kwargs=${String(e.kwargs)}`;
        this.names.set(e.uuid, task);
        if (this.names.size > 4096) this.names.delete(this.names.keys().next().value!);
      } else {
        task = this.names.get(e.uuid) ?? `(${e.uuid})`;
      }
    }
    const fields = Object.keys(e)
      .filter((k) => !OMIT.has(k))
      .sort()
      .map((k) => `${k}=${typeof e[k] === "object" ? JSON.stringify(e[k]) : String(e[k])}`)
      .join(", ");
    return `${e.hostname} [${when}] ${type}:${task ? ` ${task}` : ""}${fields ? ` ${fields}` : ""}`;
  }
}
