// Who runs a task that waits in a pool child's window: the child, or the
// worker that takes it back. A pool child holds a few tasks ahead of the one it
// runs, so it never sits idle waiting for the worker's next message; but a task
// queued behind a long one must be able to move to a child that is free (fair
// dispatch, Celery's -O fair). A child blocked in synchronous code cannot be
// asked, so the decision needs a lock both sides can take without the other:
// the first to create the task's claim (mkdir, atomic on every filesystem)
// runs it. Only tasks sent to a busy child have a claim; the one a free child
// gets starts at once and is never taken back.
//
// The directory lives in /dev/shm where there is one (no disk writes), and goes
// with the pool. Its name carries the worker's pid: a worker killed with kill -9
// cannot remove its own, so the next pool on the machine removes those whose
// worker is gone.
import { mkdirSync, mkdtempSync, readdirSync, rmdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** How taking a claim went: taken, held by the other side already, or unknown (the directory is gone). */
export type ClaimResult = "taken" | "held" | "unknown";

/** Takes the claim at `path`. The child runs a task unless the claim is "held" (taken back by the worker). */
export function takeClaim(path: string): ClaimResult {
  try {
    mkdirSync(path);
    return "taken";
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EEXIST" ? "held" : "unknown";
  }
}

const PREFIX = "celeriac-pool-";

/** Whether a process exists (EPERM: it does, and is someone else's). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export class ClaimDirectory {
  private readonly dir: string;
  private next = 0;

  constructor() {
    this.dir = ClaimDirectory.make();
  }

  private static make(): string {
    for (const parent of ["/dev/shm", tmpdir()]) {
      try {
        ClaimDirectory.removeOrphans(parent);
        return mkdtempSync(join(parent, `${PREFIX}${process.pid}-`));
      } catch {
        // No /dev/shm (or not writable): the temporary directory.
      }
    }
    throw new Error("no directory for pool claims");
  }

  /** Removes the claim directories of workers that are gone (killed before they could). */
  private static removeOrphans(parent: string): void {
    for (const name of readdirSync(parent)) {
      const pid = name.startsWith(PREFIX) ? Number.parseInt(name.slice(PREFIX.length), 10) : NaN;
      if (Number.isInteger(pid) && pid > 0 && !alive(pid)) rmSync(join(parent, name), { recursive: true, force: true });
    }
  }

  /** A fresh claim path for a task sent to a busy child. */
  newClaim(): string {
    return join(this.dir, String(this.next++));
  }

  /** A claim nobody will look at again (its task is done, or the child skipped it). */
  release(path: string): void {
    try {
      rmdirSync(path);
    } catch {
      // Gone already.
    }
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
