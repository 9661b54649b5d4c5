// The dashboard's JSON API, as `GET /api/` lists it (and docs/monitoring.md
// documents it): one table, so the index cannot drift from what is served.
export interface ApiRoute {
  method: "GET" | "POST";
  path: string;
  description: string;
}

export const API_ROUTES: readonly ApiRoute[] = [
  { method: "GET", path: "/api/", description: "this index" },
  { method: "GET", path: "/api/overview", description: "workers, queues, counts by state, chart series, task names" },
  { method: "GET", path: "/api/workers", description: "the workers seen, online or not, with pool, queues and prefetch" },
  { method: "GET", path: "/api/queues", description: "every known queue with its depth and consumers (measured now)" },
  {
    method: "GET",
    path: "/api/tasks?search=&name=&state=&worker=&since=&until=&limit=&offset=",
    description: "tasks from the history, newest first: { tasks, total, offset, limit }; search is a substring of id, name, args, result or error",
  },
  {
    method: "GET",
    path: "/api/tasks/<id>",
    description: "one task: events, stored result, args/kwargs as JSON, retry attempts, progress, logs, parent, root, children, traceback",
  },
  { method: "GET", path: "/api/stream", description: "Server-Sent Events: an `update` (overview and changed tasks) every second" },
  { method: "POST", path: "/api/tasks/<id>/revoke", description: 'revoke it; {"terminate": true} also stops it if running' },
  { method: "POST", path: "/api/tasks/<id>/retry", description: "send it again with the same arguments, as a new task: { id }" },
  { method: "POST", path: "/api/rate-limit", description: '{"task": "proj.add", "rate": "10/s"} on every worker; an empty rate removes it' },
  { method: "POST", path: "/api/workers/<hostname>/pool", description: '{"delta": 1} or {"delta": -1}: grow or shrink its pool by one' },
  {
    method: "POST",
    path: "/api/workers/<hostname>/pool-restart",
    description: "replaces every pool child (pool_restart): { restarted }; 409 for the async pool",
  },
  {
    method: "POST",
    path: "/api/workers/<hostname>/autoscale",
    description: '{"max": 4, "min": 1}: new autoscale bounds (Celery\'s autoscale); 409 for a worker started without --autoscale',
  },
  {
    method: "POST",
    path: "/api/workers/<hostname>/consumers",
    description: '{"queue": "q", "action": "add" | "cancel"}: add_consumer / cancel_consumer on that worker',
  },
  { method: "POST", path: "/api/workers/<hostname>/shutdown", description: "stops that worker (warm shutdown)" },
  {
    method: "GET",
    path: "/api/beat",
    description: "periodic tasks: { available, leader, entries: [{ name, task, schedule, enabled, source, lastRun, nextRun, lastTask }] }",
  },
  {
    method: "POST",
    path: "/api/beat/entries",
    description: '{"name", "task", "schedule": "every 30s" or a cron pattern, "args", "kwargs", "queue", "enabled"}: adds or replaces a stored entry',
  },
  { method: "POST", path: "/api/beat/entries/<name>/enable", description: "sends its ticks again (an entry of the app's settings is overridden in the store)" },
  { method: "POST", path: "/api/beat/entries/<name>/disable", description: "keeps the entry, sends nothing for it" },
  { method: "POST", path: "/api/beat/entries/<name>/run", description: "sends its task now, as a new task: { id }" },
  { method: "POST", path: "/api/beat/entries/<name>/remove", description: "removes a stored entry (409 for one of the app's settings)" },
  {
    method: "GET",
    path: "/api/scheduled",
    description: "countdown/ETA tasks waiting in the broker, per queue: { supported, reason, queues: [{ name, total, tasks }] } (not on AMQP)",
  },
  { method: "POST", path: "/api/scheduled/<queue>/<id>/run", description: "makes the waiting task due now" },
  { method: "POST", path: "/api/scheduled/<queue>/<id>/revoke", description: "revokes it and hands it to a worker now, which records REVOKED" },
  { method: "POST", path: "/api/queues/<name>/purge", description: "deletes every task waiting in the queue: { purged }" },
  { method: "POST", path: "/api/queues/<name>/pause", description: "cancel_consumer on every worker: the queue's tasks wait" },
  { method: "POST", path: "/api/queues/<name>/resume", description: "add_consumer on every worker" },
  {
    method: "POST",
    path: "/api/bulk/retry-failed",
    description:
      '{"search", "name", "worker", "since", "until"} (the list\'s filter): sends every failed task it finds again (at most 1000): { retried, ids, errors }',
  },
  {
    method: "POST",
    path: "/api/bulk/revoke-waiting",
    description: '{"task": "proj.add"}: revokes every waiting task of that name (events and ETA tasks in the broker): { revoked }',
  },
  {
    method: "POST",
    path: "/api/bulk/clean",
    description: '{"olderThanSeconds": 86400}: removes finished tasks last seen before then from the history: { removed }',
  },
  { method: "GET", path: "/metrics", description: "Prometheus metrics" },
];
