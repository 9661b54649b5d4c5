// What happens after a task finished, as its message's `embed` says: the next
// step of a chain, link callbacks, link_error errbacks. The worker calls this
// once per finished task, whatever pool ran it.
import type { Celeriac } from "../app.js";
import type { SignatureDict, TaskMessage } from "../protocol/message.js";
import { Signature, optionsFromWire } from "./signature.js";

function parentage(msg: TaskMessage) {
  return { parentId: msg.headers.id, rootId: msg.headers.root_id ?? msg.headers.id };
}

/** Sends a signature with the previous result prepended (unless immutable), as a child of `msg`. */
function sendNext(app: Celeriac, sig: SignatureDict, prev: unknown[], msg: TaskMessage, extra: Record<string, unknown> = {}): Promise<void> {
  const s = Signature.fromDict(app, sig);
  const options = { ...optionsFromWire(s.options), ...parentage(msg), ...extra };
  const args = s.immutable ? s.args : [...prev, ...s.args];
  return app.sendTask(s.task, args, s.kwargs, options).sent;
}

/** After SUCCESS: chain's next step and link callbacks. */
export async function continueAfterSuccess(app: Celeriac, msg: TaskMessage, value: unknown): Promise<void> {
  const sends: Promise<void>[] = [];
  const chain = msg.embed.chain;
  if (chain && chain.length) {
    // The rest of a chain is stored reversed: the last element runs next.
    const rest = chain.slice(0, -1);
    const next = chain[chain.length - 1]!;
    sends.push(sendNext(app, next, [value], msg, { chain: rest.length ? rest : null }));
  }
  for (const cb of msg.embed.callbacks ?? []) sends.push(sendNext(app, cb, [value], msg));
  await Promise.all(sends);
}

/** After FAILURE: link_error errbacks get the failed task's id (Celery's old-style errback call). */
export async function continueAfterFailure(app: Celeriac, msg: TaskMessage): Promise<void> {
  const errbacks = msg.embed.errbacks ?? [];
  await Promise.all(errbacks.map((eb) => sendNext(app, eb, [msg.headers.id], msg)));
}
