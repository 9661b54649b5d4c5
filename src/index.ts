// Public API of the celeriac package.
export { Celeriac, matchRoutes, currentTask, type CeleriacOptions } from "./app.js";
export { Task, type TaskOptions, type ApplyOptions, type TaskContext, type TaskRequest, type RetryOptions, type TaskHooks, type TaskFunction } from "./task.js";
export { AsyncResult, type GetOptions, type Progress, type UpdatesOptions, type CollectOptions, type IterdepsOptions } from "./result.js";
export { type StateUpdate } from "./worker/task-report.js";
export { type TaskLogger, type TaskLogLine, type TaskLogLevel } from "./worker/task-log.js";
export { States, READY_STATES, type State } from "./states.js";
export * from "./errors.js";
export { type Settings, type TaskRoutes, type QueueDeclaration, type PublishRetryPolicy, defaultSettings } from "./config.js";
export { type Broker, type Delivery, type Route, type FetchOptions, type PublishOptions, type BrokerOptions } from "./brokers/broker.js";
export { createBroker, registerBroker } from "./brokers/index.js";
export { MemoryBroker } from "./brokers/memory.js";
export { SqliteBroker } from "./brokers/sqlite.js";
export { type ResultBackend, type ResultMeta, type BackendOptions } from "./backends/backend.js";
export { createBackend, registerBackend } from "./backends/index.js";
export { MemoryBackend } from "./backends/memory.js";
export { SqliteBackend } from "./backends/sqlite.js";
export { Worker, type WorkerOptions } from "./worker/worker.js";
export { type Pool, type PoolJob, type PoolOutcome } from "./worker/pool.js";
export { type Outcome } from "./worker/executor.js";
export { loadApp } from "./worker/load-app.js";
export * as protocol from "./protocol/index.js";
export { maskUrl } from "./url.js";
// Canvas: signatures and workflows (chain, group, chord, chunks, map/starmap).
export { Signature, type AnySignature, type FreezeOptions, type ResultHandle } from "./canvas/signature.js";
export {
  Chain,
  chain,
  Group,
  group,
  Chord,
  chord,
  chordSize,
  MapSignature,
  type MapKind,
  Chunks,
  chunks,
  GroupResult,
  type GroupMember,
} from "./canvas/index.js";
export { type FailedRequest } from "./canvas/errbacks.js";
export * from "./beat/index.js";
// Events and monitoring (Celery's event stream).
export { EventDispatcher } from "./events/dispatcher.js";
export { EventReceiver } from "./events/receiver.js";
export { State as EventState, workerAlive, type TaskState, type WorkerState, type TaskFilter } from "./events/state.js";
export { EVENT_EXCHANGE, type CeleryEvent } from "./events/event.js";
// The dashboard is imported from "celeriac/dashboard" (src/dashboard/index.ts).
// AMQP classes as types only: amqplib loads when an amqp:// or rpc:// URL is used, not on import.
export type { AmqpBroker, AmqpBrokerOptions } from "./brokers/amqp/index.js";
export type { RpcBackend } from "./backends/rpc.js";
