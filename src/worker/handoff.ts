// Carrying a message to or from a pool child when structured clone cannot.
// V8's serializer (IPC "advanced" serialization, postMessage) recurses: a
// value nested ~5,000 levels deep, which JSON.parse reads fine, makes it throw
// "Maximum call stack size exceeded". `flatten` turns such a value into a
// table of shallow nodes, walking it without recursion; `unflatten` rebuilds
// it the same way. Only plain objects and arrays are taken apart: anything
// else (a Date, a Buffer, a Map) is a leaf left to structured clone.

/** A leaf value, an array (its items' node indexes) or a plain object (its keys and their node indexes). */
type Node = [0, unknown] | [1, number[]] | [2, string[], number[]];

export interface Flat {
  nodes: Node[];
}

function isPlainObject(v: object): boolean {
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** The value as a table of shallow nodes (node 0 is the value); shared and cyclic references are kept. */
export function flatten(value: unknown): Flat {
  const nodes: Node[] = [];
  const seen = new Map<object, number>();
  const pending: [unknown, number][] = [];
  const indexOf = (v: unknown): number => {
    if (v !== null && typeof v === "object") {
      const known = seen.get(v);
      if (known !== undefined) return known;
      seen.set(v, nodes.length);
    }
    const i = nodes.length;
    nodes.push([0, v]);
    if (v !== null && typeof v === "object" && (Array.isArray(v) || isPlainObject(v))) pending.push([v, i]);
    return i;
  };
  indexOf(value);
  for (let next = pending.pop(); next; next = pending.pop()) {
    const [v, i] = next;
    if (Array.isArray(v)) {
      nodes[i] = [1, v.map(indexOf)];
    } else {
      const keys = Object.keys(v as object);
      nodes[i] = [2, keys, keys.map((k) => indexOf((v as Record<string, unknown>)[k]))];
    }
  }
  return { nodes };
}

/** The value `flatten` took apart. */
export function unflatten(flat: Flat): unknown {
  const { nodes } = flat;
  // Every container first, then their contents: no recursion, cycles work.
  const values = nodes.map((n) => (n[0] === 0 ? n[1] : n[0] === 1 ? new Array<unknown>(n[1].length) : {}));
  nodes.forEach((n, i) => {
    const target = values[i];
    if (n[0] === 1) n[1].forEach((c, j) => ((target as unknown[])[j] = values[c]));
    else if (n[0] === 2) {
      // defineProperty: an own "__proto__" key (JSON.parse makes them) stays a key, not a prototype.
      n[1].forEach((k, j) => Object.defineProperty(target, k, { value: values[n[2][j]!], writable: true, enumerable: true, configurable: true }));
    }
  });
  return values[0];
}

export type Wire<M> = M | { type: "flat"; flat: Flat };

/**
 * Sends `m` with `post` (which throws when it cannot serialize); when
 * structured clone gives up on the nesting, sends it flattened. Throws when
 * it cannot be sent either way (a function, a symbol).
 */
export function postFlatIfDeep<M>(post: (m: Wire<M>) => void, m: M): void {
  try {
    post(m);
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    post({ type: "flat", flat: flatten(m) });
  }
}

/** The message as sent, flattened or not. */
export function received<M>(m: Wire<M>): M {
  const f = m as { type?: unknown; flat?: Flat };
  return f.type === "flat" && f.flat ? (unflatten(f.flat) as M) : (m as M);
}
