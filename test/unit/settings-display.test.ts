// inspect conf and `celeriac report` show settings as Celery's
// filter_hidden_settings does: snake_case names, secret-named keys masked
// (nested ones too, None included), passwords in URLs masked.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { defaultSettings, type Settings } from "../../src/config.js";
import { displaySettings } from "../../src/settings-display.js";

describe("settings as inspect conf shows them", () => {
  const settings = (over: Partial<Settings>): Settings => ({ ...defaultSettings(), ...over }) as Settings;

  it("names them as Celery does, only those changed unless asked for the defaults", () => {
    const shown = displaySettings(settings({ taskDefaultQueue: "jobs" }), false);
    assert.deepEqual(Object.keys(shown), ["task_default_queue"]);
    assert.equal(shown.task_default_queue, "jobs");
    const all = displaySettings(settings({}), true);
    assert.ok("broker_url" in all && "result_backend" in all && "task_serializer" in all);
    for (const key of Object.keys(all)) assert.match(key, /^[a-z][a-z0-9_]*$/);
  });

  it("masks secrets: URL passwords, secret-named keys whatever their value, nested options", () => {
    const shown = displaySettings(
      settings({
        brokerUrl: "amqp://user:hunter2@rabbit:5672//",
        resultBackend: "redis://:hunter2@cache:6379/1",
        securityKey: "/etc/keys/worker.key",
        taskDefaultRoutingKey: "jobs",
        brokerTransportOptions: { password: "hunter2", masterName: "mymaster", sentinel_kwargs: { password: null } },
      } as Partial<Settings>),
      false,
    );
    assert.doesNotMatch(JSON.stringify(shown), /hunter2/);
    assert.match(String(shown.broker_url), /^amqp:\/\/user:\*{8}@rabbit:5672\/\/$/);
    assert.match(String(shown.result_backend), /^redis:\/\/:\*{8}@cache:6379\/1$/);
    assert.equal(shown.security_key, "********");
    assert.equal(shown.task_default_routing_key, "********", "Celery's KEY rule hides it too");
    const transport = shown.broker_transport_options as Record<string, unknown>;
    assert.equal(transport.password, "********");
    assert.equal(transport.masterName, "mymaster");
    assert.deepEqual(transport.sentinel_kwargs, { password: "********" });
  });
});
