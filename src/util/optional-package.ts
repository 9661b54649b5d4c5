// The packages behind one URL scheme or feature (ioredis, amqplib,
// better-sqlite3, tsx, lzma-native) are optional: a deployment installs what its URLs use.
// They are loaded by the module that needs them, when that module is first
// loaded, and their absence says which package to install instead of Node's
// bare "Cannot find module".
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { PackageNotInstalled } from "../errors.js";

const require = createRequire(import.meta.url);

/** Node's not-found error for `pkg` itself (or a file of it), not for something it requires. */
function isMissing(err: unknown, pkg: string): boolean {
  const { code, message } = err as NodeJS.ErrnoException;
  if (code !== "MODULE_NOT_FOUND" && code !== "ERR_MODULE_NOT_FOUND") return false;
  return message.includes(`'${pkg}'`) || message.includes(`'${pkg}/`);
}

function notInstalled(err: unknown, pkg: string, neededBy: string): unknown {
  if (!isMissing(err, pkg)) return err;
  return new PackageNotInstalled(`${neededBy} need the npm package ${pkg}, which is not installed: npm install ${pkg}`, { cause: err });
}

/**
 * require() of a CommonJS package (or a file in it, "amqplib/lib/defs.js").
 * `neededBy` says what needs it, as the subject of "… need the npm package".
 */
export function requireOptional<T>(specifier: string, neededBy: string): T {
  try {
    return require(specifier) as T;
  } catch (err) {
    throw notInstalled(err, packageOf(specifier), neededBy);
  }
}

/** import() of an ES module of an optional package, as requireOptional. */
export async function importOptional<T>(specifier: string, neededBy: string): Promise<T> {
  try {
    return (await import(specifier)) as T;
  } catch (err) {
    throw notInstalled(err, packageOf(specifier), neededBy);
  }
}

/** The packages a deployment adds for what it uses (see the README's "What to install"). */
export const OPTIONAL_PACKAGES = ["better-sqlite3", "tsx", "lzma-native", "ioredis", "amqplib"];

/** The version of `pkg` that requireOptional would load, or null when it is not installed. */
export function installedVersion(pkg: string): string | null {
  // Its package.json found along the same node_modules folders require() searches:
  // require.resolve("pkg/package.json") fails for a package whose exports leave it out.
  for (const dir of require.resolve.paths(pkg) ?? []) {
    try {
      return (JSON.parse(readFileSync(join(dir, pkg, "package.json"), "utf8")) as { version: string }).version;
    } catch {
      // Not in this folder: the next one up.
    }
  }
  return null;
}

function packageOf(specifier: string): string {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!;
}
