// MinHeap: pops in order, and stays a heap when an item is removed from its middle.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MinHeap } from "../../src/util/heap.js";

describe("MinHeap", () => {
  it("pops in order after items are removed from anywhere in it", () => {
    const heap = new MinHeap<number>((a, b) => a - b);
    // A fixed shuffle of 0..99 (a multiplier coprime with 100), so a failure repeats.
    const items = Array.from({ length: 100 }, (_, i) => (i * 37) % 100);
    for (const n of items) heap.push(n);
    const removed = [0, 99, 50, 13, 77, 31];
    for (const n of removed)
      assert.equal(
        heap.remove((x) => x === n),
        n,
      );
    assert.equal(
      heap.remove((x) => x === 50),
      undefined,
      "gone already",
    );
    assert.equal(heap.size, 100 - removed.length);
    assert.equal(heap.values().length, heap.size);
    const popped: number[] = [];
    for (let n = heap.pop(); n !== undefined; n = heap.pop()) popped.push(n);
    assert.deepEqual(
      popped,
      items.filter((n) => !removed.includes(n)).sort((a, b) => a - b),
    );
  });
});
