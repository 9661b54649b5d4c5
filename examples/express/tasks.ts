// The tasks of the Express example: the web process sends them, a worker
// process runs them. Broker and results default to the embedded SQLite file;
// set CELERIAC_BROKER_URL / CELERIAC_RESULT_BACKEND for Redis or RabbitMQ.
import { Celeriac } from "celeriac";

export const app = new Celeriac({ name: "web" });

export const add = app.task("web.add", (x: number, y: number) => x + y);

/** Stands in for a slow call to an SMS provider: the HTTP request must not wait for it. */
export const sendSms = app.task(
  { name: "web.sendSms", trackStarted: true, maxRetries: 3, retryBackoff: true },
  async (phone: string, text: string) => {
    const delayMs = Number(process.env.SMS_DELAY_MS ?? 2000);
    await new Promise((r) => setTimeout(r, delayMs));
    if (!/^\+?\d{6,15}$/.test(phone)) throw new RangeError(`not a phone number: ${phone}`);
    return { phone, chars: text.length, status: "delivered", at: new Date().toISOString() };
  },
);
