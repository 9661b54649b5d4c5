// Where `-A` points. Celery's `-A tasks` names a module without its file
// extension; here `-A tasks`, `-A ./tasks` and `-A src/app` find tasks.ts,
// tasks.js (and .mts/.mjs/.cts/.cjs) or a directory's index file.
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { ConfigurationError } from "../errors.js";

const EXTENSIONS = [".ts", ".js", ".mts", ".mjs", ".cts", ".cjs"];

const isFile = (path: string): boolean => existsSync(path) && statSync(path).isFile();

/** The absolute path of the app module `spec` names, or a ConfigurationError listing where it looked. */
export function resolveAppModule(spec: string): string {
  if (spec.startsWith("file:")) return spec;
  const base = resolve(spec);
  const candidates = [base, ...EXTENSIONS.map((e) => base + e), ...EXTENSIONS.map((e) => resolve(base, `index${e}`))];
  const found = candidates.find(isFile);
  if (found) return found;
  throw new ConfigurationError(
    `cannot find the app module ${JSON.stringify(spec)}: tried ${spec}, ${spec}{${EXTENSIONS.join(",")}} and ${spec}/index{${EXTENSIONS.join(",")}}`,
  );
}
