// The Celeriac side of the AMQP interop tests: the same queues, exchanges and
// task names as test/interop/py-amqp/interop_tasks.py, configured from the
// environment (each test run has queues of its own).
import { Celeriac, type TaskContext } from "../../src/index.js";

const env = (name: string) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const queue = env("INTEROP_QUEUE");

export const app = new Celeriac({
  name: "interop",
  broker: env("INTEROP_AMQP_URL"),
  backend: process.env.INTEROP_BACKEND ?? "rpc://",
  taskDefaultQueue: queue,
  taskDefaultExchange: queue,
  taskDefaultRoutingKey: queue,
  taskQueueMaxPriority: 10,
  taskQueues: [
    { name: queue, exchange: queue, routingKey: queue },
    { name: env("INTEROP_TOPIC_QUEUE"), exchange: env("INTEROP_TOPIC_EXCHANGE"), exchangeType: "topic", routingKey: "reports.#" },
  ],
});

let order = 0;

app.task("interop.add", (x: number, y: number) => x + y);
app.task({ name: "interop.echo", bind: true, kwargsAsObject: true }, function (this: TaskContext) {
  return { args: this.request.args, kwargs: this.request.kwargs };
});
// Our kwargs convention: non-empty kwargs arrive as one extra, final object argument.
app.task({ name: "interop.kw", kwargsAsObject: true }, (a: number, kwargs?: Record<string, unknown>) => [a, kwargs ?? null]);
app.task("interop.boom", (message: string) => {
  const err = new Error(message);
  err.name = "ValueError";
  throw err;
});
app.task("interop.block", async (seconds: number) => {
  await new Promise((r) => setTimeout(r, seconds * 1000));
  return seconds;
});
app.task("interop.mark", (tag: string) => [order++, tag]);
app.task({ name: "interop.where", bind: true }, function (this: TaskContext) {
  return { exchange: this.request.deliveryInfo.exchange, routing_key: this.request.deliveryInfo.routing_key };
});
app.task({ name: "interop.who", bind: true }, async function (this: TaskContext, seconds: number) {
  await new Promise((r) => setTimeout(r, seconds * 1000));
  return this.request.hostname;
});
