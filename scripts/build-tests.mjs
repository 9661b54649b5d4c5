#!/usr/bin/env node
// Type-checks the whole project (src, test, examples, bench) and, in the same
// tsc run, compiles it to .test-build/, with the files read at run time (the
// Redis Lua scripts, the dashboard's and the examples' pages) beside their modules. `npm test` runs
// the processes its tests start (workers, CLIs, pool children) from there,
// with plain node: loading TypeScript through tsx costs each process about
// 0.7 s of CPU, and a run starts hundreds (see test/support/processes.ts).
import { execFileSync } from "node:child_process";
import { cpSync, readdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const out = join(root, ".test-build");
rmSync(out, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
try {
  execFileSync(process.execPath, [tsc, "-p", "tsconfig.json", "--outDir", out, "--sourceMap", "false", "--declaration", "false"], {
    cwd: root,
    stdio: "inherit",
  });
} catch {
  process.exit(1); // tsc printed the errors
}
// Files read at run time beside a module: src's (Lua scripts, the dashboard's page) and the examples' pages.
execFileSync(process.execPath, [join(root, "scripts/copy-assets.mjs"), join(out, "src")], { stdio: "inherit" });
for (const file of readdirSync(join(root, "examples"), { recursive: true, encoding: "utf8" })) {
  if (file.endsWith(".html")) cpSync(join(root, "examples", file), join(out, "examples", file));
}
