// The benchmark's tasks: a no-op, so the figures measure the queue itself.
// Plain JavaScript importing the built package, as a deployed app runs.
import { Celeriac } from "celeriac";

export const app = new Celeriac({ name: "bench" });
export const noop = app.task("bench.noop", () => null);
