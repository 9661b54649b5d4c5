// A Python-style repr of arguments for the display-only `argsrepr` and
// `kwargsrepr` headers, so Celery's tools show familiar text.

function reprValue(v: unknown, depth: number): string {
  if (depth > 8) return "...";
  if (v === null || v === undefined) return "None";
  if (v === true) return "True";
  if (v === false) return "False";
  if (typeof v === "number") return Number.isFinite(v) ? String(v) : v > 0 ? "inf" : Number.isNaN(v) ? "nan" : "-inf";
  if (typeof v === "bigint") return String(v);
  if (typeof v === "string") return `'${v.replace(/\\/g, "\\\\").replace(/'/g, "\\'").replace(/\n/g, "\\n")}'`;
  if (Array.isArray(v)) return `[${v.map((x) => reprValue(x, depth + 1)).join(", ")}]`;
  if (v instanceof Date) return `'${v.toISOString()}'`;
  if (Buffer.isBuffer(v)) return `b'<${v.length} bytes>'`;
  if (typeof v === "object") {
    const parts = Object.entries(v as Record<string, unknown>).map(([k, x]) => `'${k}': ${reprValue(x, depth + 1)}`);
    return `{${parts.join(", ")}}`;
  }
  return String(v);
}

export function argsRepr(args: readonly unknown[], maxLength = 1024): string {
  const inner = args.map((a) => reprValue(a, 0)).join(", ");
  return truncate(args.length === 1 ? `(${inner},)` : `(${inner})`, maxLength);
}

export function kwargsRepr(kwargs: Record<string, unknown>, maxLength = 1024): string {
  return truncate(reprValue(kwargs, 0), maxLength);
}

export function repr(value: unknown, maxLength = 1024): string {
  return truncate(reprValue(value, 0), maxLength);
}

function truncate(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 3)}...` : s;
}
