// A private RabbitMQ node for tests that stop or kill the broker: its own
// name, listener, distribution port and data folder, so the machine's shared
// server on 5672 is never touched. Boots in about 15 s on a 2-core machine:
// start one per test file and reuse it. Stopped (or killed) when the file ends.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { startProcess, type RunningProcess } from "./processes.js";
import { rabbitAnswers } from "./amqp.js";
import { waitUntil } from "./wait.js";

export interface OwnRabbit {
  nodeName: string;
  url: string;
  /** Boots the node (again) and waits until it accepts AMQP connections. */
  start(): Promise<void>;
  /** `rabbitmqctl -n NODE stop`: a clean shutdown. */
  stop(): Promise<void>;
  /** SIGKILL of the node's whole process group (beam and its helpers), as a crash or an OOM kill would. */
  kill(): Promise<void>;
}

export interface OwnRabbitOptions {
  nodeName: string;
  port: number;
  distPort: number;
}

/** Starts a private RabbitMQ node (e.g. rabbitfault@localhost on 5680, dist port 25680). */
export async function startOwnRabbit(opts: OwnRabbitOptions): Promise<OwnRabbit> {
  const base = mkdtempSync(join(tmpdir(), `celeriac-${opts.nodeName.split("@")[0]}-`));
  const config = join(base, "rabbitmq.conf");
  // The machine's /etc/rabbitmq/rabbitmq.conf names 5672; a node's own file wins over RABBITMQ_NODE_PORT.
  writeFileSync(config, `listeners.tcp.local = 127.0.0.1:${opts.port}\nloopback_users.guest = true\n`);
  const plugins = join(base, "enabled_plugins");
  writeFileSync(plugins, "[].\n"); // no management plugin: it would take the shared 15672
  for (const d of ["mnesia", "log"]) mkdirSync(join(base, d));
  // rabbitmq-server drops to the rabbitmq user, which must own every folder it writes.
  execFileSync("chown", ["-R", "rabbitmq:rabbitmq", base]);
  const env = {
    RABBITMQ_NODENAME: opts.nodeName,
    RABBITMQ_DIST_PORT: String(opts.distPort),
    RABBITMQ_CONFIG_FILE: config,
    RABBITMQ_ENABLED_PLUGINS_FILE: plugins,
    RABBITMQ_MNESIA_BASE: join(base, "mnesia"),
    RABBITMQ_LOG_BASE: join(base, "log"),
    RABBITMQ_PID_FILE: join(base, "mnesia", "node.pid"),
    RABBITMQ_FEATURE_FLAGS_FILE: join(base, "mnesia", "feature_flags"),
  };
  const url = `amqp://guest:guest@127.0.0.1:${opts.port}//`;
  let proc: RunningProcess | null = null;
  const running = () => proc !== null && proc.proc.exitCode === null && proc.proc.signalCode === null;

  const own: OwnRabbit = {
    nodeName: opts.nodeName,
    url,
    async start() {
      if (running()) return;
      if (await rabbitAnswers(url, 500)) throw new Error(`port ${opts.port} is taken: not starting ${opts.nodeName}`);
      // As the rabbitmq user without su: su starts a new session, and the node would escape the group kill.
      const p = startProcess("setpriv", ["--reuid=rabbitmq", "--regid=rabbitmq", "--init-groups", "/usr/lib/rabbitmq/bin/rabbitmq-server"], {
        cwd: "/var/lib/rabbitmq",
        env: { ...env, HOME: "/var/lib/rabbitmq" },
      });
      proc = p;
      await waitUntil(
        () => `${opts.nodeName} to accept AMQP on ${opts.port}; output:\n${p.output().slice(-2000)}`,
        async () => {
          if (p.proc.exitCode !== null) throw new Error(`${opts.nodeName} exited while booting:\n${p.output().slice(-2000)}`);
          return rabbitAnswers(url, 500);
        },
        90_000,
        250,
      );
    },
    async stop() {
      const p = proc;
      if (!p || !running()) return;
      try {
        execFileSync("rabbitmqctl", ["-n", opts.nodeName, "stop"], { stdio: "ignore", timeout: 60_000 });
      } catch {
        p.signalGroup("SIGKILL");
      }
      await p.exited;
      proc = null;
    },
    async kill() {
      const p = proc;
      if (!p || !running()) return;
      p.signalGroup("SIGKILL");
      await p.exited;
      await waitUntil(`${opts.nodeName} to stop listening`, async () => !(await rabbitAnswers(url, 300)), 10_000, 50);
      proc = null;
    },
  };
  after(async () => {
    await own.stop();
    rmSync(base, { recursive: true, force: true });
  });
  await own.start();
  return own;
}
