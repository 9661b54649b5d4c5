// Every state stored for a task, as it is stored: the Redis result backend
// publishes each write on the task's channel (Celery's RedisBackend.set does
// too, so a Python worker's update_state is heard the same way). Watches have
// a subscriber connection of their own, so they never disturb the
// subscriptions of waiting get() calls, which come and go per result.
import type { Redis } from "ioredis";
import { OpenedOnce } from "../util/opened-once.js";
import type { ResultMeta } from "./backend.js";

export class RedisStateWatch {
  private readonly listeners = new Map<string, Set<(meta: ResultMeta) => void>>();
  private readonly subscriber: OpenedOnce<Redis>;

  constructor(
    open: () => Promise<Redis>,
    private readonly channelPrefix: string,
    private readonly parse: (text: string) => ResultMeta | null,
  ) {
    this.subscriber = new OpenedOnce<Redis>(
      async () => {
        const sub = await open();
        sub.on("message", (channel: string, text: string) => this.deliver(channel, text));
        return sub;
      },
      (sub) => sub.disconnect(),
    );
  }

  /** Calls `onMeta` with every state published for the task; resolves once subscribed, with what stops it. */
  async watch(taskId: string, onMeta: (meta: ResultMeta) => void): Promise<() => void> {
    const sub = await this.subscriber.get();
    let set = this.listeners.get(taskId);
    const first = !set;
    if (!set) this.listeners.set(taskId, (set = new Set()));
    set.add(onMeta);
    if (first) await sub.subscribe(this.channelPrefix + taskId);
    return () => {
      const s = this.listeners.get(taskId);
      if (!s?.delete(onMeta) || s.size) return;
      this.listeners.delete(taskId);
      void sub.unsubscribe(this.channelPrefix + taskId).catch(() => {});
    };
  }

  private deliver(channel: string, text: string): void {
    const set = this.listeners.get(channel.slice(this.channelPrefix.length));
    if (!set) return;
    const meta = this.parse(text);
    if (meta) for (const cb of [...set]) cb(meta);
  }

  async close(): Promise<void> {
    this.listeners.clear();
    await this.subscriber.close();
  }
}
