// Canvas wire format against Python Celery 5.2.6: signatures that Python put
// in `embed` are rebuilt as the right kinds and written back unchanged, and
// the messages Celeriac sends for the same workflows have Celery's shape.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { after, describe, it } from "node:test";
import { Celeriac, Chain, Chord, Group, MapSignature, Signature, chain, chord, chordSize, group } from "../../src/index.js";
import { decodeTask, type SignatureDict, type TaskMessage } from "../../src/protocol/message.js";

interface Captured {
  result_id: string;
  messages: { headers: Record<string, unknown>; body: [unknown[], Record<string, unknown>, Record<string, unknown>] }[];
}
const py = JSON.parse(readFileSync(new URL("../fixtures/python-canvas-messages.json", import.meta.url), "utf8")) as Record<string, Captured>;

/** Ids become "<id>"; what only one side writes (reply_to, null root/parent ids, chord_size, a header group's own chord) is dropped. */
function shape(v: unknown, key = ""): unknown {
  if (typeof v === "string" && /^[0-9a-f]{8}-[0-9a-f]{4}-/.test(v)) return "<id>";
  if (Array.isArray(v)) return v.map((x) => shape(x));
  if (v && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (k === "reply_to" || k === "chord_size") continue;
      if ((k === "root_id" || k === "parent_id") && x === null) continue;
      if (k === "chord" && key === "group-options") continue;
      const isGroup = (v as Record<string, unknown>).subtask_type === "group";
      out[k] = shape(x, k === "options" && isGroup ? "group-options" : k);
    }
    return out;
  }
  return v;
}

describe("canvas wire format (Python Celery 5.2.6 fixtures)", () => {
  it("Python's signatures are rebuilt as the right kinds and written back unchanged", () => {
    const dicts: SignatureDict[] = [];
    for (const c of Object.values(py)) {
      if (typeof c !== "object" || !c.messages) continue;
      for (const m of c.messages) {
        const embed = m.body[2] as { chain?: SignatureDict[]; chord?: SignatureDict; callbacks?: SignatureDict[]; errbacks?: SignatureDict[] };
        dicts.push(...(embed.chain ?? []), ...(embed.callbacks ?? []), ...(embed.errbacks ?? []), ...(embed.chord ? [embed.chord] : []));
      }
    }
    assert.ok(dicts.length >= 6);
    for (const d of dicts) assert.deepEqual(JSON.parse(JSON.stringify(Signature.fromDict(null, d).toDict())), d);
  });

  it("a chain: the rest reversed in embed.chain, every step frozen, the result is the last step's", () => {
    const [first] = py.chain!.messages;
    assert.deepEqual(first!.body[0], [1, 2]);
    const rest = (first!.body[2] as { chain: SignatureDict[] }).chain;
    assert.deepEqual(
      rest.map((s) => s.args),
      [[4], [3]],
    );
    assert.equal(rest[0]!.options.task_id, py.chain!.result_id);
  });

  it("a group inside a chain travels as a chord: header group, callback, chord_size from the header", () => {
    const rest = (py.chain_group_task!.messages[0]!.body[2] as { chain: SignatureDict[] }).chain;
    const ch = Signature.fromDict(null, rest[0]!);
    assert.ok(ch instanceof Chord);
    assert.ok(ch.header instanceof Group);
    assert.equal(ch.header.tasks.length, 2);
    assert.equal(ch.body?.task, "proj.tsum");
    assert.equal(chordSize(ch.header), 2);
    assert.equal(ch.body?.options.task_id, py.chain_group_task!.result_id);
  });

  it("chord header tasks: group and group_index headers, the callback in embed.chord", () => {
    const msgs = py.chord!.messages;
    assert.deepEqual(
      msgs.map((m) => m.headers.group_index),
      [0, 1],
    );
    assert.equal(msgs[0]!.headers.group, msgs[1]!.headers.group);
    const cb = (msgs[0]!.body[2] as { chord: SignatureDict }).chord;
    assert.equal(cb.options.task_id, py.chord!.result_id);
  });

  it("starmap: one celery.starmap message, kwargs {task, it}", () => {
    const [m] = py.starmap!.messages;
    assert.equal(m!.headers.task, "celery.starmap");
    assert.deepEqual(m!.body[1].it, [
      [1, 2],
      [3, 4],
    ]);
    assert.ok(
      Signature.fromDict(null, { task: "celery.starmap", args: [], kwargs: m!.body[1], options: {}, subtask_type: "xstarmap", immutable: true }) instanceof
        MapSignature,
    );
  });
});

describe("canvas wire format: Celeriac sends what Celery sends", () => {
  const url = `memory://wire-${randomUUID()}`;
  const app = new Celeriac({ name: "wire", broker: url, backend: url });
  const add = app.task("proj.add", (x: number, y: number) => x + y);
  const tsum = app.task("proj.tsum", (v: number[]) => v.reduce((a, b) => a + b, 0));
  const onError = app.task("proj.on_error", (id: string) => id);
  after(() => app.close());

  async function sent(): Promise<TaskMessage[]> {
    const b = await app.broker();
    const ds = await b.fetch(["celery"], { max: 100, waitMs: 50, lease: false });
    return ds.map((d) => decodeTask(d.message, ["application/json"]));
  }
  const asPython = (msgs: TaskMessage[]) =>
    msgs.map((m) =>
      shape({
        headers: {
          task: m.headers.task,
          id: m.headers.id,
          group: m.headers.group,
          group_index: m.headers.group_index,
          root_id: m.headers.root_id,
          parent_id: m.headers.parent_id,
        },
        body: [m.args, m.kwargs, m.embed],
      }),
    );
  const expected = (label: string) => py[label]!.messages.map((m) => shape(m));

  it("chain", async () => {
    const res = chain(add.s(1, 2), add.s(3), add.s(4)).applyAsync();
    await res.sent;
    const msgs = await sent();
    assert.deepEqual(asPython(msgs), expected("chain"));
    assert.equal(msgs[0]!.embed.chain![0]!.options.task_id, res.id);
  });

  it("a group inside a chain (a chord)", async () => {
    await chain(add.s(1, 2), group(add.s(3), add.s(4)), tsum.s()).applyAsync().sent;
    assert.deepEqual(asPython(await sent()), expected("chain_group_task"));
  });

  it("chord", async () => {
    const res = chord([add.s(1, 1), add.s(2, 2)], tsum.s()).applyAsync();
    await res.sent;
    const msgs = await sent();
    assert.deepEqual(asPython(msgs), expected("chord"));
    assert.equal(msgs[0]!.embed.chord!.chord_size, 2, "Celeriac also says the chord's size, as newer Celery does");
  });

  it("starmap", async () => {
    await add
      .starmap([
        [1, 2],
        [3, 4],
      ])
      .applyAsync().sent;
    assert.deepEqual(asPython(await sent()), expected("starmap"));
  });

  it("link and link_error", async () => {
    await add.applyAsync([1, 2], { link: tsum.s(), linkError: onError.s() }).sent;
    assert.deepEqual(asPython(await sent()), expected("link_error"));
  });

  it("types: results are typed from the tasks (checked by tsc; nothing is sent)", () => {
    const never = (): boolean => false;
    if (never()) {
      const a: Promise<number> = chain(add.s(1, 2), add.s(3)).applyAsync().get();
      const b: Promise<number[]> = group(add.s(1, 1), add.s(2, 2)).applyAsync().get();
      const c: Promise<number> = chord([add.s(1, 1)], tsum.s())
        .applyAsync()
        .get();
      const d: Promise<number[][]> = add
        .chunks([[1, 1]], 1)
        .applyAsync()
        .get();
      const e: Promise<number[]> = add
        .starmap([[1, 1]])
        .delay()
        .get();
      void [a, b, c, d, e];
    }
  });

  it("types: chain and group keep their kinds through clone", () => {
    assert.ok(chain(add.s(1, 1), add.s(2)).clone() instanceof Chain);
    assert.ok(group(add.s(1, 1)).clone() instanceof Group);
  });
});
