// The demo's tasks, in the shape of Celery's proj/tasks.py. With no broker or
// backend given, both default to the embedded SQLite file ./celeriac.db.
import { Celeriac, type TaskContext } from "celeriac";

export const app = new Celeriac({ name: "demo" });

export const add = app.task("demo.add", (x: number, y: number) => x + y);

export const divide = app.task("demo.divide", (x: number, y: number) => {
  if (y === 0) throw new RangeError("division by zero");
  return x / y;
});

// A bound task: `this` is the task context. It fails on its first attempt and
// asks to be retried half a second later.
export const flaky = app.task({ name: "demo.flaky", bind: true, maxRetries: 3 }, function (this: TaskContext, job: string) {
  if (this.request.retries === 0) this.retry({ countdown: 0.5, exc: new Error("service unavailable") });
  return `${job} done on attempt ${this.request.retries + 1}`;
});

// Keyword arguments arrive as one final object argument.
export const greet = app.task({ name: "demo.greet", params: ["name", "greeting"] }, (name: string, greeting: string = "Hello") => `${greeting}, ${name}!`);
