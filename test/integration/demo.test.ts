// The README's demo command runs on the embedded default and prints what it promises.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { it } from "node:test";
import { ROOT } from "../support/processes.js";

it("npm run demo: starts a worker on ./celeriac.db, shows results and states, exits 0", async () => {
  const cwd = mkdtempSync(join(tmpdir(), "celeriac-demo-"));
  try {
    const env = { ...process.env };
    delete env.CELERIAC_BROKER_URL;
    delete env.CELERIAC_RESULT_BACKEND;
    const { stdout } = await promisify(execFile)(process.execPath, ["--import", import.meta.resolve("tsx"), join(ROOT, "examples/demo.ts")], {
      cwd,
      env,
      timeout: 60_000,
    });
    assert.match(stdout, /broker and results: sqlite:\/\/\.\/celeriac\.db/);
    assert.match(stdout, /add\(2, 3\)\s+-> SUCCESS\s+5\n/);
    assert.match(stdout, /add\(10, 20\) with countdown 1s\s+-> SUCCESS\s+30\n/);
    assert.match(stdout, /greet.*-> SUCCESS\s+"Hi, Ada!"/);
    assert.match(stdout, /divide\(1, 0\)\s+-> FAILURE\s+RangeError: division by zero/);
    assert.match(stdout, /flaky\('sync'\)\s+-> SUCCESS\s+"sync done on attempt 2"/);
    assert.match(stdout, /worker stopped \(exit 0\)/);
    assert.ok(existsSync(join(cwd, "celeriac.db")), "the embedded store is ./celeriac.db");
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
});
