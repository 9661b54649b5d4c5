// Task states, by Celery's names.
export const States = {
  PENDING: "PENDING",
  RECEIVED: "RECEIVED",
  STARTED: "STARTED",
  RETRY: "RETRY",
  SUCCESS: "SUCCESS",
  FAILURE: "FAILURE",
  REVOKED: "REVOKED",
  REJECTED: "REJECTED",
  IGNORED: "IGNORED",
} as const;

export type State = (typeof States)[keyof typeof States];

/** States after which a task will not change again. */
export const READY_STATES: ReadonlySet<string> = new Set([States.SUCCESS, States.FAILURE, States.REVOKED]);
export const EXCEPTION_STATES: ReadonlySet<string> = new Set([States.RETRY, States.FAILURE, States.REVOKED]);
