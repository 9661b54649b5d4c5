// AMQP reply codes. amqplib puts the code of the frame that closed a channel
// on the error it rejects with (err.code); its message text is amqplib's own
// formatting, which may change, so errors are told apart by code alone.

/** The queue or exchange does not exist. */
export const NOT_FOUND = 404;
/** The exclusive queue belongs to another connection. */
export const RESOURCE_LOCKED = 405;
/** Declared already with other settings (type, durability, arguments). */
export const PRECONDITION_FAILED = 406;

/** Whether `err` is RabbitMQ's refusal with this reply code. */
export function hasReplyCode(err: unknown, code: number): boolean {
  return typeof err === "object" && err !== null && (err as { code?: unknown }).code === code;
}
