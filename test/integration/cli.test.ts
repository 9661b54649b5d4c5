// The `celeriac` command as a user runs it: the bin, a compiled .js app
// module, call / result / purge, --help, and clear errors for bad input.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, describe, it } from "node:test";
import { ROOT, startWorker } from "../support/processes.js";

const run = promisify(execFile);
const BIN = join(ROOT, "bin/celeriac.js");
const dir = mkdtempSync(join(tmpdir(), "celeriac-cli-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("celeriac CLI", () => {
  const url = `sqlite://${join(dir, "cli.db")}`;
  const env = { ...process.env, CELERIAC_BROKER_URL: url, CELERIAC_RESULT_BACKEND: url };
  // A plain ESM JavaScript app module, as a user with a build step would have.
  const appModule = join(dir, "app.mjs");
  writeFileSync(
    appModule,
    `import { Celeriac } from ${JSON.stringify(join(ROOT, "dist/index.js"))};\n` +
      `export const app = new Celeriac({ name: "cli" });\n` +
      `app.task({ name: "cli.mul", kwargsAsObject: true }, (x, y, kw) => x * y * (kw?.scale ?? 1));\n`,
  );

  it("call prints an id; a worker on a .js module runs it; result --wait shows it", async () => {
    const w = await startWorker(appModule, ["-c", "1", "-l", "info"], { CELERIAC_BROKER_URL: url, CELERIAC_RESULT_BACKEND: url });
    const { stdout: id } = await run(process.execPath, [BIN, "-A", appModule, "call", "cli.mul", "--args", "[6, 7]", "--kwargs", '{"scale": 2}'], { env });
    assert.match(id.trim(), /^[0-9a-f-]{36}$/);
    const { stdout } = await run(process.execPath, [BIN, "-A", appModule, "result", id.trim(), "--wait", "--timeout", "20"], { env });
    const shown = JSON.parse(stdout) as { state: string; result: number };
    assert.equal(shown.state, "SUCCESS");
    assert.equal(shown.result, 84);
    assert.equal(await w.stop(), 0);
  });

  it("purge empties a queue and says how many", async () => {
    for (let i = 0; i < 3; i++) await run(process.execPath, [BIN, "call", "cli.mul", "--args", "[1, 1]", "--queue", "spare"], { env });
    const { stdout } = await run(process.execPath, [BIN, "purge", "-f", "-Q", "spare"], { env });
    assert.match(stdout, /purged 3 messages from spare/);
  });

  it("--help for each command; bad input gets a clear error and exit code 2", async () => {
    for (const cmd of ["worker", "call", "result", "purge", "inspect", "control", "status", "beat"]) {
      const { stdout } = await run(process.execPath, [BIN, cmd, "--help"], { env });
      assert.match(stdout, new RegExp(`Usage: celeriac ${cmd}`));
    }
    await assert.rejects(run(process.execPath, [BIN, "call", "x", "--args", "{oops"], { env }), (e: { code: number; stderr: string }) => {
      assert.equal(e.code, 2);
      assert.match(e.stderr, /--args is not valid JSON/);
      return true;
    });
    await assert.rejects(run(process.execPath, [BIN, "-b", "nats://user:secret@localhost", "purge"], { env }), (e: { stderr: string }) => {
      assert.match(e.stderr, /unsupported broker URL nats:\/\/user:\*\*\*@localhost/);
      assert.doesNotMatch(e.stderr, /secret/);
      return true;
    });
  });
});
