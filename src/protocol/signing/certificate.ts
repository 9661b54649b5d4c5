// X.509 certificates and the certificate store of Celery's message signing
// (celery/security/certificate.py, key.py): a signer is named by its
// certificate's issuer and serial number, signatures are RSA-PSS with MGF1 and
// the longest salt, as the cryptography package makes them.
import { constants, createPrivateKey, sign, verify, X509Certificate, type KeyObject } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { SecurityError } from "../../errors.js";

/** Celery's digest names (cryptography's hashes.<NAME>: sha256, SHA512, sha3_256…) as Node's. */
export function nodeDigest(name: string): string {
  const d = name
    .toLowerCase()
    .replace(/^sha3_/, "sha3-")
    .replace(/^sha512_/, "sha512-");
  if (!/^(sha1|sha224|sha256|sha384|sha512|sha512-224|sha512-256|sha3-224|sha3-256|sha3-384|sha3-512)$/.test(d)) {
    throw new SecurityError(`unsupported security digest ${JSON.stringify(name)} (sha256, sha384, sha512, sha3_256…)`);
  }
  return d;
}

export class Certificate {
  private readonly cert: X509Certificate;

  constructor(pem: string | Buffer, where = "certificate") {
    try {
      this.cert = new X509Certificate(pem);
    } catch (err) {
      throw new SecurityError(`invalid certificate ${where}: ${(err as Error).message}`);
    }
    if (this.cert.publicKey.asymmetricKeyType !== "rsa") {
      throw new SecurityError(`certificate ${where} has a ${this.cert.publicKey.asymmetricKeyType} key: Celery signs with RSA only`);
    }
  }

  /** Celery's Certificate.get_id(): the issuer's attribute values joined by spaces, then the serial number in decimal. */
  get id(): string {
    const issuer = this.cert.issuer
      .split("\n")
      .map((line) => line.slice(line.indexOf("=") + 1))
      .join(" ");
    return `${issuer} ${BigInt(`0x${this.cert.serialNumber}`).toString()}`;
  }

  /** Bytes of a signature by this certificate's key (kombu's _unpack reads that many). */
  get signatureLength(): number {
    return (this.cert.publicKey.asymmetricKeyDetails?.modulusLength ?? 0) >> 3;
  }

  expired(now = Date.now()): boolean {
    return now >= Date.parse(this.cert.validTo);
  }

  get validTo(): string {
    return this.cert.validTo;
  }

  /** Throws SecurityError unless `signature` is this key's RSA-PSS signature of `data`. */
  verify(data: Buffer, signature: Buffer, digest: string): void {
    const key: KeyObject = this.cert.publicKey;
    const ok = verify(nodeDigest(digest), data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO }, signature);
    if (!ok) throw new SecurityError(`bad signature: the message was not signed by ${JSON.stringify(this.id)} or was changed after signing`);
  }
}

export class PrivateKey {
  private readonly key: KeyObject;

  constructor(pem: string | Buffer, password?: string) {
    try {
      this.key = createPrivateKey(password === undefined ? pem : { key: pem, passphrase: password });
    } catch (err) {
      throw new SecurityError(`invalid private key: ${(err as Error).message}`);
    }
  }

  sign(data: Buffer, digest: string): Buffer {
    return sign(nodeDigest(digest), data, { key: this.key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_MAX_SIGN });
  }
}

/**
 * The trusted certificates, by id (Celery's FSCertStore): every file of a
 * directory, one file, or a glob (`*`, `?`) in the last part of the path.
 * Unlike Celery, an expired certificate does not stop the store from loading;
 * a message signed with it is refused.
 */
export class CertStore {
  private readonly certs = new Map<string, Certificate>();

  static fromPath(path: string): CertStore {
    const store = new CertStore();
    for (const file of filesOf(path)) store.add(new Certificate(readFileSync(file), file));
    if (store.certs.size === 0) throw new SecurityError(`security_cert_store ${JSON.stringify(path)} holds no certificate`);
    return store;
  }

  add(cert: Certificate): void {
    if (this.certs.has(cert.id)) throw new SecurityError(`duplicate certificate: ${JSON.stringify(cert.id)}`);
    this.certs.set(cert.id, cert);
  }

  /** The certificate of `id`, or SecurityError: unknown, or expired. */
  get(id: string): Certificate {
    const cert = this.certs.get(id);
    if (!cert) throw new SecurityError(`unknown certificate: ${JSON.stringify(id)} is not in the certificate store`);
    if (cert.expired()) throw new SecurityError(`expired certificate: ${JSON.stringify(id)} (valid to ${cert.validTo})`);
    return cert;
  }
}

function filesOf(path: string): string[] {
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    // not a directory or file: a glob, or nothing
  }
  const dir = isDir ? path : dirname(path);
  const pattern = isDir ? "*" : basename(path);
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replace(/\*/g, ".*")
      .replace(/\?/g, ".")}$`,
  );
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    throw new SecurityError(`cannot read security_cert_store ${JSON.stringify(path)}: ${(err as Error).message}`);
  }
  return names
    .filter((n) => re.test(n) && !n.startsWith("."))
    .map((n) => join(dir, n))
    .filter((f) => statSync(f).isFile())
    .sort();
}
