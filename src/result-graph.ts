// Walking a result and its children as Celery's AsyncResult.iterdeps and
// collect() do (celery/result.py): breadth first from the result itself; a
// node's children are followed once it is ready, and a node that is not
// ready ends the walk with IncompleteStream unless `intermediate` is true.
// The children are those the worker recorded in the result meta (trail.ts).
import { IncompleteStream } from "./errors.js";
import type { GetOptions } from "./result.js";

/** What the walk needs of a result: an AsyncResult or a GroupResult (whose children are its members). */
export interface ResultNode {
  readonly id: string;
  readonly children: ResultNode[] | null;
  ready(): Promise<boolean>;
  get(opts?: GetOptions): Promise<unknown>;
}

export interface IterdepsOptions {
  /** Walk on past a result that is not ready (its children are not followed); default false: throw IncompleteStream. */
  intermediate?: boolean;
}

export type CollectOptions = IterdepsOptions & GetOptions;

/** `[parent, node]` for the root and every descendant, breadth first (Celery's iterdeps). */
export async function* iterdeps(root: ResultNode, opts: IterdepsOptions = {}): AsyncGenerator<[ResultNode | null, ResultNode], void, undefined> {
  const queue: [ResultNode | null, ResultNode][] = [[null, root]];
  for (let next = queue.shift(); next; next = queue.shift()) {
    yield next;
    const node = next[1];
    if (await node.ready()) for (const child of node.children ?? []) queue.push([node, child]);
    else if (!opts.intermediate) throw new IncompleteStream(`result ${node.id} is not ready`);
  }
}

/** `[result, value]` for the root and every descendant, each waited for with get() (Celery's collect). */
export async function* collect(root: ResultNode, opts: CollectOptions = {}): AsyncGenerator<[ResultNode, unknown], void, undefined> {
  const { intermediate, ...get } = opts;
  for await (const [, node] of iterdeps(root, { intermediate })) yield [node, await node.get(get)];
}
