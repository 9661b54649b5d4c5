// The benchmark's tasks: a no-op, so the figures measure the queue itself.
import { Celeriac } from "../src/index.js";

export const app = new Celeriac({ name: "bench" });
export const noop = app.task("bench.noop", () => null);
