// rediss:// — a worker and a producer over TLS, against a private redis-server
// with a certificate made here (openssl), verified against its CA file.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { Celeriac } from "../../src/index.js";
import { startWorker } from "../support/processes.js";
import { redisAvailable, startOwnRedis } from "../support/redis.js";
import { freePort } from "../support/ports.js";

const dir = mkdtempSync(join(tmpdir(), "celeriac-tls-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function makeCertificate(): boolean {
  try {
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
      ],
      { stdio: "ignore" },
    );
    return true;
  } catch (err) {
    if (process.env.CI === "true") throw new Error(`openssl is needed for the TLS test: ${(err as Error).message}`, { cause: err });
    return false;
  }
}

const ready = (await redisAvailable()) && makeCertificate();

describe("rediss:// (TLS)", { skip: !ready }, () => {
  it("a worker and a producer talk over TLS, certificate verified", async () => {
    const cert = join(dir, "cert.pem");
    const redis = await startOwnRedis(
      await freePort(),
      ["--tls-cert-file", cert, "--tls-key-file", join(dir, "key.pem"), "--tls-ca-cert-file", cert, "--tls-auth-clients", "no"],
      undefined,
      { ca: readFileSync(cert), query: `ssl_cert_reqs=required&ssl_ca_certs=${encodeURIComponent(cert)}` },
    );
    const url = redis.url(0);
    assert.match(url, /^rediss:\/\//);
    const app = new Celeriac({ name: "producer", broker: url, backend: url });
    try {
      const worker = await startWorker("test/fixtures/app.ts", ["-P", "async", "-c", "2"], { CELERIAC_BROKER_URL: url, CELERIAC_RESULT_BACKEND: url });
      assert.equal(await app.sendTask<number>("fixture.add", [20, 22]).get({ timeout: 10_000 }), 42);
      await worker.stop();
    } finally {
      await app.close();
      await redis.stop();
    }
  });
});
