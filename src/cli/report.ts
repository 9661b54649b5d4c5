// `celeriac report`: what a bug report needs (Celery's `celery report`):
// versions (the optional packages' too), platform, the app's transport and
// results, and every setting that differs from its default, with passwords masked.
import { arch, platform, release } from "node:os";
import type { Celeriac } from "../app.js";
import { displaySettings } from "../settings-display.js";
import { maskUrl } from "../url.js";
import { installedVersion, OPTIONAL_PACKAGES } from "../util/optional-package.js";
import { VERSION } from "../version.js";

export function report(app: Celeriac, appModule: string | null): string {
  const settings = Object.entries(displaySettings(app.settings, false)).map(([k, v]) => `${k}: ${JSON.stringify(v)}`);
  return [
    `software -> celeriac:${VERSION} (celery:5.2.6 wire protocol) node:${process.version}`,
    `packages -> ${OPTIONAL_PACKAGES.map((p) => `${p}:${installedVersion(p) ?? "not installed"}`).join(" ")}`,
    `platform -> system:${platform()} arch:${arch()} kernel version:${release()}`,
    `loader   -> ${appModule ?? "(no -A module)"}`,
    `settings -> transport:${maskUrl(app.settings.brokerUrl)} results:${maskUrl(app.settings.resultBackend)}`,
    "",
    ...(settings.length ? settings : ["(all settings at their defaults)"]),
    "",
  ].join("\n");
}
