// Whether a promise has settled, asked synchronously. Many AsyncResults share
// one send promise (a batch of publishes), so each promise is watched once, by
// one reaction, not one per result: a loop of 50,000 sends then makes no
// closures per send for the collector to carry until the batch is written.
/** Watched promises: false while pending, true once settled. */
const settled = new WeakMap<Promise<unknown>, boolean>();

/** Starts watching `p` (once per promise); its rejection counts as handled here. */
export function watchSettled(p: Promise<unknown>): void {
  if (settled.has(p)) return;
  settled.set(p, false);
  const done = () => void settled.set(p, true);
  p.then(done, done);
}

/** True once a watched promise has resolved or rejected. */
export function isSettled(p: Promise<unknown>): boolean {
  return settled.get(p) === true;
}
