// Headless Chromium (Debian's) for the tests that drive a page as a person
// would: a fresh profile each time, no network chatter of its own. Missing, a
// test skips locally and fails under CI=true.
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Dialog, type Page } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";
export const haveChromium = existsSync(CHROMIUM);
/** The `skip` of a describe that needs the browser: false in CI, where a missing browser must fail. */
export const skipWithoutChromium: string | false = !haveChromium && process.env.CI !== "true" ? "chromium is not installed (apt-get install chromium)" : false;

export function launchChromium(viewport = { width: 1600, height: 1000 }): Promise<BrowserContext> {
  if (!haveChromium) throw new Error(`${CHROMIUM} is missing: CI installs Debian's chromium package`);
  return chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "celeriac-chromium-")), {
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport,
  });
}

/**
 * A new page that records the page's own errors (a test asserts none) and,
 * with `onDialog`, answers its dialogs (a confirm before a purge, say).
 */
export async function openPage(browser: BrowserContext, onDialog?: (d: Dialog) => void): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  if (onDialog) page.on("dialog", onDialog);
  return { page, errors };
}

/** Accepts every confirm the page asks. */
export const acceptDialog = (d: Dialog) => void d.accept();
