// Public API of celeriac/dashboard: a subpath of its own so that a producer
// importing "celeriac" does not load node:http and prom-client.
export { Dashboard, type DashboardOptions } from "./server.js";
