// GroupResult: the results of a group's tasks, in the group's order, under the
// group's id (Celery's GroupResult). A chord's callback result has one as its parent.
import { TimeoutError } from "../errors.js";
import { AsyncResult, provideResultFromTuple, type GetOptions, type ResultSource, type ResultTuple } from "../result.js";
import { States } from "../states.js";

export type GroupMember = AsyncResult | GroupResult;

export class GroupResult<T = unknown> {
  parent: AsyncResult | GroupResult | null;
  /** Resolves once every task message of the group is in the broker. */
  readonly sent: Promise<void>;

  constructor(
    readonly id: string,
    readonly results: GroupMember[],
    private readonly source: ResultSource,
    sent?: Promise<void>,
    parent: AsyncResult | GroupResult | null = null,
  ) {
    this.parent = parent;
    this.sent = sent ?? Promise.all(results.map((r) => r.sent)).then(() => undefined);
    this.sent.catch(() => {});
  }

  /** Rebuilds a saved group from the result backend (null when it was never saved or has expired). */
  static async restore(source: ResultSource, groupId: string): Promise<GroupResult | null> {
    const backend = await source.backend();
    const members = await backend.restoreGroup(groupId);
    if (!members) return null;
    return new GroupResult(
      groupId,
      members.map((m) => resultFromTuple(source, m)),
      source,
    );
  }

  get length(): number {
    return this.results.length;
  }

  /** Its members (Celery's GroupResult.children), as a walk of results (`AsyncResult.collect()`) follows them. */
  get children(): GroupMember[] {
    return this.results;
  }

  /** Stores the member ids under the group id, so `GroupResult.restore` can find them later. */
  async save(): Promise<void> {
    await this.sent;
    const backend = await this.source.backend();
    await backend.saveGroup(
      this.id,
      this.results.map((r) => r.asTuple()),
    );
  }

  /** Removes the saved group (not the members' results). */
  async delete(): Promise<void> {
    const backend = await this.source.backend();
    await backend.deleteGroup(this.id);
  }

  /**
   * Waits for every member and returns their values in group order. With
   * `propagate` (the default) the first failure in group order is thrown;
   * without, failed members appear as their errors.
   */
  async get(opts: GetOptions = {}): Promise<T[]> {
    const deadline = opts.timeout === undefined ? undefined : Date.now() + opts.timeout;
    const left = () => (deadline === undefined ? undefined : Math.max(0, deadline - Date.now()));
    await withTimeout(this.sent, left(), `group ${this.id} was not sent in ${opts.timeout} ms`);
    // Every wait starts at once (one backend poll serves them all); the values are read in order.
    const waits = this.results.map((r) => r.get({ timeout: left(), propagate: false }));
    for (const w of waits) w.catch(() => {});
    const values: unknown[] = [];
    for (let i = 0; i < waits.length; i++) {
      const value = await waits[i];
      const member = this.results[i]!;
      const failed = member instanceof AsyncResult ? member.state !== States.SUCCESS : value instanceof Error;
      if (failed && opts.propagate !== false && value instanceof Error) throw value;
      values.push(value);
    }
    return values as T[];
  }

  /** Celery's name for get(). */
  join(opts: GetOptions = {}): Promise<T[]> {
    return this.get(opts);
  }

  private async leaves(): Promise<AsyncResult[]> {
    const out: AsyncResult[] = [];
    for (const r of this.results) {
      if (r instanceof GroupResult) out.push(...(await r.leaves()));
      else out.push(r);
    }
    return out;
  }

  /** How many members finished successfully. */
  async completedCount(): Promise<number> {
    const leaves = await this.leaves();
    const ok = await Promise.all(leaves.map((r) => r.successful()));
    return ok.filter(Boolean).length;
  }

  /** True when every member finished (in any state). */
  async ready(): Promise<boolean> {
    const leaves = await this.leaves();
    return (await Promise.all(leaves.map((r) => r.ready()))).every(Boolean);
  }

  /** True when every member succeeded. */
  async successful(): Promise<boolean> {
    const leaves = await this.leaves();
    return (await Promise.all(leaves.map((r) => r.successful()))).every(Boolean);
  }

  /** True when any member failed. */
  async failed(): Promise<boolean> {
    const leaves = await this.leaves();
    return (await Promise.all(leaves.map((r) => r.failed()))).some(Boolean);
  }

  /** True while any member is not finished. */
  async waiting(): Promise<boolean> {
    return !(await this.ready());
  }

  /** Revokes every member (needs remote control on the app). */
  async revoke(opts: { terminate?: boolean; signal?: string } = {}): Promise<void> {
    const leaves = await this.leaves();
    await Promise.all(leaves.map((r) => r.revoke(opts)));
  }

  /** Removes every member's stored result and the saved group. */
  async forget(): Promise<void> {
    const leaves = await this.leaves();
    await Promise.all(leaves.map((r) => r.forget()));
    await this.delete();
  }

  toString(): string {
    return this.id;
  }

  toJSON(): string {
    return this.id;
  }

  /** Celery's GroupResult.as_tuple(): `((id, parent), [member tuples])`. */
  asTuple(): ResultTuple {
    return [[this.id, this.parent?.asTuple() ?? null], this.results.map((r) => r.asTuple())];
  }
}

/** Celery's result_from_tuple: an AsyncResult, or a GroupResult when the tuple lists members, with its parents. */
export function resultFromTuple(source: ResultSource, tuple: ResultTuple): GroupMember {
  const [head, members] = tuple;
  // Older producers stored a bare id where the (id, parent) pair goes, as Celery tolerates.
  const [id, parent] = Array.isArray(head) ? head : [head as string, null];
  const p = parent ? resultFromTuple(source, parent) : null;
  if (Array.isArray(members))
    return new GroupResult(
      id,
      members.map((m) => resultFromTuple(source, m)),
      source,
      undefined,
      p,
    );
  return new AsyncResult(id, source, undefined, p);
}

provideResultFromTuple(resultFromTuple);

function withTimeout(p: Promise<void>, ms: number | undefined, message: string): Promise<void> {
  if (ms === undefined) return p;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new TimeoutError(message)), ms);
    p.then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}
