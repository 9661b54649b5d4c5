// X.509 keys and certificates for the message signing tests, made by the
// openssl command in a fresh directory: self-signed RSA certificates, and one
// that expired in 2020 (made with `openssl ca`, the only way openssl 3.0 sets
// both validity dates).
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Signer {
  key: string;
  cert: string;
}

const openssl = (args: string[], cwd: string) => execFileSync("openssl", args, { cwd, stdio: ["ignore", "pipe", "pipe"] });

/** A self-signed RSA key and certificate valid for two days, in `dir`/<name>.key.pem and .cert.pem. */
export function selfSigned(dir: string, name: string, serial: number, bits = 2048): Signer {
  const key = join(dir, `${name}.key.pem`);
  const cert = join(dir, `${name}.cert.pem`);
  openssl(
    [
      "req",
      "-x509",
      "-newkey",
      `rsa:${bits}`,
      "-nodes",
      "-keyout",
      key,
      "-out",
      cert,
      "-days",
      "2",
      "-set_serial",
      String(serial),
      "-subj",
      `/C=FR/O=Celeriac Tests/CN=${name}`,
    ],
    dir,
  );
  return { key, cert };
}

/** A self-signed certificate valid only on 1 January 2020. */
export function expired(dir: string, name: string): Signer {
  const key = join(dir, `${name}.key.pem`);
  const cert = join(dir, `${name}.cert.pem`);
  const ca = join(dir, `${name}-ca`);
  mkdirSync(ca, { recursive: true });
  writeFileSync(join(ca, "index.txt"), "");
  writeFileSync(join(ca, "serial"), "0BAD\n");
  writeFileSync(
    join(ca, "ca.cnf"),
    `[ca]\ndefault_ca = test\n[test]\ndir = ${ca}\ndatabase = $dir/index.txt\nnew_certs_dir = $dir\nserial = $dir/serial\ndefault_md = sha256\npolicy = any\n[any]\ncommonName = supplied\n`,
  );
  openssl(["genrsa", "-out", key, "2048"], dir);
  openssl(["req", "-new", "-key", key, "-subj", `/CN=${name}`, "-out", join(ca, "req.csr")], dir);
  openssl(
    [
      "ca",
      "-batch",
      "-selfsign",
      "-config",
      join(ca, "ca.cnf"),
      "-keyfile",
      key,
      "-in",
      join(ca, "req.csr"),
      "-out",
      cert,
      "-startdate",
      "20200101000000Z",
      "-enddate",
      "20200102000000Z",
    ],
    dir,
  );
  return { key, cert };
}

export const freshDir = (prefix: string) => mkdtempSync(join(tmpdir(), prefix));
