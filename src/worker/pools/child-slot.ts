// One pool child and its window: the tasks it holds, in the order sent (the
// first runs, the others wait behind it), and those handed to it this turn that
// go out together in one message at the end of the turn. A task waiting in the
// window can be taken back while it is still ours to take: not sent yet, or
// sent with a claim that this side takes first (see claims.ts).
import type { LongTimeout } from "../../util/long-timer.js";
import type { PoolJob, PoolOutcome } from "../pool.js";
import type { ChildTask } from "../child.js";
import type { ChildHandle } from "./child-handle.js";
import { takeClaim, type ClaimDirectory } from "./claims.js";

/** Tasks a child holds: the one it runs and those waiting behind it. */
export const WINDOW = 4;

/** A task handed to the pool, while it is in a window or waits for one. */
export interface Assigned {
  seq: number;
  job: PoolJob;
  resolve: (o: PoolOutcome) => void;
  /** Set when it was sent to a busy child: whoever takes it first runs it. */
  claim: string | null;
  /** When it became the child's running task (the previous one answered), ms; null while it waits. */
  started: number | null;
  timer: LongTimeout | null;
}

/** How a waiting task was taken back: before it was sent, by its claim (released once the child passes it), or not (it started, or may have). */
export type TakenBack = { how: "unsent" } | { how: "claimed"; claim: string } | null;

export class ChildSlot {
  child!: ChildHandle;
  ready = false;
  /** Set when we stop the child on purpose: its exit is not a loss. */
  retiring = false;
  /** In the order sent; the first is running. */
  readonly held: Assigned[] = [];
  /** Tasks waiting to be sent at the end of this turn. */
  private readonly outbox: Assigned[] = [];
  tasksRun = 0;
  tasksAssigned = 0;

  /** How many more tasks it may take now (none while it starts or retires, nor past its quota). */
  room(maxTasksPerChild: number | null | undefined): number {
    if (!this.ready || this.retiring) return 0;
    const quota = maxTasksPerChild ? maxTasksPerChild - this.tasksAssigned : Infinity;
    return Math.max(0, Math.min(WINDOW - this.held.length, quota));
  }

  /** Adds a task to the window: one handed to a busy child gets a claim, the one a free child gets starts at once. */
  hold(a: Assigned, claims: ClaimDirectory): void {
    a.claim = this.held.length ? claims.newClaim() : null;
    this.held.push(a);
    this.outbox.push(a);
    this.tasksAssigned++;
  }

  /** Takes a waiting task out of the window, when it is still ours to take. */
  takeBack(a: Assigned): TakenBack {
    let taken: TakenBack;
    const queued = this.outbox.indexOf(a);
    if (queued >= 0) {
      this.outbox.splice(queued, 1);
      taken = { how: "unsent" };
    } else {
      if (a.claim === null || takeClaim(a.claim) !== "taken") return null;
      taken = { how: "claimed", claim: a.claim };
    }
    this.remove(a);
    this.tasksAssigned--;
    a.claim = null;
    a.started = null;
    return taken;
  }

  /** Drops a task from the window (it answered, failed a time limit, or could not be sent). */
  remove(a: Assigned): void {
    const i = this.held.indexOf(a);
    if (i >= 0) this.held.splice(i, 1);
  }

  /** Empties the window (the child exited): each task, and whether it was never sent. */
  drain(): { a: Assigned; unsent: boolean }[] {
    const unsent = new Set(this.outbox.splice(0));
    return this.held.splice(0).map((a) => ({ a, unsent: unsent.has(a) }));
  }

  /** Sends what the window got this turn in one message; `failed` gets each task that cannot be sent (the rest go alone). */
  send(failed: (a: Assigned, err: Error) => void): void {
    if (!this.outbox.length) return;
    const batch = this.outbox.splice(0);
    const tasks: ChildTask[] = batch.map((a) => ({ seq: a.seq, claim: a.claim, request: a.job.request }));
    try {
      this.child.send({ type: "run", tasks });
    } catch {
      // One of them cannot be sent: each alone, so only that one fails.
      for (let i = 0; i < batch.length; i++) {
        try {
          this.child.send({ type: "run", tasks: [tasks[i]!] });
        } catch (err) {
          failed(batch[i]!, err as Error);
        }
      }
    }
  }
}
