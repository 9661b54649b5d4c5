// setTimeout for any delay. Node's setTimeout takes at most 2^31-1 ms (about
// 24.8 days): a longer delay overflows, Node warns and fires it after 1 ms, so
// a task with a 30-day time limit would be stopped at once. Past that the wait
// is a chain of maximal timers, each re-armed for what is left.

/** The longest delay one setTimeout takes (ms). */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** A pending long timeout: clear() cancels it, whichever link of the chain is armed. */
export interface LongTimeout {
  clear(): void;
}

/**
 * Calls `fn` once after `ms` milliseconds, however long. The timer keeps the
 * process alive as a setTimeout does (unref() makes it not).
 */
export function setLongTimeout(fn: () => void, ms: number): LongTimeout & { unref(): LongTimeout } {
  let timer: NodeJS.Timeout;
  let unrefd = false;
  // Counted down link by link, not against the clock: a timer fires no earlier than asked.
  const arm = (left: number) => {
    timer = left > MAX_TIMEOUT_MS ? setTimeout(() => arm(left - MAX_TIMEOUT_MS), MAX_TIMEOUT_MS) : setTimeout(fn, left);
    if (unrefd) timer.unref();
  };
  arm(ms);
  const handle = {
    clear: () => clearTimeout(timer),
    unref: () => {
      unrefd = true;
      timer.unref();
      return handle;
    },
  };
  return handle;
}
