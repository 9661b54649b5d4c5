import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it, mock } from "node:test";
import { LeaseTable } from "../../src/brokers/lease-table.js";

describe("LeaseTable", () => {
  beforeEach(() => mock.timers.enable({ apis: ["setTimeout", "Date"] }));
  afterEach(() => mock.timers.reset());

  const table = () => {
    const expired: string[] = [];
    return { leases: new LeaseTable<string>((v) => expired.push(v)), expired };
  };

  it("hands a lease back once its deadline passes, not before", () => {
    const { leases, expired } = table();
    leases.add("t1", "a", 1000);
    mock.timers.tick(999);
    assert.deepEqual(expired, []);
    mock.timers.tick(1);
    assert.deepEqual(expired, ["a"]);
    assert.equal(leases.size, 0);
    mock.timers.tick(5000);
    assert.deepEqual(expired, ["a"], "once only");
  });

  it("take removes a lease (ack): it never expires, and a second take finds nothing", () => {
    const { leases, expired } = table();
    leases.add("t1", "a", 1000);
    assert.equal(leases.take("t1"), "a");
    assert.equal(leases.take("t1"), undefined);
    mock.timers.tick(2000);
    assert.deepEqual(expired, []);
  });

  it("extend moves the deadline from now; other leases keep theirs", () => {
    const { leases, expired } = table();
    leases.add("t1", "a", 1000);
    leases.add("t2", "b", 1000);
    mock.timers.tick(800);
    leases.extend(["t1", "gone"], 1000);
    mock.timers.tick(200);
    assert.deepEqual(expired, ["b"]);
    mock.timers.tick(799);
    assert.deepEqual(expired, ["b"]);
    mock.timers.tick(1);
    assert.deepEqual(expired, ["b", "a"]);
  });

  it("serves leases of different lengths in deadline order", () => {
    const { leases, expired } = table();
    leases.add("long", "long", 3000);
    leases.add("short", "short", 1000);
    mock.timers.tick(1000);
    assert.deepEqual(expired, ["short"]);
    mock.timers.tick(2000);
    assert.deepEqual(expired, ["short", "long"]);
  });

  it("clear forgets every lease without handing any back", () => {
    const { leases, expired } = table();
    leases.add("t1", "a", 1000);
    leases.clear();
    mock.timers.tick(2000);
    assert.deepEqual(expired, []);
    assert.equal(leases.size, 0);
  });
});
