// Celery's auth serializer, against celery.security's own SecureSerializer:
// each side verifies the other's signatures, with sha256 and sha512, a 4096-bit
// key, an encrypted key, and stores given as a directory, a file or a glob.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { Celeriac, ConfigurationError, SecurityError } from "../../src/index.js";
import { authSerializerFromFiles } from "../../src/protocol/signing/auth.js";
import { freshDir, selfSigned, type Signer } from "../support/certificates.js";

const PY = "/usr/bin/python3";

/** Python's SecureSerializer with `signer`'s key and `store`: `mode` "sign" prints a signed body of `value`; "verify" prints what it reads from stdin. */
function python(mode: "sign" | "verify", signer: Signer, store: string, digest: string, input = ""): string {
  const script = `
import sys, json
from celery.security.serialization import SecureSerializer
from celery.security.certificate import Certificate, FSCertStore
from celery.security.key import PrivateKey
s = SecureSerializer(PrivateKey(open(${JSON.stringify(signer.key)}).read()), Certificate(open(${JSON.stringify(signer.cert)}).read()),
                     FSCertStore(${JSON.stringify(store)}), ${JSON.stringify(digest)}, "json")
if ${JSON.stringify(mode)} == "sign":
    sys.stdout.write(s.serialize([[1, "ü"], {"k": None}, {}]))
else:
    print(json.dumps(s.deserialize(sys.stdin.read())))`;
  return execFileSync(PY, ["-c", script], { input }).toString();
}

describe("the auth serializer, against celery.security", () => {
  let dir: string;
  let a: Signer;
  let big: Signer;
  let store: string;

  before(() => {
    dir = freshDir("celeriac-signing-unit-");
    a = selfSigned(dir, "unit-a", 77);
    big = selfSigned(dir, "unit-big", 78, 4096);
    store = join(dir, "store");
    mkdirSync(store);
    copyFileSync(a.cert, join(store, "a.pem"));
    copyFileSync(big.cert, join(store, "big.pem"));
  });

  for (const [digest, which] of [
    ["sha256", "a 2048-bit key"],
    ["sha512", "a 4096-bit key"],
  ] as const) {
    it(`Python verifies what we sign and we verify what Python signs (${digest}, ${which})`, () => {
      const signer = which === "a 2048-bit key" ? a : big;
      const ours = authSerializerFromFiles({ key: signer.key, certificate: signer.cert, certStore: store, digest, serializer: "json" });
      const value = [[1, "ü"], { k: null }, {}];
      assert.deepEqual(JSON.parse(python("verify", signer, store, digest, ours.encode(value).toString())), value);
      assert.deepEqual(ours.decode(Buffer.from(python("sign", signer, store, digest))), value);
    });
  }

  it("reads a store given as a directory, one file, or a glob", () => {
    const value = Buffer.from(python("sign", a, store, "sha256"));
    for (const certStore of [store, join(store, "a.pem"), join(store, "*.pem"), join(store, "a.*")]) {
      const s = authSerializerFromFiles({ key: null, certificate: null, certStore, digest: "sha256", serializer: "json" });
      assert.deepEqual(s.decode(value), [[1, "ü"], { k: null }, {}], certStore);
    }
    assert.throws(
      () => authSerializerFromFiles({ key: null, certificate: null, certStore: join(store, "*.none"), digest: "sha256", serializer: "json" }),
      /holds no certificate/,
    );
  });

  it("signs with an encrypted key given its password, and says so when the password is wrong", () => {
    const encrypted = join(dir, "encrypted.key.pem");
    execFileSync("openssl", ["pkey", "-in", a.key, "-aes256", "-passout", "pass:s3cret", "-out", encrypted]);
    const s = authSerializerFromFiles({ key: encrypted, keyPassword: "s3cret", certificate: a.cert, certStore: store, digest: "sha256", serializer: "json" });
    assert.deepEqual(s.decode(s.encode([1])), [1]);
    assert.throws(
      () => authSerializerFromFiles({ key: encrypted, keyPassword: "wrong", certificate: a.cert, certStore: store, digest: "sha256", serializer: "json" }),
      (err: Error) => err instanceof SecurityError && /invalid private key/.test(err.message) && !err.message.includes("wrong"),
    );
  });

  it("refuses a digest Celery does not name, and an app whose settings do not require signing", () => {
    assert.throws(
      () => authSerializerFromFiles({ key: a.key, certificate: a.cert, certStore: store, digest: "md5", serializer: "json" }),
      /unsupported security digest "md5"/,
    );
    const app = new Celeriac({
      name: "signing-unit",
      broker: "memory://",
      backend: "memory://",
      securityKey: a.key,
      securityCertificate: a.cert,
      securityCertStore: store,
    });
    assert.throws(
      () => app.setupSecurity(),
      (err: Error) => err instanceof ConfigurationError && /taskSerializer "auth" and acceptContent \["auth"\]/.test(err.message),
    );
    app.configFromObject({ taskSerializer: "auth", acceptContent: ["auth"], securityCertStore: null });
    assert.throws(() => app.setupSecurity(), /needs securityKey, securityCertificate and securityCertStore/);
  });
});
