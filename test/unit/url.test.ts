// maskUrl: no password reaches a log line or an error, whatever it holds.
import assert from "node:assert/strict";
import { resolve } from "node:path";
import { describe, it } from "node:test";
import { parseAmqpUrl } from "../../src/brokers/amqp/url.js";
import { redisOptionsFromUrl } from "../../src/redis/connection.js";
import { ConfigurationError } from "../../src/errors.js";
import { createLogger } from "../../src/log.js";
import { describeUrl, maskUrl } from "../../src/url.js";

describe("maskUrl", () => {
  const cases: [string, string][] = [
    ["redis://:secret@host:6379/0", "redis://:***@host:6379/0"],
    ["redis://user:secret@host", "redis://user:***@host"],
    // Unencoded characters a URL parser would read as the end of the userinfo.
    ["redis://:Pa@ss@host", "redis://:***@host"],
    ["redis://:Pa@ss@host:6379/2", "redis://:***@host:6379/2"],
    ["redis://:pa/ss@host/0", "redis://:***@host/0"],
    ["redis://:a/b@c/d@host:6379", "redis://:***@host:6379"],
    ["redis://user:pa:ss@host", "redis://user:***@host"],
    ["redis://:pa#ss@host", "redis://:***@host"],
    ["redis://:pa?ss@host", "redis://:***@host"],
    ["redis://:pa ss@host/0", "redis://:***@host/0"],
    ["redis://:Pa%40ss@host", "redis://:***@host"],
    ["rediss://default:s3cr/t+=@cache.example:6380/0?ssl_cert_reqs=required", "rediss://default:***@cache.example:6380/0?ssl_cert_reqs=required"],
    ["amqp://guest:guest@localhost:5672//", "amqp://guest:***@localhost:5672//"],
    ["amqps://u:p@w@rabbit/vhost", "amqps://u:***@rabbit/vhost"],
    ["sentinel://:pw@s1:26379", "sentinel://:***@s1:26379"],
    // Failover lists: every URL masked.
    ["amqp://u:p@h1//;amqp://u:p@h2//", "amqp://u:***@h1//;amqp://u:***@h2//"],
    ["sentinel://:a@b@s1:26379;sentinel://:c/d@s2:26379;sentinel://s3:26379", "sentinel://:***@s1:26379;sentinel://:***@s2:26379;sentinel://s3:26379"],
    // Nothing secret: unchanged.
    ["redis://host:6379/0", "redis://host:6379/0"],
    ["redis://user@host", "redis://user@host"],
    ["redis://@host", "redis://@host"],
    ["redis://[::1]:6379/0", "redis://[::1]:6379/0"],
    ["sqlite:///var/lib/x.db", "sqlite:///var/lib/x.db"],
    ["memory://", "memory://"],
    ["no URL at all, user@example", "no URL at all, user@example"],
    // Already masked: masking again changes nothing.
    ["redis://:***@host", "redis://:***@host"],
    // Inside a longer message.
    ["cannot connect to redis://:Pa@ss@host:6379/0: ECONNREFUSED", "cannot connect to redis://:***@host:6379/0: ECONNREFUSED"],
    ["broker amqp://u:p/w@r// and results redis://:x@y@h/1, ready", "broker amqp://u:***@r// and results redis://:***@h/1, ready"],
    ["redis redis://127.0.0.1:6391: connect ECONNREFUSED 127.0.0.1:6391", "redis redis://127.0.0.1:6391: connect ECONNREFUSED 127.0.0.1:6391"],
    ["worker ready: broker redis://h:6379/0, host celery@h", "worker ready: broker redis://h:6379/0, host celery@h"],
    ["broker redis://h:6379, host celery@h", "broker redis://h:6379, host celery@h"],
  ];
  for (const [url, masked] of cases) {
    it(`${url} → ${masked}`, () => assert.equal(maskUrl(url), masked));
  }

  it("when the @ is ambiguous it masks too much, never too little", () => {
    // The password may be "p@h/0?x=a": everything up to the last @ goes.
    const m = maskUrl("redis://:p@h/0?x=a@b");
    assert.ok(!m.includes("p@h"), m);
    assert.equal(m, "redis://:***@b");
  });
});

describe("URL errors show the masked URL only", () => {
  const secret = "pa/ss#wo?rd";
  it("a Redis URL that does not parse", () => {
    const url = `redis://:${secret}@host:6379/0`;
    assert.throws(
      () => redisOptionsFromUrl(url),
      (err: Error) => {
        assert.ok(err instanceof ConfigurationError);
        assert.match(err.message, /not a valid Redis URL: redis:\/\/:\*\*\*@host:6379\/0/);
        assert.ok(!err.message.includes("pa/ss") && !err.message.includes("wo?rd"), err.message);
        return true;
      },
    );
  });
  it("a bad Redis database number", () => {
    assert.throws(
      () => redisOptionsFromUrl("redis://:Pa@ss@host/x"),
      (err: Error) => {
        assert.ok(!err.message.includes("Pa@") && !err.message.includes("ss@"), err.message);
        return true;
      },
    );
  });
  it("an AMQP URL that does not parse", () => {
    assert.throws(
      () => parseAmqpUrl(`amqp://user:${secret}@rabbit//`),
      (err: Error) => {
        assert.ok(err instanceof ConfigurationError);
        assert.match(err.message, /amqp:\/\/user:\*\*\*@rabbit\/\//);
        assert.ok(!err.message.includes("pa/ss"), err.message);
        return true;
      },
    );
  });
  it("an AMQP URL with an @ in the password parses, and its display hides it", () => {
    const u = parseAmqpUrl("amqp://user:Pa@ss@rabbit:5673/prod");
    assert.equal(u.display, "amqp://user:***@rabbit:5673/prod");
  });
});

describe("the logger masks every string it logs", () => {
  it("a URL with an @ and a / in its password", () => {
    const lines: string[] = [];
    const write = process.stderr.write;
    process.stderr.write = ((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    }) as typeof process.stderr.write;
    try {
      const log = createLogger("url-test", "info");
      log.warn("lost redis://:Pa@ss/w0rd@cache:6379/0; retrying amqp://u:x@y@r//");
    } finally {
      process.stderr.write = write;
    }
    const out = lines.join("");
    assert.match(out, /lost redis:\/\/:\*\*\*@cache:6379\/0; retrying amqp:\/\/u:\*\*\*@r\/\//);
    assert.ok(!/Pa@|w0rd|x@y/.test(out), out);
  });
});

describe("describeUrl", () => {
  it("follows a relative sqlite:// file with the absolute path it opens", () => {
    assert.equal(describeUrl("sqlite://./celeriac.db"), `sqlite://./celeriac.db (${resolve("celeriac.db")})`);
    assert.equal(describeUrl("sqlite://x.db?mode=rw"), `sqlite://x.db?mode=rw (${resolve("x.db")})`);
  });

  it("leaves absolute and in-memory files, and other URLs, as maskUrl shows them", () => {
    assert.equal(describeUrl("sqlite:///var/lib/x.db"), "sqlite:///var/lib/x.db");
    assert.equal(describeUrl("sqlite://:memory:"), "sqlite://:memory:");
    assert.equal(describeUrl("redis://:pw@h:6379/0"), "redis://:***@h:6379/0");
  });
});
