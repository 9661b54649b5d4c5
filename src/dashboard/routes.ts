// How the dashboard's API is split by concern: each group of routes (beat,
// scheduled tasks, queues, workers, bulk actions) answers the requests it
// knows and leaves the rest to the next. The server checks auth and reads the
// JSON body (the CSRF guard) before any group sees a request.
import type { Celeriac } from "../app.js";
import type { Broker } from "../brokers/broker.js";
import type { ClusterView } from "./cluster.js";
import type { TaskHistory } from "./history.js";

/** What route groups act on: the app, the cluster view, the broker (once connected) and the history. */
export interface RouteContext {
  app: Celeriac;
  cluster: ClusterView;
  broker: () => Broker;
  history: TaskHistory | null;
  /** Writes the tasks changed since the last save to the history, so a query sees them. */
  saveHistory: () => void;
}
export interface ApiRequest {
  method: string;
  path: string;
  url: URL;
  /** The JSON body of a POST (`{}` for a GET). */
  body: Record<string, unknown>;
}

export interface RouteGroup {
  /** The reply (sent as JSON with status 200) for a request of this group; null when the request is not one of its own. */
  handle(req: ApiRequest): Promise<unknown> | null;
  close?(): Promise<void>;
}

/** The path's parameters when `re` matches it (each decoded), else null. */
export function params(re: RegExp, path: string): string[] | null {
  const m = re.exec(path);
  return m ? m.slice(1).map((p) => decodeURIComponent(p)) : null;
}
