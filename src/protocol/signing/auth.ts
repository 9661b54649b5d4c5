// Celery's message signing: the 'auth' serializer (celery/security/
// serialization.py, SecureSerializer). The body is serialized by the inner
// serializer (security_serializer, json by default), signed with the private
// key, and sent as base64 of
//   signer \x00\x01 signature \x00\x01 content_type \x00\x01 content_encoding \x00\x01 body
// with content type 'application/data'. The signer is the certificate's id;
// the receiver looks it up in its certificate store and verifies the
// signature over the serialized body before anything decodes it.
import { readFileSync } from "node:fs";
import type { Settings } from "../../config.js";
import { ConfigurationError, SecurityError } from "../../errors.js";
import { serializerByContentType, serializerByName, type Serializer } from "../serializers.js";
import { CertStore, Certificate, nodeDigest, PrivateKey } from "./certificate.js";

const SEP = Buffer.from([0x00, 0x01]);

export interface AuthOptions {
  /** Signs what this process sends; null: it only verifies. */
  key: PrivateKey | null;
  cert: Certificate | null;
  /** The certificates whose signatures are trusted; null: it only signs. */
  store: CertStore | null;
  digest: string;
  /** The inner serializer's name (security_serializer). */
  serializer: string;
}

export function authSerializer(opts: AuthOptions): Serializer {
  const inner = serializerByName(opts.serializer);
  nodeDigest(opts.digest); // a bad digest name fails here, not on the first message
  return {
    name: "auth",
    contentType: "application/data",
    contentEncoding: "utf-8",
    encode(value) {
      if (!opts.key || !opts.cert) throw new SecurityError("cannot sign: no security_key and security_certificate set");
      const body = inner.encode(value);
      const fields = [Buffer.from(opts.cert.id), opts.key.sign(body, opts.digest), Buffer.from(inner.contentType), Buffer.from(inner.contentEncoding), body];
      return Buffer.from(joinFields(fields).toString("base64"));
    },
    decode(payload) {
      if (!opts.store) throw new SecurityError("cannot verify: no security_cert_store set");
      const { signer, signature, contentType, body } = unpack(payload, opts.store);
      opts.store.get(signer).verify(body, signature, opts.digest);
      // Verified: decoded by the serializer the signer named (kombu's loads(force=True)).
      return serializerByContentType(contentType).decode(body);
    },
  };
}

function joinFields(fields: Buffer[]): Buffer {
  const parts: Buffer[] = [];
  fields.forEach((f, i) => parts.push(...(i ? [SEP, f] : [f])));
  return Buffer.concat(parts);
}

/** kombu's SecureSerializer._unpack: the signature is as long as the signer's key, so it may hold the separator. */
function unpack(payload: Buffer, store: CertStore): { signer: string; signature: Buffer; contentType: string; body: Buffer } {
  const raw = Buffer.from(payload.toString("latin1"), "base64");
  const first = raw.indexOf(SEP);
  if (first <= 0) throw new SecurityError("not a signed message: no signer (unsigned, or not Celery's auth format)");
  const signer = raw.subarray(0, first).toString("utf8");
  const sigStart = first + SEP.length;
  const sigEnd = sigStart + store.get(signer).signatureLength;
  const typeEnd = raw.indexOf(SEP, sigEnd + SEP.length);
  const encodingEnd = typeEnd < 0 ? -1 : raw.indexOf(SEP, typeEnd + SEP.length);
  if (sigEnd > raw.length || !raw.subarray(sigEnd, sigEnd + SEP.length).equals(SEP) || encodingEnd < 0) {
    throw new SecurityError("malformed signed message: the signature or its content type is cut short");
  }
  return {
    signer,
    signature: raw.subarray(sigStart, sigEnd),
    contentType: raw.subarray(sigEnd + SEP.length, typeEnd).toString("utf8"),
    body: raw.subarray(encodingEnd + SEP.length),
  };
}

/** What app.setupSecurity() reads (Celery's security_* settings): file paths, as Celery takes them. */
export interface SecurityFiles {
  key: string | null;
  keyPassword?: string | null;
  certificate: string | null;
  certStore: string | null;
  digest: string;
  serializer: string;
}

export function authSerializerFromFiles(f: SecurityFiles): Serializer {
  const read = (path: string, what: string) => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new SecurityError(`cannot read ${what} ${JSON.stringify(path)}: ${(err as Error).message}`);
    }
  };
  return authSerializer({
    key: f.key ? new PrivateKey(read(f.key, "security_key"), f.keyPassword ?? undefined) : null,
    cert: f.certificate ? new Certificate(read(f.certificate, "security_certificate"), f.certificate) : null,
    store: f.certStore ? CertStore.fromPath(f.certStore) : null,
    digest: f.digest,
    serializer: f.serializer,
  });
}

/** The auth serializer app.setupSecurity() installs, checked as Celery's setup_security checks its settings. */
export function authSerializerFromSettings(s: Settings, opts: Partial<SecurityFiles> = {}): Serializer {
  if (s.taskSerializer !== "auth" || s.acceptContent.length !== 1 || s.acceptContent[0] !== "auth") {
    throw new ConfigurationError(
      `setupSecurity() needs taskSerializer "auth" and acceptContent ["auth"] (got ${JSON.stringify(s.taskSerializer)} and ${JSON.stringify(s.acceptContent)}): there is no point in signing messages if they are not verified`,
    );
  }
  const files: SecurityFiles = {
    key: opts.key ?? s.securityKey,
    keyPassword: opts.keyPassword ?? s.securityKeyPassword,
    certificate: opts.certificate ?? s.securityCertificate,
    certStore: opts.certStore ?? s.securityCertStore,
    digest: opts.digest ?? s.securityDigest,
    serializer: opts.serializer ?? s.securitySerializer,
  };
  if (!files.key || !files.certificate || !files.certStore) {
    throw new ConfigurationError(
      "setupSecurity() needs securityKey, securityCertificate and securityCertStore (Celery's security_key, security_certificate, security_cert_store)",
    );
  }
  return authSerializerFromFiles(files);
}
