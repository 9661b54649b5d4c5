// The tasks of the Express example: the web process sends them, a worker
// process runs them. Broker and results default to the embedded SQLite file;
// set CELERIAC_BROKER_URL / CELERIAC_RESULT_BACKEND for Redis or RabbitMQ.
import { Celeriac, type TaskContext } from "celeriac";

export const app = new Celeriac({ name: "web" });

export const add = app.task("web.add", (x: number, y: number) => x + y);

/** A long import that says how far it got: this.progress() after each row, read by the web page over Server-Sent Events. */
export const importRows = app.task({ name: "web.importRows", bind: true }, async function (this: TaskContext, rows: number) {
  const rowMs = Number(process.env.IMPORT_ROW_MS ?? 300);
  for (let done = 1; done <= rows; done++) {
    await new Promise((r) => setTimeout(r, rowMs)); // stands in for the work of one row
    await this.progress(done, rows);
  }
  return { imported: rows };
});

/** Stands in for a slow call to an SMS provider: the HTTP request must not wait for it. */
export const sendSms = app.task({ name: "web.sendSms", trackStarted: true, maxRetries: 3, retryBackoff: true }, async (phone: string, text: string) => {
  const delayMs = Number(process.env.SMS_DELAY_MS ?? 2000);
  await new Promise((r) => setTimeout(r, delayMs));
  if (!/^\+?\d{6,15}$/.test(phone)) throw new RangeError(`not a phone number: ${phone}`);
  return { phone, chars: text.length, status: "delivered", at: new Date().toISOString() };
});
