// tsc compiles TypeScript and copies nothing else: the files modules read at
// run time beside themselves (the Redis Lua scripts, src/redis/scripts.ts; the
// dashboard's page, src/dashboard/page.ts) are copied here to the same place
// under the output. Run after tsc by the build (to dist/) and by
// scripts/build-tests.mjs (to .test-build/src/).
//
//   node scripts/copy-assets.mjs [outDir]     default dist
import { cpSync, readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const from = join(root, "src");
const to = resolve(root, process.argv[2] ?? "dist");
let lua = 0;
for (const file of readdirSync(from, { recursive: true, encoding: "utf8" })) {
  const isAsset = file.endsWith(".lua") || /^dashboard[/\\]assets[/\\]/.test(file);
  if (!isAsset || !/\.\w+$/.test(file)) continue;
  cpSync(join(from, file), join(to, file));
  if (file.endsWith(".lua")) lua++;
}
if (!lua) throw new Error(`no .lua files found under ${from}`);
