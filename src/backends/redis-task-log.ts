// A task's log lines (this.log) on Redis: a list of JSON lines under a key of
// Celeriac's own (Celery has none), trimmed to the newest and expiring with
// the task's result.
import type { Redis } from "ioredis";
import { encodeJson } from "../protocol/serializers.js";
import type { TaskLogLine } from "../worker/task-log.js";

export const LOG_KEY_PREFIX = "celeriac-task-log-";

/** Appends, trims and sets the expiry in one MULTI, so no reader sees the list past its cap. */
export async function appendTaskLog(client: Redis, taskId: string, lines: readonly TaskLogLine[], maxLines: number, ttl: number): Promise<void> {
  const key = LOG_KEY_PREFIX + taskId;
  const tx = client
    .multi()
    .rpush(key, ...lines.map((l) => encodeJson(l)))
    .ltrim(key, -maxLines, -1);
  if (ttl) tx.expire(key, ttl);
  const replies = await tx.exec();
  const failed = replies?.find(([err]) => err);
  if (failed) throw failed[0]!;
}

/** The kept lines, oldest first; a line that is not JSON (written by something else) is left out. */
export async function readTaskLog(client: Redis, taskId: string): Promise<TaskLogLine[]> {
  const texts = await client.lrange(LOG_KEY_PREFIX + taskId, 0, -1);
  return texts.flatMap((t) => {
    try {
      return [JSON.parse(t) as TaskLogLine];
    } catch {
      return [];
    }
  });
}
