// Loads the module named by `-A` and finds the app in it: the export named
// `app` or `celery`, the default export, or any export that is an app.
// A .ts module is loaded through tsx, so users need no build step.
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { Celeriac } from "../app.js";
import { isApp } from "../app.js";
import { ConfigurationError } from "../errors.js";
import { importOptional } from "../util/optional-package.js";

let tsxRegistered = false;

async function ensureTypeScriptLoader(): Promise<void> {
  if (tsxRegistered) return;
  tsxRegistered = true;
  // Already running under tsx (e.g. `node --import tsx`): nothing to add.
  if (process.execArgv.some((a) => a.includes("tsx"))) return;
  const { register } = await importOptional<typeof import("tsx/esm/api")>("tsx/esm/api", "TypeScript app modules (.ts)");
  register();
}

export function moduleUrl(spec: string): string {
  return spec.startsWith("file:") ? spec : pathToFileURL(resolve(spec)).href;
}

export async function loadApp(spec: string): Promise<Celeriac> {
  if (/\.[mc]?tsx?$/.test(spec)) await ensureTypeScriptLoader();
  let mod: Record<string, unknown>;
  try {
    mod = (await import(moduleUrl(spec))) as Record<string, unknown>;
  } catch (err) {
    throw new ConfigurationError(`cannot load app module ${spec}: ${(err as Error).message}`, { cause: err });
  }
  for (const key of ["app", "celery", "default"]) if (isApp(mod[key])) return mod[key];
  for (const value of Object.values(mod)) if (isApp(value)) return value;
  throw new ConfigurationError(`module ${spec} exports no Celeriac app (export it as \`app\`)`);
}
