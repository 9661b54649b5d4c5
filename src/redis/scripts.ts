// The Lua scripts of ./scripts/, one atomic transition each, read once per
// process. The build copies them beside the compiled code (scripts/copy-assets.mjs),
// so an installed package reads them from dist/ as the tests read them from src/.
import { readFileSync } from "node:fs";
import type { Redis } from "ioredis";
import { ConfigurationError } from "../errors.js";

const loaded = new Map<string, string>();

/** The text of scripts/<name>.lua. */
export function loadScript(name: string): string {
  let lua = loaded.get(name);
  if (lua === undefined) {
    const file = new URL(`./scripts/${name}.lua`, import.meta.url);
    try {
      lua = readFileSync(file, "utf8");
    } catch (err) {
      throw new ConfigurationError(`Redis script ${name}.lua is missing from this installation (${(err as Error).message})`);
    }
    loaded.set(name, lua);
  }
  return lua;
}

/**
 * Defines scripts/<name>.lua as the client's command `command` (EVALSHA, EVAL
 * when the server lacks it). Without numberOfKeys, each call passes its key count first.
 */
export function defineScript(client: Redis, command: string, name: string, numberOfKeys?: number): void {
  client.defineCommand(command, numberOfKeys === undefined ? { lua: loadScript(name) } : { numberOfKeys, lua: loadScript(name) });
}
