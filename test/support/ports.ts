// Ports for servers a test starts itself (a private redis-server, a proxy).
// A fixed port collides when two test files, or two checkouts on one machine,
// run at the same time; the kernel hands out one nobody holds.
import { createServer } from "node:net";

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
