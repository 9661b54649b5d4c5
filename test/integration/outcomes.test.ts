// Outcomes that cannot be recorded as they are (issue 14): a result no
// serializer can encode, a malformed embed, a retry that cannot be sent. Each
// is recorded as well as it can be — FAILURE with the reason, or the task's
// own result — and its message is acked: it never waits in the queue to run
// again, and the caller's get() never hangs. With acksLate, too: each runs
// exactly once. Real worker processes, both pools, on SQLite and Redis.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import Database from "better-sqlite3";
import { Celeriac, EncodeError, InvalidTaskOptions, RetryNotSent } from "../../src/index.js";
import { startWorker, type RunningProcess } from "../support/processes.js";
import { rawClient, redisAvailable, redisUrl } from "../support/redis.js";
import { waitUntil } from "../support/wait.js";

const APP = "test/fixtures/outcome-app.ts";
const REDIS_DB = 15;
const dir = mkdtempSync(join(tmpdir(), "celeriac-outcome-"));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Store {
  name: string;
  url: string;
  /** Nothing of `queue` is queued or leased: no message can be delivered again. */
  drained(queue: string): Promise<boolean>;
  close(): void;
}

function sqliteStore(): Store {
  const file = join(dir, `${randomUUID()}.db`);
  let db: Database.Database | null = null;
  return {
    name: "sqlite",
    url: `sqlite://${file}`,
    drained: async (queue) => (db ??= new Database(file)).prepare("SELECT count(*) FROM celeriac_messages WHERE queue = ?").pluck().get(queue) === 0,
    close: () => db?.close(),
  };
}

function redisStore(): Store {
  const raw = rawClient(REDIS_DB);
  return {
    name: "redis",
    url: redisUrl(REDIS_DB),
    // kombu's unacked hash is shared by the queues of this database: only ours use DB 15.
    drained: async (queue) => (await raw.llen(queue)) === 0 && (await raw.hlen("unacked")) === 0,
    close: () => raw.disconnect(),
  };
}

const runsOf = (file: string, tag: string) =>
  existsSync(file)
    ? readFileSync(file, "utf8")
        .split("\n")
        .filter((l) => l && JSON.parse(l) === tag).length
    : 0;

const stores: (() => Store)[] = [sqliteStore];
if (await redisAvailable()) stores.push(redisStore);

for (const makeStore of stores) {
  for (const pool of ["async", "process"] as const) {
    const store = makeStore();
    describe(`outcomes that cannot be recorded as they are: ${store.name}, ${pool} pool`, () => {
      const queue = `outcome-${randomUUID().slice(0, 8)}`;
      const runs = join(dir, `runs-${randomUUID()}`);
      // A short visibility timeout: a message left unacked would come back within the test.
      const transport = { visibilityTimeout: 2 };
      const app = new Celeriac({ name: "outcome-client", broker: store.url, backend: store.url, brokerTransportOptions: transport });
      let worker: RunningProcess;

      before(async () => {
        worker = await startWorker(APP, ["-P", pool, "-c", "2", "-Q", queue, "-l", "info"], {
          CELERIAC_BROKER_URL: store.url,
          CELERIAC_RESULT_BACKEND: store.url,
          CELERIAC_BROKER_TRANSPORT_OPTIONS: JSON.stringify(transport),
        });
      });
      after(async () => {
        await worker?.stop();
        await app.close();
        store.close();
      });

      const send = (task: string, opts: Record<string, unknown> = {}) => {
        const tag = `${task}-${randomUUID().slice(0, 8)}`;
        return { tag, result: app.sendTask(task, [runs, tag], {}, { queue, ...opts }) };
      };
      const output = () => worker.output().slice(-4000);
      /** Nothing left to deliver, then: it ran once, and the message is not coming back. */
      const ranOnce = async (tag: string) => {
        await waitUntil(
          () => `queue ${queue} to drain; output:\n${output()}`,
          () => store.drained(queue),
          15_000,
          100,
        );
        assert.equal(runsOf(runs, tag), 1, `${tag} ran ${runsOf(runs, tag)} times`);
      };

      for (const late of ["", ".late"]) {
        for (const kind of ["bigint", "circular"]) {
          it(`a task returning a ${kind === "bigint" ? "BigInt" : "circular object"}${late ? " (acksLate)" : ""}: FAILURE EncodeError naming the task and the cause, acked, ran once`, async () => {
            const { tag, result } = send(`outcome.${kind}${late}`);
            await assert.rejects(result.get({ timeout: 15_000 }), (err: Error) => {
              assert.ok(err instanceof EncodeError, `${err.name}: ${err.message}; output:\n${output()}`);
              assert.match(err.message, new RegExp(`outcome\\.${kind}.*\\[${result.id}\\].*${kind === "bigint" ? "BigInt" : "circular"}`));
              return true;
            });
            const meta = await (await app.backend()).get(result.id);
            assert.equal(meta?.status, "FAILURE");
            // What a Python AsyncResult reads: kombu's own class.
            assert.deepEqual(
              [(meta?.result as { exc_type: string }).exc_type, (meta?.result as { exc_module: string }).exc_module],
              ["EncodeError", "kombu.exceptions"],
            );
            await ranOnce(tag);
          });
        }

        it(`a malformed embed (a callback whose args are not a list)${late ? " (acksLate)" : ""}: logged, the task's own result stored, acked, ran once`, async () => {
          // A dict as a Python producer could send it: passed through to the embed as it is.
          const bad = { task: "outcome.plain", args: 5, kwargs: {}, options: {}, subtask_type: null, immutable: false } as never;
          const { tag, result } = send(`outcome.plain${late}`, { link: bad });
          assert.equal(await result.get({ timeout: 15_000 }), tag);
          await ranOnce(tag);
          await waitUntil(
            () => `the embed failure to be logged; output:\n${output()}`,
            () => new RegExp(`${result.id}\\]: cannot continue its workflow`).test(worker.output()),
            5000,
          );
        });

        it(`a retry whose message cannot be sent${late ? " (acksLate)" : ""}: FAILURE RetryNotSent, acked, ran once`, async () => {
          const { tag, result } = send(`outcome.badRetry${late}`);
          await assert.rejects(result.get({ timeout: 15_000 }), (err: Error) => {
            assert.ok(err instanceof RetryNotSent, `${err.name}: ${err.message}; output:\n${output()}`);
            assert.match(err.message, /retry cannot be sent: retry countdown NaN/);
            return true;
          });
          await ranOnce(tag);
        });
      }

      it("a failed task logs its stack at ERROR, its first line once", async () => {
        const { tag, result } = send("outcome.fails");
        await assert.rejects(result.get({ timeout: 15_000 }), (err: Error) => err.name === "RangeError");
        const line = new RegExp(`ERROR/[^\\]]*\\] task outcome\\.fails\\[${result.id}\\] raised RangeError: boom-${tag}\\n\\s+at `);
        await waitUntil(
          () => `the failure with its stack in the log; output:\n${output()}`,
          () => line.test(worker.output()),
          5000,
        );
        assert.equal(worker.output().split(`boom-${tag}`).length - 1, 1, "the error's message is printed once, not again as the stack's first line");
      });

      it("time limits longer than setTimeout can take (30 days) do not fire at once", async () => {
        const { tag, result } = send("outcome.nap", { timeLimit: 30 * 86400, softTimeLimit: 29 * 86400 });
        assert.equal(await result.get({ timeout: 15_000 }), tag);
      });
    });
  }
}

describe("time limits at send", () => {
  const app = new Celeriac({ name: "limits", broker: "memory://limits", backend: "memory://limits" });
  after(() => app.close());

  for (const [option, value] of [
    ["timeLimit", -5],
    ["softTimeLimit", Number.NaN],
    ["timeLimit", "10"],
    ["softTimeLimit", Infinity],
  ] as const) {
    it(`${option} ${String(value)}: refused with InvalidTaskOptions`, async () => {
      const r = app.sendTask("limits.any", [], {}, { [option]: value } as Record<string, unknown>);
      await assert.rejects(r.sent, (err: Error) => err instanceof InvalidTaskOptions && err.message.includes(option));
    });
  }

  it("0 and undefined mean none", async () => {
    await app.sendTask("limits.any", [], {}, { timeLimit: 0, softTimeLimit: undefined }).sent;
  });
});
