// Notices a consumer that RabbitMQ has stopped serving without saying so.
// Seen after a cluster failover: the worker consumed again on another node
// ("restored"), the quorum queue held ready messages, and nothing arrived for
// minutes (docs/high-availability.md). A consumer with room in its prefetch
// window and a queue with ready messages should not stay apart: when an idle
// consumer's queue shows ready messages at two checks in a row, `timeoutMs`
// apart, with no delivery between them, the consumer is declared stalled and
// the caller consumes again. Only the decision is here; the checks (a passive
// queue.declare) and the new basic.consume are the consumer's.

interface QueueState {
  /** The last delivery, or the start of consuming, ms. */
  lastActivity: number;
  /** The last check, ms (0: none yet). */
  lastCheck: number;
  /** Whether the last check found ready messages, with no delivery since. */
  readySeen: boolean;
}

export class StallWatch {
  private readonly queues = new Map<string, QueueState>();

  constructor(private readonly timeoutMs: number) {}

  private state(queue: string, now: number): QueueState {
    let s = this.queues.get(queue);
    if (!s) this.queues.set(queue, (s = { lastActivity: now, lastCheck: 0, readySeen: false }));
    return s;
  }

  /** A delivery arrived, or consuming (re)started: the queue is served. */
  served(queue: string, now = Date.now()): void {
    const s = this.state(queue, now);
    s.lastActivity = now;
    s.readySeen = false;
  }

  /** The queues, of those consumed, that have had no delivery for a while and are due a check. */
  due(queues: readonly string[], now = Date.now()): string[] {
    if (this.timeoutMs <= 0) return [];
    return queues.filter((q) => {
      const s = this.state(q, now);
      return now - s.lastActivity >= this.timeoutMs && now - s.lastCheck >= this.timeoutMs;
    });
  }

  /** Records a check's count of ready messages; true when the consumer is stalled (consume again). */
  checked(queue: string, ready: number, now = Date.now()): boolean {
    const s = this.state(queue, now);
    s.lastCheck = now;
    const stalled = ready > 0 && s.readySeen;
    s.readySeen = ready > 0 && !stalled;
    return stalled;
  }

  forget(queue: string): void {
    this.queues.delete(queue);
  }
}
