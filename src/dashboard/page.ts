// The dashboard's page: one HTML file, its CSS and its script, plain files in
// ./assets (copied beside the compiled module by the build), read on first use.
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { ConfigurationError } from "../errors.js";

function assetsDir(): string {
  // Beside this file: in src/ (tsx), and in dist/ (the build copies them, scripts/copy-assets.mjs).
  const dir = fileURLToPath(new URL("./assets/", import.meta.url));
  if (!existsSync(`${dir}index.html`)) throw new ConfigurationError(`the dashboard's assets are missing from this installation (${dir})`);
  return dir;
}

export type AssetName = "index.html" | "app.css" | "app.js" | "task.js" | "ops.js" | "beat.js" | "bulk.js" | "login.html";

const cache = new Map<AssetName, string>();

export function asset(name: AssetName): string {
  let text = cache.get(name);
  if (text === undefined) {
    text = readFileSync(`${assetsDir()}${name}`, "utf8");
    cache.set(name, text);
  }
  return text;
}
