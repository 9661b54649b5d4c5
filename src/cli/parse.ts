// Option parsers shared by the CLI's commands.

export function parseJson<T>(text: string | undefined, what: string, fallback: T): T {
  if (text === undefined) return fallback;
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new Error(`--${what} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

export const int = (v: string): number => {
  const n = Number.parseInt(v, 10);
  if (Number.isNaN(n)) throw new Error(`not a number: ${v}`);
  return n;
};

export const num = (v: string): number => {
  const n = Number(v);
  if (Number.isNaN(n)) throw new Error(`not a number: ${v}`);
  return n;
};

/** "a, b,,c" → ["a", "b", "c"]; undefined → []. */
export const list = (v: string | undefined): string[] =>
  v
    ? v
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean)
    : [];

/** Option value from `--opt=value` or `--opt value`; the token(s) are removed from `args`. */
export function takeOption(args: string[], name: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    if (args[i]!.startsWith(`${name}=`)) return args.splice(i, 1)[0]!.slice(name.length + 1);
    if (args[i] === name) return args.splice(i, 2)[1];
  }
  return undefined;
}
