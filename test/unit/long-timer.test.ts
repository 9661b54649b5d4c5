// setLongTimeout with node:test's mock timers: a delay past setTimeout's
// 2^31-1 ms fires when due, not at once, and clear() stops it at any link.
import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it, mock } from "node:test";
import { MAX_TIMEOUT_MS, setLongTimeout } from "../../src/util/long-timer.js";

const DAY = 86_400_000;

describe("setLongTimeout", () => {
  beforeEach(() => mock.timers.enable({ apis: ["setTimeout"] }));
  afterEach(() => mock.timers.reset());

  it("30 days: not fired at once, nor after the first 2^31-1 ms, fired when due", () => {
    let fired = 0;
    setLongTimeout(() => fired++, 30 * DAY);
    mock.timers.tick(1);
    assert.equal(fired, 0, "not at once");
    // Ticks end exactly where a link fires: Node 20's mock re-arms a timer set in a callback from the tick's end.
    mock.timers.tick(MAX_TIMEOUT_MS - 1);
    assert.equal(fired, 0, "not after one maximal timer");
    mock.timers.tick(30 * DAY - MAX_TIMEOUT_MS - 1);
    assert.equal(fired, 0, "not 1 ms early");
    mock.timers.tick(1);
    assert.equal(fired, 1, "when due");
    mock.timers.tick(100 * DAY);
    assert.equal(fired, 1, "once");
  });

  it("a short delay is one plain timer", () => {
    let fired = 0;
    setLongTimeout(() => fired++, 500);
    mock.timers.tick(499);
    assert.equal(fired, 0);
    mock.timers.tick(1);
    assert.equal(fired, 1);
  });

  it("clear() before the first link fires, and after it, stops it", () => {
    let fired = 0;
    const early = setLongTimeout(() => fired++, 60 * DAY);
    const later = setLongTimeout(() => fired++, 60 * DAY);
    early.clear();
    mock.timers.tick(MAX_TIMEOUT_MS + 1);
    later.clear();
    mock.timers.tick(100 * DAY);
    assert.equal(fired, 0);
  });
});
