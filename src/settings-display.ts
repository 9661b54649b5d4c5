// Settings as they are shown to people (inspect conf, celeriac report):
// Celery's snake_case names, masked as Celery's filter_hidden_settings masks
// them (celery/app/utils.py): a key naming a secret shows "********" whatever
// its value, passwords in URLs are masked, and nested objects are filtered the same way.
import { defaultSettings, type Settings } from "./config.js";
import { maskUrl } from "./url.js";

const MASK = "********";
/** Celery's HIDDEN_SETTINGS, matched on the snake_case name (so `securityKey` and `taskDefaultRoutingKey` are hidden, as in Celery). */
const HIDDEN = /API|TOKEN|KEY|SECRET|PASS|PROFANITIES_LIST|SIGNATURE|DATABASE/i;

/** `brokerUrl` → `broker_url`: Celery's setting names. */
export function snakeCase(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/**
 * Celery leaves a list as it is (task_queues shows its queues' routing keys);
 * inside one only what is plainly a secret is hidden, and URL passwords.
 */
const SECRET = /password|secret|passphrase|token/i;

/** A setting's value with any password in a URL masked (strings, and strings inside lists and objects, whose secret-named keys are hidden). */
export function maskSecrets(value: unknown, hidden: RegExp = HIDDEN): unknown {
  if (typeof value === "string") return maskUrl(value, MASK);
  if (Array.isArray(value)) return value.map((v) => maskSecrets(v, SECRET));
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskSetting(k, v, hidden)]));
  return value;
}

function maskSetting(key: string, value: unknown, hidden: RegExp = HIDDEN): unknown {
  // Celery recurses into a mapping; anything else under a hidden name is masked, None included.
  const mapping = value !== null && typeof value === "object" && !Array.isArray(value);
  if (!mapping && hidden.test(snakeCase(key))) return MASK;
  return maskSecrets(value, hidden);
}

/** The settings by Celery's names, masked; only those that differ from the defaults unless `withDefaults`. */
export function displaySettings(settings: Settings, withDefaults: boolean): Record<string, unknown> {
  const defaults = defaultSettings() as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(settings)) {
    if (typeof value === "function" || value === undefined) continue;
    if (!withDefaults && JSON.stringify(value) === JSON.stringify(defaults[key])) continue;
    out[snakeCase(key)] = maskSetting(key, value);
  }
  return out;
}
