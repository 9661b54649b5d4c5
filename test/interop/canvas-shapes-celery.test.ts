// Nested canvas shapes started by a real Python Celery 5.2.6 producer on a
// Celeriac worker over Redis: a chord body that is a chain of one chain, a
// chain ending in a group as a chord header part, and replacements by an
// empty chain (Celery's ImproperlyConfigured) and an empty group. Redis and
// Python are required under CI=true.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startMixedWorkers, type MixedWorkers, type PyOutcome } from "../support/mixed-workers.js";
import { pythonCeleryAvailable } from "../support/python.js";
import { redisAvailable, redisUrl } from "../support/redis.js";

const REDIS = redisUrl(15);
const available = (await redisAvailable()) && (await pythonCeleryAvailable());

describe("nested canvas shapes from Python Celery 5.2.6 over Redis", { skip: !available }, () => {
  let workers: MixedWorkers;
  let out: Record<string, PyOutcome>;

  before(async () => {
    workers = await startMixedWorkers("shapes", REDIS);
    out = await workers.produce("shapes_produce.py");
  });
  after(async () => {
    await workers?.stop();
  });

  it("a chord body written as a chain of one chain gets the header results once", () => {
    assert.deepEqual(out.chain_of_chain_body, { state: "SUCCESS", result: 12 });
  });

  it("a chain ending in a group in a chord header is one part: the group's list", () => {
    assert.deepEqual(out.group_tail_header, { state: "SUCCESS", result: [[42, 42]] });
  });

  it("replaced by an empty chain: Python catches ImproperlyConfigured; by an empty group: []", () => {
    assert.deepEqual(out.empty_chain, { state: "FAILURE", type: "ImproperlyConfigured", message: "Cannot replace with an empty chain" });
    assert.deepEqual(out.empty_group, { state: "SUCCESS", result: [] });
  });
});
