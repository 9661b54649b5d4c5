// The dashboard's page: one HTML file, its CSS and its script, plain files in
// ./assets (shipped with the package under src/), read once at startup.
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

function assetsDir(): string {
  // From src/ (tsx) the assets sit next to this file; from dist/ they are in the shipped src/.
  for (const rel of ["./assets/", "../../src/dashboard/assets/"]) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(`${dir}index.html`)) return dir;
  }
  throw new Error("the dashboard's assets (src/dashboard/assets) are missing from this installation");
}

const dir = assetsDir();
const read = (name: string) => readFileSync(`${dir}${name}`, "utf8");

export const PAGE_HTML = read("index.html");
export const PAGE_CSS = read("app.css");
export const PAGE_JS = read("app.js");
export const LOGIN_HTML = read("login.html");
