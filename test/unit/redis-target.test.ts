// What a Redis URL and its transport options point at (src/redis/target.ts):
// the cluster forms and the globalKeyprefix, checked without a server.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigurationError } from "../../src/errors.js";
import { hashTagOf, RedisTarget } from "../../src/redis/target.js";

const refused = (fn: () => unknown, pattern: RegExp) => assert.throws(fn, (err: Error) => err instanceof ConfigurationError && pattern.test(err.message));

describe("RedisTarget: Redis Cluster and globalKeyprefix", () => {
  it("reads every seed node of a redis+cluster:// list, with credentials and TLS, masked for display", () => {
    const t = new RedisTarget("redis+cluster://:s3cret@n1:7000;redis+cluster://:s3cret@n2:7001;redis+cluster://n3:7002", {
      globalKeyprefix: "{celery}",
    });
    assert.deepEqual(
      t.cluster!.map((n) => [n.options.host, n.options.port, n.options.password ?? null, Boolean(n.options.tls)]),
      [
        ["n1", 7000, "s3cret", false],
        ["n2", 7001, "s3cret", false],
        ["n3", 7002, null, false],
      ],
    );
    assert.equal(t.keyPrefix, "{celery}");
    assert.equal(t.db, 0);
    assert.doesNotMatch(t.displayUrl, /s3cret/);
    const tls = new RedisTarget("rediss+cluster://n1:7000?ssl_cert_reqs=none", { globalKeyprefix: "{celery}" });
    assert.equal(tls.cluster![0]!.options.tls?.rejectUnauthorized, false);
  });

  it("refuses a database other than 0, a mixed list, and a cluster without a hash-tagged prefix", () => {
    refused(() => new RedisTarget("redis+cluster://n1:7000/2", { globalKeyprefix: "{c}" }), /database 0 only/);
    refused(() => new RedisTarget("redis+cluster://n1:7000;redis://n2:7001", { globalKeyprefix: "{c}" }), /one kind of server|redis\+cluster:\/\/ URLs only/);
    refused(() => new RedisTarget("redis+cluster://n1:7000"), /hash tag/);
    refused(() => new RedisTarget("redis+cluster://n1:7000", { global_keyprefix: "celery:" }), /hash tag/);
  });

  it("shardByQueue needs no hash tag, and refuses a prefix with a brace", () => {
    assert.equal(new RedisTarget("redis+cluster://n1:7000", { shardByQueue: true }).shardByQueue, true);
    refused(() => new RedisTarget("redis+cluster://n1:7000", { shardByQueue: true, globalKeyprefix: "{x}" }), /no brace/);
  });

  it("takes a prefix on one server too, and refuses one that is not a string", () => {
    assert.equal(new RedisTarget("redis://h:6379/3", { global_keyprefix: "app:" }).keyPrefix, "app:");
    assert.equal(new RedisTarget("redis://h:6379/3").keyPrefix, "");
    refused(() => new RedisTarget("redis://h:6379/3", { globalKeyprefix: 7 as unknown as string }), /is a string/);
  });

  it("hashTagOf follows Redis's rule: the first {…} that is not empty", () => {
    assert.equal(hashTagOf("{celery}"), "celery");
    assert.equal(hashTagOf("a{b}c{d}"), "b");
    assert.equal(hashTagOf("{}x{y}"), null);
    assert.equal(hashTagOf("celery:"), null);
    assert.equal(hashTagOf("{open"), null);
  });
});
