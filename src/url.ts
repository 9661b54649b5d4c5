// URL helpers. Every URL that reaches a log line or an error goes through
// maskUrl first, so a password never leaves the process.
import { isAbsolute, resolve } from "node:path";

/** Where a URL starts: its scheme and "://". */
const URL_START = /[a-z][a-z0-9+.-]*:\/\//gi;

/** What a URL's first word looks like when it ends at host[:port] (maybe with punctuation after it). */
const HOST_PORT = /^(\[[0-9a-f:.]*\]|[^:\s[\]]*)(:\d{1,5})?[:,;.)\]]*$/i;

/**
 * Masks the password of every URL in `text` (a URL, a `;`-separated failover
 * list, or a message that quotes URLs): `redis://user:pw@host` becomes
 * `redis://user:***@host` (or another `mask`: inspect conf uses Celery's eight stars).
 *
 * A password may hold an unencoded `@`, `/`, `:`, `?` or `#`, so the userinfo
 * cannot be found the way a URL parser finds it (the authority ending at the
 * first `/`): it is everything up to the LAST `@` of the URL, and only the
 * username, before the first `:`, is kept. A URL runs to the start of the
 * next URL, or to whitespace unless what comes before the whitespace is an
 * unfinished `user:pass` rather than `host:port` (a password may hold a space).
 * When in doubt this masks too much, never too little.
 */
export function maskUrl(text: string, mask = "***"): string {
  const starts = [...text.matchAll(URL_START)];
  if (!starts.length) return text;
  let out = text.slice(0, starts[0]!.index);
  starts.forEach((m, i) => {
    const from = m.index! + m[0].length;
    const to = i + 1 < starts.length ? starts[i + 1]!.index! : text.length;
    out += m[0] + maskUserinfo(text.slice(from, to), mask);
  });
  return out;
}

/** `rest` is what follows "://" up to the next URL. */
function maskUserinfo(rest: string, mask: string): string {
  const at = userinfoEnd(rest);
  if (at < 0) return rest;
  const colon = rest.indexOf(":");
  // No colon before the "@": a username alone, which is no secret.
  if (colon < 0 || colon > at) return rest;
  return `${rest.slice(0, colon)}:${mask}${rest.slice(at)}`;
}

/** The index of the "@" that ends the userinfo, or -1 when there is none. */
function userinfoEnd(rest: string): number {
  let wordStart = 0;
  for (;;) {
    const ws = rest.slice(wordStart).search(/\s/);
    const wordEnd = ws < 0 ? rest.length : wordStart + ws;
    const at = rest.lastIndexOf("@", wordEnd - 1);
    if (at >= wordStart) return at;
    const sofar = rest.slice(0, wordEnd);
    const unfinished = sofar.includes(":") && !sofar.includes("/") && !HOST_PORT.test(sofar);
    if (wordEnd === rest.length || rest[wordEnd] === "\n" || !unfinished) return -1;
    wordStart = wordEnd + 1;
  }
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

/**
 * A URL as the worker's log shows it: masked, and a relative sqlite:// file
 * followed by the absolute path it resolves to (from the process's working
 * directory, so two processes started in different folders do not silently
 * use two files).
 */
export function describeUrl(url: string): string {
  const shown = maskUrl(url);
  if (schemeOf(url) !== "sqlite") return shown;
  const path = sqlitePath(url);
  return path === ":memory:" || isAbsolute(path) ? shown : `${shown} (${resolve(path)})`;
}
