// What the worker writes to the result backend: the result meta of a task
// message in each state, unless the task's result is ignored.
import type { Celeriac } from "../app.js";
import type { ResultBackend } from "../backends/backend.js";
import { resultMeta } from "../backends/result-meta.js";
import { serializeError, tracebackOf } from "../errors.js";
import type { TaskMessage } from "../protocol/message.js";
import type { ResultTuple } from "../result.js";
import { States } from "../states.js";
import type { Task } from "../task.js";
import { TASK_LOG_MAX_LINES, type TaskLogLine } from "./task-log.js";

export class ResultWriter {
  constructor(
    private readonly app: Celeriac,
    private readonly backend: () => ResultBackend,
    private readonly hostname: string,
  ) {}

  /** Whether this outcome's result is not stored (ignoreResult, unless it is an error to store anyway). */
  ignored(msg: TaskMessage, isError: boolean, task: Task | undefined = this.app.tasks.get(msg.headers.task)): boolean {
    if (!(msg.headers.ignore_result || (task?.options.ignoreResult ?? false))) return false;
    return !(isError && (task?.options.storeErrorsEvenIfIgnored ?? this.app.settings.taskStoreErrorsEvenIfIgnored));
  }

  /**
   * Stores the task's state; `queue` is where its message came from (an
   * extended result records it), `children` the results of the tasks it started.
   */
  async store(
    msg: TaskMessage,
    queue: string,
    status: string,
    result: unknown,
    traceback: string | null,
    isError = false,
    children?: readonly ResultTuple[],
  ): Promise<void> {
    if (this.ignored(msg, isError)) return;
    await this.write(msg, queue, msg.headers.id, status, result, traceback, children);
  }

  /**
   * Stores a state a running task gave itself, or another task id (Celery's
   * update_state: stored even when the result is ignored, as Celery's
   * store_result does not look at ignore_result).
   */
  async storeState(msg: TaskMessage, queue: string, taskId: string, state: string, meta: unknown): Promise<void> {
    await this.write(msg, queue, taskId, state, meta, null);
  }

  /** Keeps a task's log lines with its result, where the backend keeps logs (rpc:// does not: they are in the worker's log only). */
  async storeLog(taskId: string, lines: TaskLogLine[]): Promise<void> {
    await this.backend().appendLog?.(taskId, lines, TASK_LOG_MAX_LINES);
  }

  private async write(
    msg: TaskMessage,
    queue: string,
    taskId: string,
    status: string,
    result: unknown,
    traceback: string | null,
    children?: readonly ResultTuple[],
  ): Promise<void> {
    const h = msg.headers;
    const own = taskId === h.id;
    const meta = resultMeta({
      taskId,
      status,
      result,
      traceback,
      children: own ? children : undefined,
      groupId: own ? h.group : null,
      parentId: own ? h.parent_id : null,
      extended:
        own && this.app.settings.resultExtended ? { name: h.task, args: msg.args, kwargs: msg.kwargs, worker: this.hostname, retries: h.retries, queue } : null,
    });
    await this.backend().store(meta, { replyTo: msg.properties.reply_to ?? null, correlationId: own ? (msg.properties.correlation_id ?? h.id) : taskId });
  }

  /** Stores FAILURE with `err`, where it can: a failure to store is not reported again. */
  async storeFailure(msg: TaskMessage, queue: string, err: Error): Promise<void> {
    await this.store(msg, queue, States.FAILURE, serializeError(err), tracebackOf(err), true).catch(() => {});
  }

  /**
   * Stores FAILURE for a message that could not be decoded, under the id and
   * reply address read from its raw headers and properties.
   */
  async storeUnreadable(id: string, replyTo: string | null, correlationId: string, exc: Error): Promise<void> {
    await this.backend().store(resultMeta({ taskId: id, status: States.FAILURE, result: serializeError(exc), traceback: tracebackOf(exc) }), {
      replyTo,
      correlationId,
    });
  }
}
