// Celery's classic Flask scenario in Express 5: the request sends a task and
// returns its id at once (202 Accepted); the client asks for the state and
// result later. The work itself runs in a worker process:
//
//   npx celeriac -A examples/express/tasks.ts worker -l info
//   npx tsx examples/express/server.ts
//   curl -X POST localhost:3000/tasks/add -H 'content-type: application/json' -d '{"x": 2, "y": 3}'
//   curl localhost:3000/tasks/<id>
//   open http://localhost:3000/ (an import with a progress bar, over Server-Sent Events)
import express, { type NextFunction, type Request, type Response } from "express";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { AddressInfo } from "node:net";
import { States } from "celeriac";
import { add, app as celeriac, importRows, sendSms } from "./tasks.js";

const page = readFileSync(new URL("./progress.html", import.meta.url), "utf8");

export function createServer(): express.Express {
  const web = express();
  web.use(express.json({ limit: "100kb" }));

  web.post("/tasks/add", async (req: Request, res: Response) => {
    const { x, y } = req.body ?? {};
    if (typeof x !== "number" || typeof y !== "number") {
      res.status(400).json({ error: "x and y must be numbers" });
      return;
    }
    const result = add.delay(x, y);
    await result.sent; // the broker has it: safe to hand out the id
    res.status(202).location(`/tasks/${result.id}`).json({ task_id: result.id });
  });

  web.post("/sms", async (req: Request, res: Response) => {
    const { phone, text } = req.body ?? {};
    if (typeof phone !== "string" || typeof text !== "string") {
      res.status(400).json({ error: "phone and text must be strings" });
      return;
    }
    const result = sendSms.delay(phone, text);
    await result.sent;
    res.status(202).location(`/tasks/${result.id}`).json({ task_id: result.id });
  });

  web.get("/", (_req: Request, res: Response) => {
    res.type("html").send(page);
  });

  web.post("/imports", async (req: Request, res: Response) => {
    const rows = req.body?.rows;
    if (!Number.isInteger(rows) || rows < 1 || rows > 1000) {
      res.status(400).json({ error: "rows must be an integer from 1 to 1000" });
      return;
    }
    const result = importRows.delay(rows);
    await result.sent;
    res.status(202).location(`/tasks/${result.id}`).json({ task_id: result.id });
  });

  // Every state of the task as it is stored, as Server-Sent Events: "progress" events
  // ({ current, total, percent }), then one "done" event, and the stream ends.
  web.get("/tasks/:id/events", async (req: Request<{ id: string }>, res: Response) => {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
    const gone = new AbortController();
    res.on("close", () => gone.abort());
    const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    const result = celeriac.AsyncResult(req.params.id);
    try {
      for await (const meta of result.updates({ signal: gone.signal, timeout: 10 * 60_000 })) {
        const p = result.progress;
        if (p) send("progress", { state: meta.status, current: p.current, total: p.total, percent: p.total ? Math.round((100 * p.current) / p.total) : 0 });
        else if (meta.status === States.SUCCESS) send("done", { state: meta.status, result: meta.result });
        else if (meta.status === States.FAILURE || meta.status === States.REVOKED) {
          const err = result.result as Error;
          send("done", { state: meta.status, error: { type: err.name, message: err.message } });
        } else send("state", { state: meta.status });
      }
    } catch (err) {
      send("unavailable", { error: (err as Error).message });
    }
    res.end();
  });

  web.get("/tasks/:id", async (req: Request<{ id: string }>, res: Response) => {
    const result = celeriac.AsyncResult(req.params.id);
    await result.refresh();
    const state = result.state;
    const body: Record<string, unknown> = { task_id: result.id, state, ready: [States.SUCCESS, States.FAILURE, States.REVOKED].includes(state as never) };
    if (state === States.SUCCESS) body.result = result.result;
    if (state === States.FAILURE || state === States.REVOKED) {
      const err = result.result as Error;
      body.error = { type: err.name, message: err.message };
    }
    res.json(body);
  });

  // Express 5 passes rejected promises here.
  web.use((err: Error, _req: Request, res: Response, _next: NextFunction) => {
    res.status(500).json({ error: err.message });
  });
  return web;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const server = createServer().listen(Number(process.env.PORT ?? 3000), "127.0.0.1", () => {
    const { port } = server.address() as AddressInfo;
    console.log(`express example listening on http://127.0.0.1:${port}`);
  });
  const stop = () => server.close(() => void celeriac.close().then(() => process.exit(0)));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}
