// A RabbitMQ cluster of the test's own: private nodes (startOwnRabbit: own
// names, listeners, distribution ports, data folders) booted side by side,
// then joined to the first with `rabbitmqctl join_cluster` (the nodes share
// the rabbitmq user's Erlang cookie). The machine's own rabbit@localhost is
// never touched. A cluster that does not form throws: a test that needs one
// fails loudly, never skips. Every node is stopped when the test file ends.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { freePort } from "./ports.js";
import { startOwnRabbit, type OwnRabbit } from "./rabbit.js";

const run = promisify(execFile);

export interface RabbitCluster {
  nodes: OwnRabbit[];
  /** Every node's URL as one failover list, the first node first. */
  url: string;
}

async function ctl(node: string, ...args: string[]): Promise<string> {
  const { stdout } = await run("rabbitmqctl", ["-n", node, ...args], { timeout: 120_000 });
  return stdout;
}

/** Boots `size` nodes named `<prefix>1@localhost`… and clusters them. */
export async function startRabbitCluster(prefix: string, size = 3): Promise<RabbitCluster> {
  const specs = await Promise.all(
    Array.from({ length: size }, async (_, i) => ({ nodeName: `${prefix}${i + 1}@localhost`, port: await freePort(), distPort: await freePort() })),
  );
  const nodes = await Promise.all(specs.map((s) => startOwnRabbit(s)));
  const first = nodes[0]!.nodeName;
  for (const node of nodes.slice(1)) {
    await ctl(node.nodeName, "stop_app");
    await ctl(node.nodeName, "join_cluster", first);
    await ctl(node.nodeName, "start_app");
  }
  const status = await ctl(first, "cluster_status", "--formatter", "json");
  const running = (JSON.parse(status) as { running_nodes?: string[] }).running_nodes ?? [];
  for (const n of nodes) if (!running.includes(n.nodeName)) throw new Error(`${n.nodeName} did not join the cluster: ${status}`);
  return { nodes, url: nodes.map((n) => n.url).join(";") };
}
