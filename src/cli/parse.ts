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
