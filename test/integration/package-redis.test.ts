// The package as npm publishes it, without its src/: the Redis Lua scripts
// must come from dist/ (the build copies them there). A worker started from the
// packed bin takes a countdown task through the schedule (fetch.lua), runs it
// and stores its result (store-result.lua). Needs the build (npm test runs it).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, describe, it } from "node:test";
import { ROOT, startProcess } from "../support/processes.js";
import { redisAvailable, redisUrl } from "../support/redis.js";

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), "celeriac-pack-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("packed package on Redis", async () => {
  const available = await redisAvailable();

  it("ships dist/redis/scripts/*.lua and runs from dist/ alone", { skip: !available && "no Redis" }, async () => {
    assert.ok(existsSync(join(ROOT, "dist/redis/scripts/fetch.lua")), "dist/ is not built (npm run build)");
    // --ignore-scripts: pack the dist/ built for this run instead of building again.
    await run("npm", ["pack", "--ignore-scripts", "--silent", "--pack-destination", dir], { cwd: ROOT });
    const tarball = readdirSync(dir).find((f) => f.endsWith(".tgz"))!;
    await run("tar", ["xzf", join(dir, tarball), "-C", dir]);
    const pkg = join(dir, "package");
    const shipped = readdirSync(join(pkg, "dist/redis/scripts")).filter((f) => f.endsWith(".lua"));
    assert.deepEqual(shipped.sort(), readdirSync(join(ROOT, "src/redis/scripts")).sort());
    rmSync(join(pkg, "src"), { recursive: true, force: true });
    symlinkSync(join(ROOT, "node_modules"), join(pkg, "node_modules"));

    const appModule = join(pkg, "app.mjs");
    writeFileSync(
      appModule,
      `import { Celeriac } from ${JSON.stringify(join(pkg, "dist/index.js"))};\n` +
        `export const app = new Celeriac({ name: "pack" });\n` +
        `app.task("pack.add", (x, y) => x + y);\n`,
    );
    const url = redisUrl(5);
    const queue = `pack-${process.pid}-${Date.now()}`;
    const env = { CELERIAC_BROKER_URL: url, CELERIAC_RESULT_BACKEND: url };
    const bin = join(pkg, "bin/celeriac.js");
    const worker = startProcess(process.execPath, [bin, "-A", appModule, "worker", "-Q", queue, "-c", "1", "-l", "info"], { cwd: pkg, env });
    await worker.waitFor(/ ready: /, 30_000);
    const cli = { cwd: pkg, env: { ...process.env, ...env } };
    const { stdout: id } = await run(
      process.execPath,
      [bin, "-A", appModule, "call", "pack.add", "--args", "[2, 3]", "--queue", queue, "--countdown", "0.5"],
      cli,
    );
    const { stdout } = await run(process.execPath, [bin, "-A", appModule, "result", id.trim(), "--wait", "--timeout", "20"], cli);
    const shown = JSON.parse(stdout) as { state: string; result: number };
    assert.equal(shown.state, "SUCCESS");
    assert.equal(shown.result, 5);
    assert.equal(await worker.stop(), 0);
    assert.doesNotMatch(worker.output(), /missing from this installation/);
  });
});
