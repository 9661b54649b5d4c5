// Reads back a Python literal, as found in the display-only `argsrepr`,
// `kwargsrepr` headers and in event `args`/`kwargs`: None, True, False,
// numbers, quoted strings, tuples, lists and dicts. The dashboard's "retry"
// uses it when the result backend does not keep the arguments. A truncated
// repr ("...") or an object repr (<Foo at 0x…>) cannot be read back: DecodeError.
import { DecodeError } from "../errors.js";

export function parsePythonLiteral(text: string): unknown {
  let i = 0;
  const fail = (why: string): never => {
    throw new DecodeError(`cannot read ${JSON.stringify(text.length > 80 ? `${text.slice(0, 77)}...` : text)} as a Python literal: ${why} at ${i}`);
  };
  const ws = () => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  const value = (): unknown => {
    ws();
    const c = text[i];
    if (c === undefined) return fail("unexpected end");
    if (c === "(" || c === "[") return sequence(c === "(" ? ")" : "]");
    if (c === "{") return dict();
    if (c === "'" || c === '"') return str();
    const word = /^(None|True|False|-?inf|nan)\b/.exec(text.slice(i));
    if (word) {
      i += word[0].length;
      return { None: null, True: true, False: false, inf: Infinity, "-inf": -Infinity, nan: NaN }[word[0]];
    }
    const num = /^[-+]?(\d[\d_]*)?(\.\d+)?([eE][-+]?\d+)?/.exec(text.slice(i));
    if (num && num[0] && /\d/.test(num[0])) {
      i += num[0].length;
      return Number(num[0].replace(/_/g, ""));
    }
    return fail(`unexpected ${JSON.stringify(c)}`);
  };
  const sequence = (close: string): unknown[] => {
    i++;
    const out: unknown[] = [];
    for (;;) {
      ws();
      if (text[i] === close) {
        i++;
        return out;
      }
      out.push(value());
      ws();
      if (text[i] === ",") i++;
      else if (text[i] !== close) fail(`expected , or ${close}`);
    }
  };
  const dict = (): Record<string, unknown> => {
    i++;
    const out: Record<string, unknown> = {};
    for (;;) {
      ws();
      if (text[i] === "}") {
        i++;
        return out;
      }
      const key = value();
      ws();
      if (text[i] !== ":") fail("expected :");
      i++;
      out[String(key)] = value();
      ws();
      if (text[i] === ",") i++;
      else if (text[i] !== "}") fail("expected , or }");
    }
  };
  const str = (): string => {
    const quote = text[i]!;
    i++;
    let out = "";
    while (i < text.length && text[i] !== quote) {
      if (text[i] === "\\") {
        const n = text[i + 1];
        const map: Record<string, string> = { n: "\n", t: "\t", r: "\r", "\\": "\\", "'": "'", '"': '"', "0": "\0" };
        if (n === "x" || n === "u") {
          const len = n === "x" ? 2 : 4;
          out += String.fromCharCode(Number.parseInt(text.slice(i + 2, i + 2 + len), 16));
          i += 2 + len;
          continue;
        }
        out += map[n ?? ""] ?? `\\${n ?? ""}`;
        i += 2;
        continue;
      }
      out += text[i];
      i++;
    }
    if (text[i] !== quote) fail("unterminated string");
    i++;
    return out;
  };
  const v = value();
  ws();
  if (i !== text.length) fail("trailing text");
  return v;
}
