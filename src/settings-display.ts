// Settings as they are shown to people (inspect conf, celeriac report):
// Celery's snake_case names, passwords in URLs and secret-looking keys masked.
import { defaultSettings, type Settings } from "./config.js";
import { maskUrl } from "./url.js";

/** `brokerUrl` → `broker_url`: Celery's setting names. */
export function snakeCase(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** A setting's value with any password in a URL masked (strings, and strings inside lists and objects). */
export function maskSecrets(value: unknown): unknown {
  if (typeof value === "string") return maskUrl(value);
  if (Array.isArray(value)) return value.map(maskSecrets);
  if (value && typeof value === "object")
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, /password|secret|passphrase|token/i.test(k) ? "********" : maskSecrets(v)]));
  return value;
}

/** The settings by Celery's names, masked; only those that differ from the defaults unless `withDefaults`. */
export function displaySettings(settings: Settings, withDefaults: boolean): Record<string, unknown> {
  const defaults = defaultSettings() as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(settings)) {
    if (typeof value === "function" || value === undefined) continue;
    if (!withDefaults && JSON.stringify(value) === JSON.stringify(defaults[key])) continue;
    out[snakeCase(key)] = /password|secret|passphrase/i.test(key) && value !== null ? "********" : maskSecrets(value);
  }
  return out;
}
