// Typed errors that Celeriac raises or re-creates. Each class sets `name` so
// that a stored FAILURE result carries the class name as Celery's `exc_type`,
// and `get()` on the other side can re-create the same class.
import type { Replacement } from "./canvas/replace.js";

export class CeleriacError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Configuration that cannot work: an unknown URL scheme, a bad setting value. */
export class ConfigurationError extends CeleriacError {}

/**
 * Celery's ImproperlyConfigured, stored under celery.exceptions so a Python
 * client catches its own class: a canvas used in a way Celery refuses (a task
 * replaced by an empty chain, or by a signature that is part of a chord).
 */
export class ImproperlyConfigured extends ConfigurationError {}

/**
 * A feature needs an npm package that is not installed (they are optional, so
 * a deployment installs only what its URLs use): ioredis for redis://,
 * amqplib for amqp:// and rpc://, better-sqlite3 for sqlite:// (the default
 * broker and backend), tsx for a .ts app module. The message names the
 * package and the command that adds it.
 */
export class PackageNotInstalled extends ConfigurationError {}

/**
 * A broker (or result backend) could not be reached. Celery raises kombu's
 * OperationalError here; the first connection is retried
 * (brokerConnectionRetryOnStartup) before this reaches the caller.
 */
export class BrokerConnectionError extends CeleriacError {}

/**
 * The broker refused our credentials (Redis WRONGPASS/NOAUTH, AMQP
 * ACCESS_REFUSED). Never retried: a wrong password does not get better by
 * waiting, so a worker stops with this at once instead of retrying forever.
 */
export class BrokerAuthenticationError extends BrokerConnectionError {}

/**
 * A SQLite file was migrated by a newer Celeriac than this one (its schema
 * version for the component is above the newest this code knows): opening
 * it could misread or damage the newer tables, so it is refused.
 */
export class SchemaTooNew extends CeleriacError {
  constructor(
    readonly path: string,
    readonly component: string,
    readonly found: number,
    readonly known: number,
  ) {
    super(`${path}: the ${component} schema is at version ${found}, newer than this Celeriac knows (${known}); upgrade Celeriac to open it`);
  }
}

/** A message names a task that no one registered on this worker. */
export class TaskNotRegistered extends CeleriacError {}

/** Two tasks were registered under one name. */
export class DuplicateTaskName extends CeleriacError {}

/** A message could not be decoded: bad envelope, bad body, unknown compression. */
export class DecodeError extends CeleriacError {}

/**
 * A message is compressed or serialized in a format Celery knows but this
 * install cannot read or write (its codec package is not installed, or
 * Celeriac has no codec for that direction): says which and what to do.
 */
export class CodecUnavailable extends DecodeError {}

/**
 * A signed ('auth') message failed verification: unsigned where signing is
 * required, a bad or tampered signature, an unknown or expired signer
 * certificate. Celery's celery.exceptions.SecurityError.
 */
export class SecurityError extends DecodeError {}

/** The message's content type is not in `acceptContent`. */
export class ContentDisallowed extends DecodeError {}

/** A message body is over the worker's message size limit (workerMessageSizeLimit), before or after decompression. */
export class MessageTooLarge extends DecodeError {}

/**
 * A value cannot be serialized (a BigInt, a circular structure, a value
 * msgpack cannot pack): kombu's kombu.exceptions.EncodeError. A task whose
 * result cannot be stored fails with it.
 */
export class EncodeError extends CeleriacError {}

/** A send option that cannot work (a negative or non-number time limit): refused at send. */
export class InvalidTaskOptions extends CeleriacError {}

/**
 * A task's `this.updateState()` or `this.progress()` that cannot be recorded
 * as given: no state name, a progress that is not finite numbers, or meta
 * that cannot cross from a pool child to its worker. Nothing is stored.
 */
export class InvalidStateUpdate extends CeleriacError {}

/** A retry could not be sent (its message could not be published): the task fails with it instead. */
export class RetryNotSent extends CeleriacError {}

/** `get({ timeout })` ran out of time before the task finished. */
export class TimeoutError extends CeleriacError {}

/** The hard time limit ran out: the task was stopped. */
export class TimeLimitExceeded extends CeleriacError {}

/** The soft time limit ran out: the task is asked to stop and may clean up. */
export class SoftTimeLimitExceeded extends CeleriacError {}

/** The worker process running the task died (killed, crashed, out of memory). */
export class WorkerLostError extends CeleriacError {}

/**
 * A task could not be handed to its pool child, or its outcome back to the
 * worker: the value cannot be cloned (a function, a symbol) or is nested too
 * deep even for the flattened form. The task fails; the slot is freed.
 */
export class HandOffError extends CeleriacError {}

/**
 * A task message could not be handed to the broker: every attempt of the
 * publish retry policy (taskPublishRetryPolicy) failed or got no answer in
 * taskPublishTimeout. `cause` is the last attempt's error. After a timeout
 * the message may still arrive (it was not confirmed, not surely lost).
 */
export class PublishError extends CeleriacError {
  /** The sends this error is about (one broker write carries every send of a tick). */
  readonly tasks: { task: string; taskId: string }[];
  /** How many attempts were made. */
  readonly attempts: number;
  constructor(message: string, opts: { cause?: unknown; tasks?: { task: string; taskId: string }[]; attempts?: number } = {}) {
    super(message, { cause: opts.cause });
    this.tasks = opts.tasks ?? [];
    this.attempts = opts.attempts ?? 0;
  }
}

/**
 * The broker refused a message it was sent: RabbitMQ answered a publish with
 * basic.nack (a full queue with x-overflow reject-publish, an internal error).
 * Only the sends it names are refused; a PublishError's `cause` when retries ran out.
 */
export class PublishNacked extends CeleriacError {}

/** The task was revoked before or while it ran. */
export class TaskRevokedError extends CeleriacError {}

/** Retries ran out; carries the last error as `cause`. */
export class MaxRetriesExceededError extends CeleriacError {}

/** A header task of a chord failed, so the chord's callback cannot run. */
export class ChordError extends CeleriacError {}

/**
 * `collect()`/`iterdeps()` met a result that is not ready while walking a
 * task's children, without `intermediate: true` (Celery's IncompleteStream).
 */
export class IncompleteStream extends CeleriacError {}

/**
 * `this.addToChord()` in a task that is not part of a chord. Named ValueError,
 * as Celery raises it: a Python client sees builtins.ValueError.
 */
export class NotInChordError extends CeleriacError {
  constructor(message = "Current task is not member of any chord") {
    super(message);
    this.name = "ValueError";
  }
}

/**
 * Thrown by `this.retry()` inside a task: control flow, not a failure. The
 * worker catches it and sends the task again after `countdown` seconds.
 */
export class Retry extends CeleriacError {
  readonly countdown: number | undefined;
  readonly eta: Date | undefined;
  readonly exc: unknown;
  /** Overrides the task's maxRetries for this decision; undefined: the task's own. */
  readonly maxRetries: number | null | undefined;
  constructor(message: string, opts: { countdown?: number; eta?: Date; exc?: unknown; maxRetries?: number | null } = {}) {
    super(message);
    this.countdown = opts.countdown;
    this.eta = opts.eta;
    this.exc = opts.exc;
    this.maxRetries = opts.maxRetries;
  }
}

/**
 * Thrown by a task to reject its message: with `requeue` the message goes back
 * to the queue, without it the message is dropped (state REJECTED).
 */
export class Reject extends CeleriacError {
  readonly requeue: boolean;
  constructor(reason = "rejected", opts: { requeue?: boolean } = {}) {
    super(reason);
    this.requeue = opts.requeue ?? false;
  }
}

/** Thrown by a task to stop without a result or a state change (Celery's Ignore). */
export class Ignore extends CeleriacError {}

/**
 * Thrown by `this.replace(sig)`: the task stops, and the worker sends the
 * replacement in its place (see canvas/replace.ts) before it settles the message.
 */
export class Replaced extends Ignore {
  constructor(readonly replacement: Replacement) {
    super(`replaced by ${replacement.signature.task}`);
  }
}

/** Re-created from a stored FAILURE whose class is not one of ours. */
export class RemoteTaskError extends Error {
  readonly excType: string;
  readonly excModule: string | undefined;
  readonly remoteTraceback: string | null;
  /**
   * The exception's arguments as the other side raised them (Python's
   * `exc.args`, Celery's `exc_message`): `message` is only their text.
   */
  readonly args: unknown[];
  constructor(excType: string, message: string, excModule?: string, traceback?: string | null, args: unknown[] = [message]) {
    super(message);
    this.name = excType;
    this.excType = excType;
    this.excModule = excModule;
    this.remoteTraceback = traceback ?? null;
    this.args = args;
  }
}

const knownErrors: Record<string, new (message: string) => Error> = {
  CeleriacError,
  ConfigurationError,
  ImproperlyConfigured,
  PackageNotInstalled,
  TaskNotRegistered,
  DuplicateTaskName,
  DecodeError,
  ContentDisallowed,
  MessageTooLarge,
  CodecUnavailable,
  SecurityError,
  TimeoutError,
  TimeLimitExceeded,
  SoftTimeLimitExceeded,
  WorkerLostError,
  TaskRevokedError,
  MaxRetriesExceededError,
  ChordError,
  IncompleteStream,
  Ignore,
  EncodeError,
  InvalidTaskOptions,
  RetryNotSent,
  HandOffError,
  PublishError,
};

// JS built-ins whose names match Python builtins (or are close enough that a
// Python client should see them as builtins).
const builtinNames = new Set([
  "Error",
  "TypeError",
  "ValueError",
  "RangeError",
  "KeyError",
  "IndexError",
  "RuntimeError",
  "ZeroDivisionError",
  "AttributeError",
  "NotImplementedError",
  "AssertionError",
  "OSError",
  "LookupError",
  "ArithmeticError",
  "Exception",
]);

// Our classes that are Celery's or kombu's own: stored under their module, a
// Python client re-raises its own class (celery.exceptions.ChordError, kombu.exceptions.EncodeError).
/**
 * Errors that are Celery's (or kombu's) own classes under the same name: stored
 * under Celery's module, so a Python client re-raises the real class (an
 * unknown module makes Celery invent a look-alike class that `except` misses).
 */
const celeryModules: Record<string, string> = {
  ChordError: "celery.exceptions",
  IncompleteStream: "celery.exceptions",
  TaskRevokedError: "celery.exceptions",
  TimeLimitExceeded: "celery.exceptions",
  SoftTimeLimitExceeded: "celery.exceptions",
  WorkerLostError: "celery.exceptions",
  MaxRetriesExceededError: "celery.exceptions",
  ImproperlyConfigured: "celery.exceptions",
  SecurityError: "celery.exceptions",
  EncodeError: "kombu.exceptions",
  DecodeError: "kombu.exceptions",
};

/** Celery's serialized exception: what a FAILURE result's `result` holds. */
export interface ExceptionInfo {
  exc_type: string;
  exc_message: unknown[];
  exc_module: string;
}

/**
 * What goes in `exc_message`: Celery stores `exc.args`, all of them, and a
 * Python client re-raises `cls(*exc_message)`. A JS error has only its
 * message, unless it carries an `args` array as Python's exceptions do
 * (a RemoteTaskError does; so can a task's own error class).
 */
function argsOf(err: Error): unknown[] {
  const args = (err as { args?: unknown }).args;
  return Array.isArray(args) ? args : [err.message];
}

export function serializeError(err: unknown): ExceptionInfo {
  if (err instanceof Error) {
    const name = err.name || "Error";
    if (err instanceof RemoteTaskError) {
      return { exc_type: err.excType, exc_message: argsOf(err), exc_module: err.excModule ?? "builtins" };
    }
    const isBuiltin = builtinNames.has(name) && !(name in knownErrors);
    // A ChordError is Celery's own class: under its module a Python client re-raises celery.exceptions.ChordError.
    const module = isBuiltin ? "builtins" : (celeryModules[name] ?? (name in knownErrors ? "celeriac.errors" : "celeriac.user"));
    return { exc_type: name === "Error" ? "Exception" : name, exc_message: argsOf(err), exc_module: module };
  }
  return { exc_type: "Exception", exc_message: [String(err)], exc_module: "builtins" };
}

function messageOf(excMessage: unknown): string {
  if (Array.isArray(excMessage)) {
    return excMessage.length === 1 ? String(excMessage[0]) : excMessage.map((m) => String(m)).join(", ");
  }
  if (excMessage === undefined || excMessage === null) return "";
  return String(excMessage);
}

/** Re-creates a stored exception: our own classes by name, anything else as RemoteTaskError. */
export function deserializeError(info: unknown, traceback?: string | null): Error {
  if (info && typeof info === "object" && "exc_type" in info) {
    const { exc_type, exc_message, exc_module } = info as Partial<ExceptionInfo>;
    const type = String(exc_type);
    const message = messageOf(exc_message);
    const Known = knownErrors[type];
    // Python stores Celery's own (ChordError, TimeLimitExceeded…) under celery.exceptions: the same classes here.
    if (Known && (exc_module === "celeriac.errors" || exc_module === "celery.exceptions" || exc_module === celeryModules[type])) return new Known(message);
    // Celery 5 stores a list; older peers (and hand-written results) a bare value.
    const args = Array.isArray(exc_message) ? exc_message : exc_message === undefined || exc_message === null ? [] : [exc_message];
    return new RemoteTaskError(type, message, exc_module, traceback, args);
  }
  return new RemoteTaskError("Exception", messageOf(info), undefined, traceback);
}

/** A traceback-like text for a JS error, in the field Celery calls `traceback`. */
export function tracebackOf(err: unknown): string | null {
  if (err instanceof Error && err.stack) return err.stack;
  return null;
}
