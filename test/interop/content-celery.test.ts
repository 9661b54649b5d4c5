// Content Celery speaks beyond json, with a real Python Celery 5.2.6 over
// Redis and over RabbitMQ (results in Redis), both ways: the yaml serializer, bzip2 and xz compression (kombu's
// names; zstd read, sent only with zstd-napi), and message signing (the auth serializer, app.setup_security())
// with keys and certificates made by openssl. Where signing is required, an
// unsigned, tampered, wrongly signed, unknown-cert or expired-cert message is
// refused with its reason logged and FAILURE stored, and the worker stays up.
// Redis, RabbitMQ and Python are required under CI=true.
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Celeriac, SecurityError, type AsyncResult } from "../../src/index.js";
import { encodeTask, type Message } from "../../src/protocol/message.js";
import { authSerializer } from "../../src/protocol/signing/auth.js";
import { Certificate, PrivateKey } from "../../src/protocol/signing/certificate.js";
import { expired, freshDir, selfSigned, type Signer } from "../support/certificates.js";
import { startMixedWorkers, type MixedWorkers, type PyOutcome } from "../support/mixed-workers.js";
import { pythonCeleryAvailable } from "../support/python.js";
import { redisAvailable, redisUrl } from "../support/redis.js";
import { AMQP_URL, requireRabbit } from "../support/amqp.js";
import { waitUntil } from "../support/wait.js";
import { installedVersion } from "../../src/util/optional-package.js";

const REDIS = redisUrl(3);
const available = (await redisAvailable()) && (await pythonCeleryAvailable());
const rabbitSkip = available ? await requireRabbit() : "no Redis or Python Celery";
const APP = "test/fixtures/content-worker-app.ts";
const BIG = "celeriac ".repeat(20000);
const T = { timeout: 30_000 };

/** Both sides on `broker`, results in Redis. */
const brokers = [
  { name: "Redis", url: REDIS, skip: !available },
  { name: "RabbitMQ", url: AMQP_URL, skip: rabbitSkip ?? false },
];

for (const broker of brokers) {
  describe(`yaml, bzip2, xz and zstd with Python Celery 5.2.6 over ${broker.name}`, { skip: broker.skip }, () => {
    let workers: MixedWorkers;
    let app: Celeriac;

    before(async () => {
      workers = await startMixedWorkers("content", REDIS, {
        broker: broker.url,
        tsApp: APP,
        tsEnv: { CELERIAC_ACCEPT_CONTENT: "json,yaml" },
        pyEnv: { CANVAS_ACCEPT: "json,yaml" },
      });
      app = new Celeriac({ name: "content-producer", broker: broker.url, backend: REDIS });
    });
    after(async () => {
      await app?.close();
      await workers?.stop();
    });

    it("a Python producer's yaml, bzip2, bzip, zstd, zstandard, xz, lzma and yaml+zstd messages run on a Celeriac worker", async () => {
      const out = await workers.produce<Record<string, PyOutcome>>("content_produce.py");
      assert.deepEqual(out.yaml, { state: "SUCCESS", result: 5 });
      assert.deepEqual(out.yaml_types, { state: "SUCCESS", result: { yes: "yes", n: null, l: [1.5, true] } });
      for (const alias of ["bzip2", "bzip", "zstd", "zstandard", "xz", "lzma"]) assert.deepEqual(out[alias], { state: "SUCCESS", result: BIG }, alias);
      assert.deepEqual(out.yaml_zstd, { state: "SUCCESS", result: 42 });
    });

    it("a Celeriac producer's yaml messages run on a Python worker and on a Celeriac worker", async () => {
      const kwargs = { nested: { yes: "yes", list: [1, null, "ü"] } };
      const onPython = app.sendTask("canvas.identity", [kwargs], {}, { queue: workers.pyQueue, serializer: "yaml" });
      const onCeleriac = app.sendTask("canvas.add", [2, 40], {}, { queue: workers.tsQueue, serializer: "yaml" });
      const seen = (e: Error) => assert.fail(`${e.message}\n${workers.logs()}`);
      assert.deepEqual(await onPython.get(T).catch(seen), kwargs);
      assert.equal(await onCeleriac.get(T).catch(seen), 42);
    });

    for (const [sent, read] of [
      ["bzip2", "bzip"],
      ["xz", "lzma"],
    ]) {
      it(`a Celeriac producer's ${sent} messages run on a Python worker and on a Celeriac worker`, async () => {
        const onPython = app.sendTask("canvas.identity", [BIG], {}, { queue: workers.pyQueue, compression: sent });
        const onCeleriac = app.sendTask("canvas.identity", [BIG], {}, { queue: workers.tsQueue, compression: read });
        assert.equal(await onPython.get(T), BIG);
        assert.equal(await onCeleriac.get(T), BIG);
      });
    }

    it("zstd is sent only with zstd-napi installed (no dependency): else the send fails with an EncodeError naming it", async () => {
      const res = app.sendTask("canvas.identity", [BIG], {}, { queue: workers.pyQueue, compression: "zstd" });
      if (installedVersion("zstd-napi")) assert.equal(await res.get(T), BIG);
      else await assert.rejects(res.get(T), (err: Error) => err.name === "EncodeError" && /npm install zstd-napi/.test(err.message));
    });
  });

  describe(`message signing (the auth serializer) with Python Celery 5.2.6 over ${broker.name}`, { skip: broker.skip }, () => {
    let dir: string;
    let trusted: Signer;
    let stranger: Signer;
    let old: Signer;
    let workers: MixedWorkers;
    let app: Celeriac;

    before(async () => {
      dir = freshDir("celeriac-signing-");
      trusted = selfSigned(dir, "signer-1", 1001);
      stranger = selfSigned(dir, "stranger", 1002);
      old = expired(dir, "old-signer");
      // The Celeriac worker trusts signer-1 and the expired one; Python's store
      // refuses to load an expired certificate at all, so it gets signer-1 only.
      const tsStore = join(dir, "ts-store");
      const py = join(dir, "py");
      mkdirSync(tsStore);
      mkdirSync(join(py, "store"), { recursive: true });
      copyFileSync(trusted.cert, join(tsStore, "signer-1.pem"));
      copyFileSync(old.cert, join(tsStore, "old-signer.pem"));
      copyFileSync(trusted.key, join(py, "key.pem"));
      copyFileSync(trusted.cert, join(py, "cert.pem"));
      copyFileSync(trusted.cert, join(py, "store", "signer-1.pem"));
      const security = {
        CELERIAC_TASK_SERIALIZER: "auth",
        CELERIAC_ACCEPT_CONTENT: "auth",
        CELERIAC_SECURITY_KEY: trusted.key,
        CELERIAC_SECURITY_CERTIFICATE: trusted.cert,
        CELERIAC_SECURITY_CERT_STORE: tsStore,
      };
      workers = await startMixedWorkers("signed", REDIS, {
        broker: broker.url,
        tsApp: APP,
        tsEnv: security,
        pyEnv: { CANVAS_SECURITY_DIR: py },
      });
      app = new Celeriac({
        name: "signed-producer",
        broker: broker.url,
        backend: REDIS,
        taskSerializer: "auth",
        acceptContent: ["auth"],
        securityKey: trusted.key,
        securityCertificate: trusted.cert,
        securityCertStore: tsStore,
      }).setupSecurity();
    });
    after(async () => {
      await app?.close();
      await workers?.stop();
    });

    it("a Python producer's signed messages (one compressed too) run on a Celeriac worker", async () => {
      const out = await workers.produce<Record<string, PyOutcome>>("content_produce.py");
      assert.deepEqual(out.signed, { state: "SUCCESS", result: 42 });
      assert.deepEqual(out.signed_big, { state: "SUCCESS", result: BIG });
    });

    it("a Celeriac producer's signed messages run on a Python worker and on a Celeriac worker", async () => {
      assert.equal(await app.sendTask<number>("canvas.add", [1, 2], {}, { queue: workers.pyQueue }).get(T), 3);
      assert.equal(await app.sendTask<number>("canvas.add", [3, 4], {}, { queue: workers.tsQueue }).get(T), 7);
    });

    describe("refused by a Celeriac worker that requires signing", () => {
      const sent: Record<string, string> = {};
      const signedBy = (key: string, cert: string) =>
        authSerializer({
          key: new PrivateKey(readFileSync(key)),
          cert: new Certificate(readFileSync(cert)),
          store: null,
          digest: "sha256",
          serializer: "json",
        });
      /** A canvas.add message to the Celeriac worker whose body `make` replaces (null: sent unsigned, as json). */
      const publish = async (name: string, make: ((body: unknown[]) => Buffer) | null) => {
        const m = encodeTask({ task: "canvas.add", args: [1, 1] });
        const body = [[1, 1], {}, { callbacks: null, errbacks: null, chain: null, chord: null }];
        const message: Message = make ? { ...m, body: make(body), contentType: "application/data", contentEncoding: "utf-8" } : m;
        await (await app.broker()).publish({ queue: workers.tsQueue }, message);
        sent[name] = m.headers.id as string;
      };

      before(async () => {
        const valid = signedBy(trusted.key, trusted.cert);
        await publish("unsigned", null);
        await publish("tampered", (body) => {
          const raw = Buffer.from(valid.encode(body).toString(), "base64");
          raw[raw.length - 60]! ^= 0x01; // one bit of the serialized body, after signing
          return Buffer.from(raw.toString("base64"));
        });
        await publish("wrongly signed", signedBy(stranger.key, trusted.cert).encode);
        await publish("unknown certificate", signedBy(stranger.key, stranger.cert).encode);
        await publish("expired certificate", signedBy(old.key, old.cert).encode);
        await publish("not Celery's signed format", () => Buffer.from(Buffer.from("just some bytes").toString("base64")));
      });

      const refusals: [string, RegExp, string][] = [
        ["unsigned", /content type application\/json is not in acceptContent \[auth\]/, "ContentDisallowed"],
        ["tampered", /bad signature: the message was not signed by "FR Celeriac Tests signer-1 1001" or was changed after signing/, "SecurityError"],
        ["wrongly signed", /bad signature/, "SecurityError"],
        ["unknown certificate", /unknown certificate: "FR Celeriac Tests stranger 1002" is not in the certificate store/, "SecurityError"],
        ["expired certificate", /expired certificate: "old-signer 2989"/, "SecurityError"],
        ["not Celery's signed format", /not a signed message: no signer/, "SecurityError"],
      ];
      for (const [name, reason, excType] of refusals) {
        it(`${name}: FAILURE stored (${excType}) and the reason logged`, async () => {
          const result: AsyncResult = app.AsyncResult(sent[name]!);
          const err = await result.get(T).then(
            () => assert.fail("ran"),
            (e: Error) => e,
          );
          assert.equal(err.name, excType);
          if (excType === "SecurityError") assert.ok(err instanceof SecurityError);
          assert.match(err.message, reason);
          await waitUntil(`the worker to log why it refused the ${name} message`, () => reason.test(workers.tsWorker.output()), 10_000);
        });
      }

      it("the worker stayed up and still runs signed tasks", async () => {
        assert.equal(await app.sendTask<number>("canvas.add", [5, 5], {}, { queue: workers.tsQueue }).get(T), 10);
      });
    });
  });
}
