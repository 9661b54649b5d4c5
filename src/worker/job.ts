// One task message as the worker holds it, from the moment it is checked on
// arrival until its outcome is recorded and the message settled.
import type { Delivery } from "../brokers/broker.js";
import { logSafe } from "../log.js";
import type { TaskMessage } from "../protocol/message.js";
import type { Task, TaskRequest } from "../task.js";

export interface Job {
  delivery: Delivery;
  msg: TaskMessage;
  task: Task;
  request: TaskRequest;
  /** Acked after the task ran (at least once) rather than when it starts (at most once). */
  acksLate: boolean;
  /** Whether the message is acked: an acked job's lease is no longer renewed, and a lost one is not redelivered. */
  acked: boolean;
  /** When it expires (epoch ms; null: never): checked on arrival and again just before it starts. */
  expiresAt: number | null;
  /** When the pool started it (epoch seconds), for inspect. */
  timeStart?: number;
}

/** What a worker has done since it started, by outcome (inspect stats, heartbeats). */
export interface TaskCounts {
  processed: number;
  succeeded: number;
  failed: number;
  retried: number;
}

/** A job's task name and id as a log line prints them. */
export function nameOf(job: Job): string {
  return `${logSafe(job.request.task)}[${logSafe(job.request.id)}]`;
}
