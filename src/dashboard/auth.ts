// Who may use the dashboard: anyone on this machine when it listens on
// loopback without a token; otherwise only holders of the token, given as
// `Authorization: Bearer <token>` (API, Prometheus) or once as `?token=` in
// the page's URL, which is then kept in an HttpOnly, SameSite=Strict cookie.
import { timingSafeEqual, createHash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { isIPv4 } from "node:net";
import { ConfigurationError } from "../errors.js";

export const COOKIE = "celeriac_dashboard";

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  // An address literal only: "127.evil.test" is a name anyone can point anywhere.
  return h === "localhost" || h === "::1" || (isIPv4(h) && h.startsWith("127.")) || h === "::ffff:127.0.0.1";
}

/** The host name of a Host header without its port, lower case; "[::1]:5555" gives "[::1]". */
function hostName(header: string): string {
  const h = header.trim().toLowerCase();
  return h.startsWith("[") ? h.slice(0, h.indexOf("]") + 1) : h.replace(/:\d*$/, "");
}

/**
 * Without a token anyone who reaches the port is let in, and a web page can
 * reach it by DNS rebinding (evil.test resolving to 127.0.0.1): the browser
 * then sends `Host: evil.test`. So a dashboard without a token answers only
 * to loopback names, and to the host it was told to bind to.
 */
export function hostAllowed(token: string | null | undefined, hostHeader: string | undefined, boundHost: string | undefined): boolean {
  if (token) return true;
  if (!hostHeader) return false;
  const h = hostName(hostHeader);
  return isLoopback(h) || (boundHost !== undefined && h.replace(/^\[|\]$/g, "") === boundHost.replace(/^\[|\]$/g, "").toLowerCase());
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

/** The page's address is the one place a token may ride in the query: it is swapped for the cookie at once. */
export function isPageRequest(req: IncomingMessage, url: URL): boolean {
  return req.method === "GET" && url.pathname === "/";
}

/**
 * The token a request presents, from the Authorization header (the scheme is
 * case-insensitive, RFC 9110 §11.1), the cookie, or the query of the page.
 */
export function presentedToken(req: IncomingMessage, url: URL): string | null {
  const bearer = /^bearer +(.*)$/i.exec(req.headers.authorization ?? "");
  if (bearer) return bearer[1]!.trim();
  return cookieValue(req, COOKIE) ?? (isPageRequest(req, url) ? url.searchParams.get("token") : null);
}

export function authorized(expected: string | null | undefined, req: IncomingMessage, url: URL): boolean {
  if (!expected) return true;
  const given = presentedToken(req, url);
  return given !== null && sameSecret(given, expected);
}
