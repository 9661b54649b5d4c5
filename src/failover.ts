// Failover URL lists, as kombu's Connection reads them: "redis://h1;redis://h2"
// (or a list in code) names alternative servers of one broker, and the
// connection moves to the next one by the failover strategy when the one it
// uses fails (kombu's Connection.maybe_switch_next, Celery's
// broker_failover_strategy).
import { ConfigurationError } from "./errors.js";
import { maskUrl, schemeOf } from "./url.js";

/**
 * kombu's failover_strategies by name ("round-robin", the default: each in
 * turn; "shuffle": each once per round, in a fresh random order each round),
 * or a function that yields the URL to use next, forever, as kombu's own
 * strategies do (the first URL it yields is the first one used).
 */
export type FailoverStrategy = "round-robin" | "shuffle" | ((urls: readonly string[]) => Iterator<string>);

/** Where one URL of a list ends: at a ";" followed by the next URL's scheme (a password may hold a ";"). */
const LIST_SEPARATOR = /;(?=\s*[a-z][a-z0-9+.-]*:\/\/)/i;

/**
 * The URLs of a failover list: a ";"-separated string or an array. Empty
 * entries and mixed kinds of server (redis with amqp) are a ConfigurationError.
 */
export function splitUrlList(urls: string | readonly string[]): string[] {
  const list = (typeof urls === "string" ? urls.split(LIST_SEPARATOR) : [...urls]).map((u) => (typeof u === "string" ? u.trim() : u));
  if (!list.length || list.some((u) => typeof u !== "string" || u === "")) {
    throw new ConfigurationError(`an empty URL in the list ${maskUrl(String(urls))}`);
  }
  const family = (u: string) => schemeOf(u).replace(/^py/, "").replace(/s$/, "");
  const first = family(list[0]!);
  const other = list.find((u) => family(u) !== first);
  if (other) throw new ConfigurationError(`a failover list names one kind of server: ${maskUrl(list[0]!)} and ${maskUrl(other)} differ`);
  return list;
}

/** A list given in code, as one setting string: the URLs joined with ";" (what the brokers read). */
export function joinUrlList(urls: string | readonly string[]): string {
  return typeof urls === "string" ? urls : splitUrlList(urls).join(";");
}

function* roundRobin(urls: readonly string[]): Iterator<string> {
  for (;;) yield* urls;
}

/** kombu's shufflecycle. */
function* shuffle(urls: readonly string[]): Iterator<string> {
  const order = [...urls];
  for (;;) {
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    yield* order;
  }
}

const STRATEGIES: Record<string, (urls: readonly string[]) => Iterator<string>> = { "round-robin": roundRobin, shuffle };

/**
 * The URL in use among a list's, shared by every connection of one broker or
 * backend: when several of them fail at once (the server went away), the
 * first to report it moves the cursor on and the others follow it there,
 * instead of each stepping on in turn and skipping servers.
 */
export class FailoverCursor {
  readonly urls: readonly string[];
  private readonly next: Iterator<string>;
  private currentUrl: string;

  constructor(urls: string | readonly string[], strategy: FailoverStrategy = "round-robin") {
    this.urls = splitUrlList(urls);
    const make = typeof strategy === "function" ? strategy : STRATEGIES[strategy];
    if (!make)
      throw new ConfigurationError(
        `unknown broker failover strategy ${JSON.stringify(strategy)} (known: ${Object.keys(STRATEGIES).join(", ")}, or a function)`,
      );
    this.next = make(this.urls);
    this.currentUrl = this.step();
  }

  /** The URL to connect to now. */
  get current(): string {
    return this.currentUrl;
  }

  /** Whether there is anywhere else to go. */
  get alternatives(): boolean {
    return this.urls.length > 1;
  }

  /** `failed` could not be used: the URL to try next (the current one, if another connection moved on already). */
  failed(failed: string): string {
    if (failed === this.currentUrl && this.alternatives) this.currentUrl = this.step();
    return this.currentUrl;
  }

  private step(): string {
    const r = this.next.next();
    if (r.done || typeof r.value !== "string" || !this.urls.includes(r.value)) {
      throw new ConfigurationError(`the broker failover strategy must yield URLs of the list, forever; it gave ${r.done ? "none" : maskUrl(String(r.value))}`);
    }
    return r.value;
  }
}
