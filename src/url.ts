// URL helpers. Every URL that reaches a log line or an error goes through
// maskUrl first, so a password never leaves the process.

export function maskUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)([^@/]*)@/i, (_m, scheme: string, auth: string) => {
    const colon = auth.indexOf(":");
    if (colon < 0) return `${scheme}${auth}@`;
    return `${scheme}${auth.slice(0, colon)}:***@`;
  });
}

export function schemeOf(url: string): string {
  const m = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url);
  return m ? m[1]!.toLowerCase() : "";
}

/** The file path of a sqlite:// URL: sqlite://./x.db, sqlite:///abs/x.db, sqlite://x.db. */
export function sqlitePath(url: string): string {
  const rest = url.replace(/^sqlite:\/\//i, "");
  if (rest === "" || rest === ":memory:") return ":memory:";
  return rest.split("?")[0]!;
}
