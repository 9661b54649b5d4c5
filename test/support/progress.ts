// Following a gated progress task (test/fixtures/progress-app.ts, or the
// Python canvas.pyProgress): each step's gate is opened once its PROGRESS is
// seen, so every step is seen however the states are read (pub/sub or polling).
import assert from "node:assert/strict";
import type { AsyncResult, Celeriac } from "../../src/index.js";
import { resultMeta } from "../../src/backends/result-meta.js";

/** Every state the task was seen in but its gates (GO<i>, the test's own: seen or not depending on how fast the task takes them). */
export async function followGated(app: Celeriac, r: AsyncResult<unknown>): Promise<{ status: string; result: unknown }[]> {
  const seen: { status: string; result: unknown }[] = [];
  const backend = await app.backend();
  for await (const meta of r.updates({ timeout: 30_000 })) {
    if (meta.status.startsWith("GO")) continue;
    seen.push({ status: meta.status, result: meta.result });
    if (meta.status === "PROGRESS") {
      const step = (meta.result as { current: number }).current;
      assert.deepEqual(r.progress, meta.result, "the result's progress follows the updates");
      await backend.store(resultMeta({ taskId: r.id, status: `GO${step}`, result: null }), { replyTo: app.oid, correlationId: r.id });
    }
  }
  return seen;
}
