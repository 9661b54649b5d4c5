// Who may use the dashboard: anyone on this machine when it listens on
// loopback without a token; otherwise only holders of the token, given as
// `Authorization: Bearer <token>` (API, Prometheus) or once as `?token=` in
// the page's URL, which is then kept in an HttpOnly, SameSite=Strict cookie.
import { timingSafeEqual, createHash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { ConfigurationError } from "../errors.js";

export const COOKIE = "celeriac_dashboard";

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || h.startsWith("127.") || h === "::ffff:127.0.0.1";
}

/** Refuses a configuration that would open the dashboard to the network without a token. */
export function checkExposure(host: string, token: string | null | undefined): void {
  if (!isLoopback(host) && !token) {
    throw new ConfigurationError(
      `the dashboard binds to ${host}, which is reachable from other machines: give it a token (--token or CELERIAC_DASHBOARD_TOKEN), or bind to 127.0.0.1`,
    );
  }
}

function sameSecret(a: string, b: string): boolean {
  // Hash first so the comparison takes the same time whatever the lengths.
  const ha = createHash("sha256").update(a).digest();
  const hb = createHash("sha256").update(b).digest();
  return timingSafeEqual(ha, hb);
}

export function cookieValue(req: IncomingMessage, name: string): string | null {
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return decodeURIComponent(v.join("="));
  }
  return null;
}

/** The token a request presents, from the Authorization header, the cookie or the query. */
export function presentedToken(req: IncomingMessage, url: URL): string | null {
  const auth = req.headers.authorization;
  if (auth?.startsWith("Bearer ")) return auth.slice(7).trim();
  return cookieValue(req, COOKIE) ?? url.searchParams.get("token");
}

export function authorized(expected: string | null | undefined, req: IncomingMessage, url: URL): boolean {
  if (!expected) return true;
  const given = presentedToken(req, url);
  return given !== null && sameSecret(given, expected);
}
