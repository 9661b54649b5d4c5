// The dashboard's HTTP plumbing: response helpers with the security headers
// every answer carries, and a JSON body reader that is also the CSRF guard.
import type { IncomingMessage, ServerResponse } from "node:http";
import { CeleriacError } from "../errors.js";

/** A client error: its message is shown to the user, with this HTTP status. */
export class HttpError extends CeleriacError {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export const SECURITY_HEADERS = {
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "content-security-policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
};

const MAX_BODY_BYTES = 64 * 1024;

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", ...SECURITY_HEADERS });
  res.end(JSON.stringify(body));
}

export function sendText(res: ServerResponse, status: number, type: string, body: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": type, "cache-control": "no-store", ...SECURITY_HEADERS, ...extra });
  res.end(body);
}

/** The host of an Origin header; null for "null" or anything unreadable. */
function originHost(origin: string): string | null {
  try {
    return new URL(origin).host;
  } catch {
    return null;
  }
}

/** Reads a JSON object body; `{}` when empty. Refuses other content types, other origins and large bodies. */
export async function readJsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  // A JSON content type cannot be sent cross-site without CORS approval: it is our CSRF guard.
  if (!/^application\/json/.test(req.headers["content-type"] ?? "")) throw new HttpError(415, "send JSON (content-type: application/json)");
  const origin = req.headers.origin;
  if (origin && originHost(origin) !== req.headers.host) throw new HttpError(403, "cross-origin request refused");
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, "request body too large");
    chunks.push(c as Buffer);
  }
  if (!size) return {};
  try {
    const v = JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown;
    return v && typeof v === "object" ? (v as Record<string, unknown>) : {};
  } catch {
    throw new HttpError(400, "the body is not valid JSON");
  }
}
