// Where a queue's keys are on the server. On one server, and on a cluster in
// one slot (a hash-tagged globalKeyprefix, which the client puts before every
// key), they are kombu's names (keys.ts) and the unacked keys are shared by
// every queue. Sharded by queue (the shardByQueue transport option, Celeriac
// only), each queue's keys, its unacked ones included, start with a hash tag
// of the queue's name, `{<queue>}`: each queue is in a slot of its own, so
// queues spread over the masters of a cluster, and every script and
// transaction touches one queue's keys only.
import { ConfigurationError } from "../../errors.js";
import { listKey, scheduleKey } from "./keys.js";

export interface LeaseKeyNames {
  unacked: string;
  index: string;
  mutex: string;
}

export class KeyLayout {
  constructor(
    /** Each queue under a hash tag of its own. */
    readonly byQueue: boolean,
    private readonly lease: LeaseKeyNames,
  ) {}

  /**
   * A queue name that a hash tag can hold: without braces (the tag would end
   * early, and two queues could share a slot unknowingly). Thrown at publish
   * and fetch, so a bad name fails its own call only.
   */
  check(queue: string): void {
    if (this.byQueue && /[{}]/.test(queue))
      throw new ConfigurationError(`queue name ${JSON.stringify(queue)} holds a brace, which shardByQueue cannot put under a hash tag`);
  }

  private tag(queue: string): string {
    return this.byQueue ? `{${queue}}` : "";
  }

  list(queue: string, step: number): string {
    return this.tag(queue) + listKey(queue, step);
  }

  schedule(queue: string): string {
    return this.tag(queue) + scheduleKey(queue);
  }

  unacked(queue: string): string {
    return this.tag(queue) + this.lease.unacked;
  }

  index(queue: string): string {
    return this.tag(queue) + this.lease.index;
  }

  mutex(queue: string): string {
    return this.tag(queue) + this.lease.mutex;
  }

  /** The queues whose keys share a slot, in their order: all of them together, or each alone when sharded. */
  groups(queues: readonly string[]): (readonly string[])[] {
    return this.byQueue ? queues.map((q) => [q]) : [queues];
  }

  /** Which slot group a queue's keys are in ("" for all of them when not sharded). */
  groupOf(queue: string): string {
    return this.byQueue ? queue : "";
  }
}
