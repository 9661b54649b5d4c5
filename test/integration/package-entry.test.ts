// What `import "celeriac"` loads, as a producer's process sees it: the built
// package resolved by its own name (dist, as npm test builds it), without the
// dashboard's node:http and prom-client, which come with "celeriac/dashboard".
// Then the package as a user gets it: `npm pack`, unpacked into a fresh
// project with its dependencies and none of its optional packages but
// better-sqlite3, compiled with tsc (no skipLibCheck), required from
// CommonJS, and a task run on the embedded default.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { ROOT, startProcess } from "../support/processes.js";

const run = promisify(execFile);

// prom-client is CommonJS, so once loaded it sits in the require cache, as do
// the optional packages (ioredis, amqplib, better-sqlite3: loaded when a URL
// needs them, never on import); node:http shows in the list of built-in
// modules the process loaded.
const probe = (specifier: string) => `
await import(${JSON.stringify(specifier)});
const { createRequire } = await import("node:module");
const cache = Object.keys(createRequire(import.meta.url).cache);
console.log(JSON.stringify({
  promClient: cache.some((k) => k.includes("/node_modules/prom-client/")),
  http: process.moduleLoadList.includes("NativeModule http"),
  optional: ["ioredis", "amqplib", "better-sqlite3"].filter((p) => cache.some((k) => k.includes("/node_modules/" + p + "/"))),
}));`;

interface Loaded {
  promClient: boolean;
  http: boolean;
  optional: string[];
}

async function loaded(specifier: string): Promise<Loaded> {
  const p = startProcess(process.execPath, ["--input-type=module", "-e", probe(specifier)]);
  const code = await p.exited;
  assert.equal(code, 0, p.output());
  return JSON.parse(p.output().trim().split("\n").at(-1)!) as Loaded;
}

describe("package entry points", () => {
  it('"celeriac" loads neither prom-client nor node:http, nor any optional package', async () => {
    assert.deepEqual(await loaded("celeriac"), { promClient: false, http: false, optional: [] });
  });

  it('"celeriac/dashboard" brings both, and no optional package either', async () => {
    assert.deepEqual(await loaded("celeriac/dashboard"), { promClient: true, http: true, optional: [] });
  });
});

describe("the packed tarball in a fresh project", () => {
  let dir = "";
  // No CELERIAC_* settings from the environment: the project runs on the defaults.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("CELERIAC_")));

  before(async () => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), "celeriac-pack-")));
    // dist is built already (npm test builds it first): no prepack build here.
    const { stdout } = await run("npm", ["pack", "--ignore-scripts", "--pack-destination", dir], { cwd: ROOT, env });
    const tarball = join(dir, stdout.trim().split("\n").at(-1)!);
    // skipLibCheck stays off, so every declaration file of celeriac and its
    // dependencies is checked; skipDefaultLibCheck leaves out only TypeScript's own
    // lib.*.d.ts, two thirds of tsc's time here and nothing celeriac ships.
    const project: Record<string, string> = {
      "package.json": JSON.stringify({ name: "user-project", private: true, type: "module" }),
      "tsconfig.json": JSON.stringify({
        compilerOptions: {
          module: "nodenext",
          moduleResolution: "nodenext",
          target: "es2022",
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          skipDefaultLibCheck: true,
          types: ["node"],
        },
        files: ["check.ts"],
      }),
      "check.ts": `import { Celeriac, chain, PackageNotInstalled } from "celeriac";
import { Dashboard } from "celeriac/dashboard";
const app = new Celeriac({ name: "proj", broker: "sqlite://./x.db" });
const add = app.task("proj.add", (x: number, y: number) => x + y);
add.delay(2, 3);
chain(add.s(2, 2), add.s(4));
// @ts-expect-error: a string where the task takes a number
add.delay("2", 3);
// @ts-expect-error: a misspelt option
add.applyAsync([2, 3], { coutndown: 10 });
export { Dashboard, PackageNotInstalled };
`,
      "tasks.cjs": `const { Celeriac } = require("celeriac");
const app = new Celeriac({ name: "proj" });
const add = app.task("proj.add", (x, y) => x + y);
module.exports = { app, add };
`,
      "producer.cjs": `const { createBroker, PackageNotInstalled } = require("celeriac");
const { Dashboard } = require("celeriac/dashboard");
const { app, add } = require("./tasks.cjs");
(async () => {
  const missing = await createBroker("redis://127.0.0.1:6379/0").catch((err) => err);
  const result = await add.delay(2, 3).get({ timeout: 20000 });
  const xz = await add.applyAsync([1, 1], { compression: "xz" }).get({ timeout: 20000 }).catch((err) => err);
  await app.close();
  console.log(JSON.stringify({ result, dashboard: typeof Dashboard, missing: { typed: missing instanceof PackageNotInstalled, message: String(missing.message) }, xz: { name: xz.name, message: String(xz.message) } }));
})().catch((err) => { console.error(err); process.exit(1); });
`,
    };
    for (const [file, text] of Object.entries(project)) writeFileSync(join(dir, file), text);
    // Installed as npm would lay it out, without the network: the tarball unpacked
    // as node_modules/celeriac, and each package it depends on linked from the
    // repo's node_modules (what npm install would fetch). Of the optional ones only
    // better-sqlite3, for the embedded default: no tsx, and no ioredis or amqplib
    // (optional peers); @types/node as the project's own.
    const modules = join(dir, "node_modules");
    mkdirSync(modules);
    await run("tar", ["xzf", tarball, "-C", modules]);
    renameSync(join(modules, "package"), join(modules, "celeriac"));
    const manifest = JSON.parse(readFileSync(join(modules, "celeriac/package.json"), "utf8")) as { dependencies: Record<string, string> };
    for (const name of [...Object.keys(manifest.dependencies), "better-sqlite3", "@types/node"]) {
      mkdirSync(dirname(join(modules, name)), { recursive: true });
      symlinkSync(join(ROOT, "node_modules", name), join(modules, name));
    }
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it("carries what it reads at run time: the Redis scripts and the dashboard's page", () => {
    const pkg = join(dir, "node_modules/celeriac/dist");
    for (const file of ["redis/scripts/publish-direct.lua", "dashboard/assets/index.html", "dashboard/assets/app.js", "dashboard/assets/login.html"])
      assert.ok(existsSync(join(pkg, file)), `${file} is in the package`);
  });

  it("an ES module in TypeScript compiles against it with tsc, without skipLibCheck, and its type errors are caught", async () => {
    const tsc = join(ROOT, "node_modules/typescript/bin/tsc");
    const r = await run(process.execPath, [tsc, "-p", dir], { cwd: dir }).then(
      () => ({ code: 0, stdout: "" }),
      (err: { code: unknown; stdout: string }) => err,
    );
    assert.deepEqual({ code: r.code, stdout: r.stdout }, { code: 0, stdout: "" }, "tsc exits 0 and reports nothing");
  });

  it("a CommonJS worker and producer (require) run a task on the embedded default; redis:// without ioredis and xz without lzma-native say what to install", async () => {
    const worker = startProcess(
      process.execPath,
      [join(dir, "node_modules/celeriac/bin/celeriac.js"), "-A", "./tasks.cjs", "worker", "-P", "solo", "-l", "info"],
      { cwd: dir, env },
    );
    await worker.waitFor(/ ready: /, 20_000);
    assert.ok(worker.output().includes(`broker sqlite://./celeriac.db (${join(dir, "celeriac.db")})`), worker.output());
    const producer = startProcess(process.execPath, ["producer.cjs"], { cwd: dir, env });
    assert.equal(await producer.exited, 0, producer.output());
    const out = JSON.parse(producer.output().trim().split("\n").at(-1)!) as {
      result: number;
      dashboard: string;
      missing: { typed: boolean; message: string };
      xz: { name: string; message: string };
    };
    assert.deepEqual(out, {
      result: 5,
      dashboard: "function",
      missing: { typed: true, message: "redis:// URLs need the npm package ioredis, which is not installed: npm install ioredis" },
      xz: {
        name: "EncodeError",
        message:
          "application/x-lzma (xz) bodies are sent with the npm package lzma-native, which is not installed: npm install lzma-native (or choose zlib, brotli or bzip2 to send)",
      },
    });
    assert.equal(await worker.stop(), 0, worker.output());
  });

  it('where Node cannot require() an ES module, require("celeriac") says how to import() it', async () => {
    // Node 20.19+ can unless told not to; an older Node 20 cannot at all.
    const canRequireEsm = (process.features as { require_module?: boolean }).require_module === true;
    const flags = canRequireEsm ? ["--no-experimental-require-module"] : [];
    const r = await run(process.execPath, [...flags, "-e", 'require("celeriac")'], { cwd: dir, env }).then(
      () => ({ stderr: "exited 0" }),
      (err: { stderr: string }) => err,
    );
    assert.match(r.stderr, /celeriac is an ES module and this Node \(v[\d.]+\) does not require\(\) ES modules/);
    assert.match(r.stderr, /const \{ \.\.\. \} = await import\("celeriac"\)/);
  });

  it("celeriac report names the optional packages it finds and those it does not", async () => {
    const { stdout } = await run(process.execPath, [join(dir, "node_modules/celeriac/bin/celeriac.js"), "-A", "./tasks.cjs", "report"], { cwd: dir, env });
    const sqlite = (JSON.parse(readFileSync(join(ROOT, "node_modules/better-sqlite3/package.json"), "utf8")) as { version: string }).version;
    assert.ok(
      stdout.includes(`packages -> better-sqlite3:${sqlite} tsx:not installed lzma-native:not installed ioredis:not installed amqplib:not installed\n`),
      stdout,
    );
  });
});
