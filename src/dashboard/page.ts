// The dashboard's page: one HTML file, its CSS and its script, plain files in
// ./assets (shipped with the package under src/), read on first use.
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { ConfigurationError } from "../errors.js";

function assetsDir(): string {
  // From src/ (tsx) the assets sit next to this file; from dist/ they are in the shipped src/.
  for (const rel of ["./assets/", "../../src/dashboard/assets/"]) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(`${dir}index.html`)) return dir;
  }
  throw new ConfigurationError("the dashboard's assets (src/dashboard/assets) are missing from this installation");
}

export type AssetName = "index.html" | "app.css" | "app.js" | "login.html";

const cache = new Map<AssetName, string>();

export function asset(name: AssetName): string {
  let text = cache.get(name);
  if (text === undefined) {
    text = readFileSync(`${assetsDir()}${name}`, "utf8");
    cache.set(name, text);
  }
  return text;
}
