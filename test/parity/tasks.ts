// A Celeriac port of the tasks Celery 5.2.6's integration suite runs
// (t/integration/tasks.py), under the same names, so that suite can be run
// unchanged against a Celeriac worker (scripts/parity/run.mjs). Each task
// does what its Python namesake does; where Python relies on keyword
// arguments, the port reads them from this.request.kwargs.
import { Redis } from "ioredis";
import { Celeriac, RemoteTaskError, Signature, chain, chord, group, type TaskContext } from "../../src/index.js";

export const app = new Celeriac({ name: "t.integration" });

const N = "t.integration.tasks";
let redis: Redis | null = null;
/** The suite's own Redis connection (conftest get_redis_connection: REDIS_HOST, db 0). */
function redisConnection(): Redis {
  redis ??= new Redis({ host: process.env.REDIS_HOST ?? "127.0.0.1", port: 6379, db: 0 });
  return redis;
}

const sleep = (seconds: number) => new Promise((r) => setTimeout(r, seconds * 1000));
const sum = (nums: number[]) => nums.reduce((a, b) => a + b, 0);
/** A Python exception by module and class, re-raised as such by a Python client. */
const pyError = (type: string, message: string, module = "builtins") => new RemoteTaskError(type, message, module);
/** The suite's ExpectedException, compared by its arguments: all of them go in exc_message. */
const expected = (...args: unknown[]) => new RemoteTaskError("ExpectedException", args.map(String).join(", "), N, null, args);

export const identity = app.task({ name: `${N}.identity`, params: ["x"] }, (x: unknown) => x);

/** Python's `+`: lists concatenate (the suite adds a chord's results list to a list). */
const plus = (a: unknown, b: unknown): unknown => (Array.isArray(a) && Array.isArray(b) ? [...a, ...b] : (a as number) + (b as number));

export const add = app.task({ name: `${N}.add`, params: ["x", "y", "z"] }, (x: number, y: number, z: number | null = null) =>
  z ? plus(plus(x, y), z) : plus(x, y),
);

app.task({ name: `${N}.write_to_file_and_return_int`, params: ["file_name", "i"] }, async (fileName: string, i: number) => {
  const { appendFileSync } = await import("node:fs");
  appendFileSync(fileName, `${i}\n`);
  return i;
});

app.task({ name: `${N}.add_not_typed`, params: ["x", "y"] }, (x: number, y: number) => x + y);

app.task({ name: `${N}.add_ignore_result`, params: ["x", "y"], ignoreResult: true }, (x: number, y: number) => x + y);

export const raiseError = app.task({ name: `${N}.raise_error`, kwargsAsObject: true }, () => {
  throw pyError("ValueError", "deliberate error");
});

app.task({ name: `${N}.chain_add`, params: ["x", "y"] }, async (x: number, y: number) => {
  await chain(add.s(x, x), add.s(y)).applyAsync().sent;
  return null;
});

app.task({ name: `${N}.chord_add`, params: ["x", "y"] }, async (x: number, y: number) => {
  await chord([add.s(x, x)], add.s(y)).applyAsync().sent;
  return null;
});

app.task({ name: `${N}.delayed_sum`, params: ["numbers", "pause_time"] }, async (numbers: number[], pauseTime: number = 1) => {
  await sleep(pauseTime);
  return sum(numbers);
});

app.task(
  { name: `${N}.delayed_sum_with_soft_guard`, params: ["numbers", "pause_time"], bind: true },
  function (this: TaskContext, numbers: number[], pauseTime: number = 1) {
    const signal = this.signal;
    return new Promise<number>((resolve) => {
      const timer = setTimeout(() => resolve(sum(numbers)), pauseTime * 1000);
      signal.addEventListener("abort", () => {
        clearTimeout(timer);
        resolve(0);
      });
    });
  },
);

export const tsum = app.task({ name: `${N}.tsum`, params: ["nums"] }, (nums: number[]) => sum(nums));

app.task({ name: `${N}.add_replaced`, params: ["x", "y"], bind: true }, function (this: TaskContext, x: number, y: number): number {
  return this.replace(add.s(x, y));
});

/** link_msg from the keyword arguments: an immutable redis_echo with it, else redis_echo taking the result. */
function echoLink(ctx: TaskContext): Signature {
  const msg = ctx.request.kwargs.link_msg;
  const link = redisEcho.s();
  if (msg !== undefined && msg !== null) {
    link.args = [msg];
    link.set({ immutable: true });
  }
  return link;
}

app.task({ name: `${N}.replace_with_chain`, bind: true, kwargsAsObject: true }, function (this: TaskContext): unknown {
  const c = chain(identity.s(...(this.request.args as [unknown])), identity.s());
  c.link(echoLink(this));
  return this.replace(c);
});

app.task({ name: `${N}.replace_with_chain_which_raises`, bind: true, kwargsAsObject: true }, function (this: TaskContext): unknown {
  const c = chain(identity.s(...(this.request.args as [unknown])), raiseError.s());
  c.linkError(echoLink(this));
  return this.replace(c);
});

app.task({ name: `${N}.replace_with_empty_chain`, bind: true, kwargsAsObject: true }, function (this: TaskContext): unknown {
  return this.replace(chain());
});

app.task({ name: `${N}.add_to_all`, params: ["nums", "val"], bind: true }, function (this: TaskContext, nums: number[], val: number): number[] {
  return this.replace(group(nums.map((n) => add.s(n, val))));
});

app.task({ name: `${N}.add_to_all_to_chord`, params: ["nums", "val"], bind: true }, async function (this: TaskContext, nums: number[], val: number = 0) {
  for (const n of nums) await this.addToChord(add.s(n, val));
  return 0;
});

app.task({ name: `${N}.add_chord_to_chord`, params: ["nums", "val"], bind: true }, async function (this: TaskContext, nums: number[], val: number = 0) {
  await this.addToChord(
    chord(
      nums.map((n) => add.s(n, val)),
      tsum.s(),
    ),
  );
  return 0;
});

app.task(
  { name: `${N}.print_unicode`, params: ["log_message", "print_message"] },
  (logMessage: string = "håå®ƒ valmuefrø", printMessage: string = "hiöäüß") => {
    app.log.warn(logMessage);
    console.log(printMessage);
    return null;
  },
);

app.task({ name: `${N}.return_exception`, params: ["e"] }, (e: unknown) => [e, true]);

export const sleeping = app.task({ name: `${N}.sleeping`, kwargsAsObject: true }, async (i: number) => {
  await sleep(i);
  return null;
});

app.task({ name: `${N}.ids`, params: ["i"], bind: true }, function (this: TaskContext, i: unknown) {
  return [this.request.rootId, this.request.parentId, i];
});

app.task({ name: `${N}.collect_ids`, params: ["res", "i"], bind: true }, function (this: TaskContext, res: unknown, i: unknown) {
  return [res, [this.request.rootId, this.request.parentId, i]];
});

let attempt = 0;
app.task({ name: `${N}.retry`, params: ["return_value"], bind: true, defaultRetryDelay: 1 }, function (this: TaskContext, returnValue: unknown = null) {
  if (returnValue) {
    if (attempt >= 3) {
      attempt = 0;
      return returnValue;
    }
    attempt++;
  }
  return this.retry({ exc: expected(), countdown: 5 });
});

function retryOnce(ctx: TaskContext, value: () => unknown): unknown {
  if (ctx.request.retries) return value();
  const kw = ctx.request.kwargs as { countdown?: number; max_retries?: number };
  return ctx.retry({ countdown: kw.countdown ?? 0.1, maxRetries: kw.max_retries ?? 1 });
}

app.task({ name: `${N}.retry_once`, bind: true, kwargsAsObject: true, expires: 60, maxRetries: 1 }, function (this: TaskContext) {
  return retryOnce(this, () => this.request.retries);
});

app.task({ name: `${N}.retry_once_priority`, bind: true, kwargsAsObject: true, expires: 60, maxRetries: 1 }, function (this: TaskContext) {
  return retryOnce(this, () => this.request.deliveryInfo.priority ?? null);
});

export const redisEcho = app.task({ name: `${N}.redis_echo`, params: ["message", "redis_key"] }, async (message: string, redisKey: string = "redis-echo") => {
  await redisConnection().rpush(redisKey, message);
  return null;
});

const redisCount = async (key: string) => {
  await redisConnection().incr(key);
};
app.task({ name: `${N}.redis_count`, params: ["redis_key"] }, async (redisKey: string = "redis-count") => {
  await redisCount(redisKey);
  return null;
});

export const secondOrderReplace1 = app.task(
  { name: `${N}.second_order_replace1`, params: ["state"], bind: true },
  async function (this: TaskContext, state = false): Promise<null> {
    if (!state) {
      await redisConnection().rpush("redis-echo", "In A");
      const next = chain(secondOrderReplace2.s(), secondOrderReplace1.si());
      (next.tasks[1] as Signature).kwargs = { state: true };
      return this.replace(next);
    }
    await redisConnection().rpush("redis-echo", "Out A");
    return null;
  },
);

export const secondOrderReplace2 = app.task(
  { name: `${N}.second_order_replace2`, params: ["state"], bind: true },
  async function (this: TaskContext, state = false): Promise<null> {
    if (!state) {
      await redisConnection().rpush("redis-echo", "In B");
      const next = chain(redisEcho.s("In/Out C"), secondOrderReplace2.si());
      (next.tasks[1] as Signature).kwargs = { state: true };
      return this.replace(next);
    }
    await redisConnection().rpush("redis-echo", "Out B");
    return null;
  },
);

app.task({ name: `${N}.build_chain_inside_task` }, async () => {
  const result = chain(add.s(1, 1), add.s(2), group(add.s(3), add.s(4)), add.s(5)).applyAsync();
  await (result as { sent: Promise<void> }).sent;
  return result;
});

export const fail = app.task({ name: `${N}.fail`, kwargsAsObject: true }, (...args: unknown[]) => {
  throw expected("Task expected to fail", ...args);
});

app.task({ name: `${N}.fail_replaced`, bind: true, kwargsAsObject: true }, function (this: TaskContext): unknown {
  return this.replace(fail.si(...(this.request.args as [])));
});

app.task({ name: `${N}.return_priority`, bind: true, kwargsAsObject: true }, function (this: TaskContext) {
  const p = this.request.deliveryInfo.priority;
  return `Priority: ${p === undefined || p === null ? "None" : p}`;
});

app.task({ name: `${N}.return_properties`, bind: true }, function (this: TaskContext) {
  return this.request.properties;
});

class ValueError extends Error {
  override name = "ValueError";
}
app.task({ name: "auto_retry_class_task", bind: true, autoretryFor: [ValueError], maxRetries: 1, retryBackoff: true }, function (this: TaskContext) {
  if (this.request.retries) return this.request.retries;
  throw new ValueError();
});

const nested: Record<string, () => unknown> = {
  chain_chain: () => chain(chain([add.s()])),
  chain_group: () => chain(group([add.s()])),
  chain_chord: () => chain(chord([add.s()], add.s())),
  group_chain: () => group(chain([add.s()])),
  group_group: () => group(group([add.s()])),
  group_chord: () => group(chord([add.s()], add.s())),
  chord_chain: () => chord(chain([add.s()]), add.s()),
  chord_group: () => chord(group([add.s()]), add.s()),
  chord_chord: () => chord(chord([add.s()], add.s()), add.s()),
};
for (const [shape, make] of Object.entries(nested)) app.task({ name: `${N}.return_nested_signature_${shape}` }, () => make());

app.task({ name: `${N}.rebuild_signature`, params: ["sig_dict"] }, (sigDict: Record<string, unknown>) => {
  const check = (sig: unknown): void => {
    if (!(sig instanceof Signature)) throw new TypeError(`${JSON.stringify(sig)} is not a signature object`);
    const s = sig as Signature & { tasks?: unknown[]; body?: unknown };
    for (const t of s.tasks ?? []) check(t);
    if (s.body) check(s.body);
  };
  check(Signature.fromDict(app, sigDict as never));
  return null;
});

app.task({ name: `${N}.errback_old_style`, params: ["request_id"] }, async (requestId: string) => {
  await redisCount(requestId);
  return requestId;
});

app.task({ name: `${N}.errback_new_style`, params: ["request", "exc", "tb"] }, async (request: { id: string }, _exc: unknown, _tb: unknown) => {
  await redisCount(request.id);
  return request.id;
});
