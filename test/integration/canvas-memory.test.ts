import { randomUUID } from "node:crypto";
import { canvasSuite } from "../support/canvas-suite.js";

const id = randomUUID();
canvasSuite("memory", () => ({ broker: `memory://canvas-${id}`, backend: `memory://canvas-${id}` }));
