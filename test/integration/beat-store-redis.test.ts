import { after, describe } from "node:test";
import { RedisBeatStore } from "../../src/beat/stores/redis.js";
import { beatStoreConformance } from "../support/beat-store-suite.js";
import { REDIS_TEST_URL, deleteKeys, redisAvailable } from "../support/beat-redis.js";

if (await redisAvailable()) {
  after(() => deleteKeys("celeriac:beat:{conf-*"));
  beatStoreConformance("redis", { make: async (namespace) => new RedisBeatStore(REDIS_TEST_URL, { namespace }) });
} else {
  describe("BeatStore conformance: redis", { skip: `no Redis at ${REDIS_TEST_URL} (CI=true makes this a failure)` }, () => {});
}
