// `npm run bench [section...]`: runs each benchmark section (bench/<name>.ts
// exporting `run()`), in one process run so peers are measured side by side.
// Sections: sqlite, redis, redis-cluster, amqp, pool, dashboard. No argument: every section whose services answer.
import { existsSync } from "node:fs";

const all = ["sqlite", "redis", "redis-cluster", "amqp", "pool", "dashboard"];
const wanted = process.argv.slice(2).length ? process.argv.slice(2) : all;

for (const name of wanted) {
  const file = new URL(`./${name}.ts`, import.meta.url);
  if (!existsSync(file)) {
    console.log(`\n## ${name}: no benchmark yet`);
    continue;
  }
  const mod = (await import(file.href)) as { run: () => Promise<void> };
  console.log(`\n## ${name}`);
  await mod.run();
}
