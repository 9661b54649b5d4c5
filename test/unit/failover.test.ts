// Failover URL lists and Sentinel settings: how they are read, and the typed
// errors for the ones that cannot work.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Celeriac, ConfigurationError } from "../../src/index.js";
import { FailoverCursor, splitUrlList } from "../../src/failover.js";
import { RedisTarget } from "../../src/redis/target.js";

describe("failover URL lists", () => {
  it("splits at the ';' before each URL, not at one inside a password", () => {
    assert.deepEqual(splitUrlList("redis://:a;b@h1:6379/0; redis://h2/0"), ["redis://:a;b@h1:6379/0", "redis://h2/0"]);
    assert.deepEqual(splitUrlList(["amqp://h1//", "pyamqp://h2//"]), ["amqp://h1//", "pyamqp://h2//"]);
  });

  it("refuses empty entries and lists that mix kinds of server, naming them masked", () => {
    assert.throws(() => splitUrlList([]), ConfigurationError);
    assert.throws(() => splitUrlList(["redis://h1", ""]), ConfigurationError);
    assert.throws(
      () => splitUrlList("redis://:secret@h1;amqp://h2//"),
      (err: Error) => err instanceof ConfigurationError && /redis:\/\/:\*\*\*@h1/.test(err.message) && !err.message.includes("secret"),
    );
  });

  it("round-robin moves on once per failure, whichever connection reports it first", () => {
    const c = new FailoverCursor("redis://a;redis://b;redis://c");
    assert.equal(c.current, "redis://a");
    assert.equal(c.failed("redis://a"), "redis://b");
    // A second connection that was on a as well follows to b instead of skipping to c.
    assert.equal(c.failed("redis://a"), "redis://b");
    assert.equal(c.failed("redis://b"), "redis://c");
    assert.equal(c.failed("redis://c"), "redis://a");
  });

  it("a single URL has nowhere to go", () => {
    const c = new FailoverCursor("redis://a");
    assert.equal(c.alternatives, false);
    assert.equal(c.failed("redis://a"), "redis://a");
  });

  it("shuffle visits every URL once per round", () => {
    const urls = ["redis://a", "redis://b", "redis://c", "redis://d"];
    const c = new FailoverCursor(urls, "shuffle");
    const seen = [c.current];
    for (let i = 0; i < 3; i++) seen.push(c.failed(c.current));
    assert.deepEqual([...seen].sort(), urls);
  });

  it("takes a strategy function, as Celery's broker_failover_strategy, and checks what it yields", () => {
    const c = new FailoverCursor(["redis://a", "redis://b"], function* (urls) {
      for (;;) yield urls[urls.length - 1]!;
    });
    assert.equal(c.current, "redis://b");
    assert.throws(
      () =>
        new FailoverCursor(["redis://a"], function* () {
          yield "redis://elsewhere";
        }),
      ConfigurationError,
    );
    assert.throws(() => new FailoverCursor(["redis://a"], "nearest" as "shuffle"), /unknown broker failover strategy "nearest"/);
  });

  it("a list in code becomes the ';' list the brokers read", () => {
    const app = new Celeriac({ broker: ["redis://:pw@h1:6379/0", "redis://:pw@h2:6379/0"], backend: ["redis://h1/1", "redis://h2/1"] });
    assert.equal(app.settings.brokerUrl, "redis://:pw@h1:6379/0;redis://:pw@h2:6379/0");
    assert.equal(app.settings.resultBackend, "redis://h1/1;redis://h2/1");
    assert.equal(app.settings.brokerFailoverStrategy, "round-robin");
  });

  it("the servers of a Redis list share one database number", () => {
    assert.throws(() => new RedisTarget("redis://h1/0;redis://h2/1"), /one database number/);
    assert.equal(new RedisTarget("redis://h1/3;redis://h2/3").db, 3);
  });
});

describe("sentinel:// targets", () => {
  it("needs the master's name, under Celery's or kombu's spelling", () => {
    assert.throws(
      () => new RedisTarget("sentinel://s1:26379"),
      (err: Error) => err instanceof ConfigurationError && /masterName/.test(err.message),
    );
    assert.equal(new RedisTarget("sentinel://:pw@s1:26379/2;sentinel://s2", { master_name: "mymaster" }).db, 2);
    assert.equal(new RedisTarget("sentinel://s1", { masterName: "mymaster" }).initial().options.name, "mymaster");
  });

  it("reads the master's password from the first URL and the sentinels' from sentinelKwargs", () => {
    const o = new RedisTarget("sentinel://:master%40pw@s1:26380/1;sentinel://s2", {
      masterName: "m",
      sentinel_kwargs: { password: "sentinel-pw" },
    }).initial().options;
    assert.deepEqual(o.sentinels, [
      { host: "s1", port: 26380 },
      { host: "s2", port: 26379 },
    ]);
    assert.equal(o.password, "master@pw");
    assert.equal(o.sentinelPassword, "sentinel-pw");
    assert.equal(o.db, 1);
  });

  it("refuses what kombu would ignore: credentials on a later URL, unknown sentinel options, other schemes", () => {
    assert.throws(() => new RedisTarget("sentinel://s1;sentinel://:pw@s2", { masterName: "m" }), /first sentinel URL/);
    assert.throws(() => new RedisTarget("sentinel://s1", { masterName: "m", sentinelKwargs: { socket_keepalive: true } }), /not supported/);
    assert.throws(() => new RedisTarget("sentinel://s1;redis://h2", { masterName: "m" }), ConfigurationError);
  });

  it("never shows the password in what it displays", () => {
    const t = new RedisTarget("sentinel://:topsecret@s1:26379;sentinel://s2:26379", { masterName: "m" });
    assert.equal(t.displayUrl, "sentinel://:***@s1:26379;sentinel://s2:26379");
  });
});
