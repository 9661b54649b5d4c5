// Messages waiting for their ETA in a queue's schedule (a sorted set, see
// keys.ts): listed for the dashboard, and one made ready now by the
// release-scheduled script.
import { fromEnvelope, toEnvelope, type Message } from "../../protocol/message.js";
import type { ScheduledMessage } from "../broker.js";
import type { BrokerRedis } from "./client.js";
import type { KeyLayout } from "./layout.js";

/** The message of a schedule member ("<priority step><envelope>"); null for one that does not parse. */
function memberMessage(member: string): Message | null {
  try {
    return fromEnvelope(member.slice(1));
  } catch {
    return null;
  }
}

export async function listScheduled(
  client: BrokerRedis,
  layout: KeyLayout,
  queue: string,
  limit: number,
): Promise<{ total: number; messages: ScheduledMessage[] }> {
  const key = layout.schedule(queue);
  const [total, flat] = await Promise.all([client.zcard(key), limit > 0 ? client.zrange(key, 0, limit - 1, "WITHSCORES") : Promise.resolve([])]);
  const messages: ScheduledMessage[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const message = memberMessage(flat[i]!);
    if (message) messages.push({ message, eta: Number(flat[i + 1]) });
  }
  return { total, messages };
}

/** Finds the task's member (a scan of the schedule: it is keyed by time, not id) and moves it to its list. */
export async function releaseScheduled(client: BrokerRedis, layout: KeyLayout, queue: string, taskId: string): Promise<boolean> {
  const key = layout.schedule(queue);
  for (const member of await client.zrange(key, 0, -1)) {
    const m = memberMessage(member);
    if (m?.headers.id !== taskId) continue;
    // Due now: without its eta header, else a worker would hand it back to the schedule.
    const dueNow = toEnvelope({ ...m, headers: { ...m.headers, eta: null } });
    return (await client.celeriacReleaseScheduled(key, layout.list(queue, Number(member[0])), member, dueNow)) === 1;
  }
  return false;
}
