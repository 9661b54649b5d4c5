// The app: task registry, naming, configuration, routing.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Celeriac, DuplicateTaskName, matchRoutes, type CeleriacOptions } from "../../src/index.js";
import { suggestSetting } from "../../src/config.js";

describe("app", () => {
  it("names tasks by the given name, or <app name>.<function name>", () => {
    const app = new Celeriac({ name: "proj", broker: "memory://", backend: "memory://" });
    const a = app.task("custom.name", () => 1);
    const b = app.task(function multiply(x: number, y: number) {
      return x * y;
    });
    const c = app.task({ name: "opts.name", maxRetries: 5 }, () => 2);
    assert.equal(a.name, "custom.name");
    assert.equal(b.name, "proj.multiply");
    assert.equal(c.name, "opts.name");
    assert.equal(c.options.maxRetries, 5);
    // celery.map, celery.starmap and celery.chunks are built in (as in Celery), so Python-sent canvas messages run here.
    assert.deepEqual(
      [...app.tasks.keys()].filter((n) => !n.startsWith("celery.")),
      ["custom.name", "proj.multiply", "opts.name"],
    );
  });

  it("makes task ids that are uuid4s beginning with the app's taskIdPrefix", () => {
    const app = new Celeriac({ name: "proj", broker: "memory://", backend: "memory://" });
    const ids = [app.sendTask("a.b").id, app.sendTask("a.b").id];
    for (const id of ids) {
      assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.ok(id.startsWith(app.taskIdPrefix));
    }
    assert.notEqual(ids[0], ids[1]);
    assert.notEqual(new Celeriac({ broker: "memory://" }).taskIdPrefix, app.taskIdPrefix);
    assert.equal(app.sendTask("a.b", [], {}, { taskId: "mine" }).id, "mine");
  });

  it("refuses two tasks under one name", () => {
    const app = new Celeriac({ name: "proj", broker: "memory://" });
    app.task("dup", () => 1);
    assert.throws(() => app.task("dup", () => 2), DuplicateTaskName);
  });

  it("defaults both URLs to the embedded sqlite file", () => {
    const saved = [process.env.CELERIAC_BROKER_URL, process.env.CELERIAC_RESULT_BACKEND];
    delete process.env.CELERIAC_BROKER_URL;
    delete process.env.CELERIAC_RESULT_BACKEND;
    try {
      const app = new Celeriac();
      assert.equal(app.settings.brokerUrl, "sqlite://./celeriac.db");
      assert.equal(app.settings.resultBackend, "sqlite://./celeriac.db");
    } finally {
      if (saved[0] !== undefined) process.env.CELERIAC_BROKER_URL = saved[0];
      if (saved[1] !== undefined) process.env.CELERIAC_RESULT_BACKEND = saved[1];
    }
  });

  it("reads settings from the constructor, configFromObject (Celery's old names too) and CELERIAC_* env", () => {
    process.env.CELERIAC_WORKER_PREFETCH_MULTIPLIER = "7";
    process.env.CELERIAC_ACCEPT_CONTENT = "json,msgpack";
    try {
      const app = new Celeriac({ name: "p", broker: "memory://x", taskSerializer: "msgpack", resultExpires: 60 });
      app.configFromObject({
        default: { CELERY_MESSAGE_COMPRESSION: "zlib", CELERYD_MAX_TASKS_PER_CHILD: 40, task_acks_late: true, timezone: "Asia/Shanghai" },
      });
      const s = app.settings;
      assert.equal(s.brokerUrl, "memory://x");
      assert.equal(s.taskSerializer, "msgpack");
      assert.equal(s.resultExpires, 60);
      assert.equal(s.taskCompression, "zlib");
      assert.equal(s.workerMaxTasksPerChild, 40);
      assert.equal(s.taskAcksLate, true);
      assert.equal(s.timezone, "Asia/Shanghai");
      assert.equal(s.workerPrefetchMultiplier, 7);
      assert.deepEqual(s.acceptContent, ["json", "msgpack"]);
    } finally {
      delete process.env.CELERIAC_WORKER_PREFETCH_MULTIPLIER;
      delete process.env.CELERIAC_ACCEPT_CONTENT;
    }
  });

  it("reports unknown settings instead of ignoring them silently", () => {
    // An untyped source (a config object built at run time) can still carry a typo.
    const fromFile: Record<string, unknown> = { name: "p", broker: "memory://", taskSerialiser: "json" };
    const app = new Celeriac(fromFile as CeleriacOptions);
    app.configFromObject({ CELERY_NOT_A_THING: 1 });
    assert.deepEqual(app.unknownSettings, ["taskSerialiser", "CELERY_NOT_A_THING"]);
  });

  it("suggests the setting an unknown key most likely meant, spelt as the key was", () => {
    assert.equal(suggestSetting("brokr"), "broker");
    assert.equal(suggestSetting("taskSerialiser"), "taskSerializer");
    assert.equal(suggestSetting("task_serialiser"), "task_serializer");
    assert.equal(suggestSetting("CELERY_TASK_SERIALISER"), "TASK_SERIALIZER");
    assert.equal(suggestSetting("CELERIAC_BROKR_URL"), "CELERIAC_BROKER_URL");
    assert.equal(suggestSetting("CELERIAC_WORKER_CONCURENCY"), "CELERIAC_WORKER_CONCURRENCY");
    assert.equal(suggestSetting("somethingElseEntirely"), null);
  });

  it("routes by exact name, glob, /regex/ and function; call options win", () => {
    const routes = [
      { "proj.exact": { queue: "exact" }, "proj.io.*": "io", "/^proj\\.cpu\\.(a|b)$/": { queue: "cpu", priority: 3 } },
      (name: string) => (name.startsWith("fn.") ? { queue: "fromfn" } : null),
    ];
    assert.deepEqual(matchRoutes(routes, "proj.exact", [], {}), { queue: "exact" });
    assert.deepEqual(matchRoutes(routes, "proj.io.fetch", [], {}), { queue: "io" });
    assert.deepEqual(matchRoutes(routes, "proj.cpu.b", [], {}), { queue: "cpu", priority: 3 });
    assert.equal(matchRoutes(routes, "proj.cpu.c", [], {}), null);
    assert.deepEqual(matchRoutes(routes, "fn.x", [], {}), { queue: "fromfn" });
    const app = new Celeriac({ name: "p", broker: "memory://", taskRoutes: routes });
    app.task({ name: "proj.own", queue: "own" }, () => 1);
    assert.equal(app.route("proj.io.x", [], {}).queue, "io");
    assert.equal(app.route("proj.own", [], {}).queue, "own");
    assert.equal(app.route("proj.io.x", [], {}, { queue: "call" }).queue, "call");
    assert.equal(app.route("other", [], {}).queue, "celery");
  });
});
