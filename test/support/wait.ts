// Waiting for a named condition in tests, instead of sleeping a guessed amount.

/**
 * Resolves once `check` is true (it may be async), polling every `everyMs`;
 * rejects naming `what` (a string, or a function for a description made late)
 * after `timeoutMs`.
 */
export async function waitUntil(what: string | (() => string), check: () => boolean | Promise<boolean>, timeoutMs = 30_000, everyMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === "string" ? what : what()}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
