import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { canvasSuite } from "../support/canvas-suite.js";

const dir = mkdtempSync(join(tmpdir(), "celeriac-canvas-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const url = `sqlite://${join(dir, "canvas.db")}`;
canvasSuite("sqlite", () => ({ broker: url, backend: url }));
