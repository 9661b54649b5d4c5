import { app } from "./bench/redis/celeriac-app.js";
app.settings.brokerUrl = "redis://127.0.0.1:6379/14";
app.settings.resultBackend = "redis://127.0.0.1:6379/14";
const sent: Promise<void>[] = [];
for (let i = 0; i < 60000; i++) sent.push(app.sendTask("bench.noop", [i], undefined, { queue: "prof" }).sent);
await Promise.all(sent);
await app.close();
