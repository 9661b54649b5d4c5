// kombu's Redis key layout for queues (../shared/PROTOCOL.md §2), which Python
// producers and workers read too: changing a name here changes the wire format.
//
// - a queue is a list; its priorities live in sub-lists `<queue>\x06\x16<step>`
//   (steps 0, 3, 6, 9; a LOWER number is served first);
// - `_kombu.binding.<exchange>` sets hold `<routing key>\x06\x16\x06\x16<queue>`;
// - ETA messages wait in `_celeriac.schedule.<queue>` (ours alone).

/** kombu's separator inside priority list names and binding members. */
export const SEP = "\x06\x16";
export const PRIORITY_STEPS = [0, 3, 6, 9] as const;

/** kombu's priority step for a priority: the largest step ≤ p. */
export function priorityStep(priority: number | undefined): number {
  const p = Math.max(0, Math.min(9, Math.trunc(Number(priority) || 0)));
  let step = 0;
  for (const s of PRIORITY_STEPS) if (s <= p) step = s;
  return step;
}

/** The list holding a queue's messages of one priority step. */
export function listKey(queue: string, step: number): string {
  return step ? `${queue}${SEP}${step}` : queue;
}

/** The sorted set of a queue's messages waiting for their ETA (score: epoch ms; member: "<step><envelope>"). */
export function scheduleKey(queue: string): string {
  return `_celeriac.schedule.${queue}`;
}

/** The set of an exchange's bindings. */
export function bindingKey(exchange: string): string {
  return `_kombu.binding.${exchange}`;
}

/** A binding member: routing key, pattern (always empty) and queue. */
export function bindingMember(routingKey: string, queue: string): string {
  return [routingKey, "", queue].join(SEP);
}

/** Hash of declared queues' lifetimes (ms), read by publish-direct.lua to set each reply list's TTL. */
export const QUEUE_LIFETIMES = "_celeriac.queue.lifetimes";

/** On a cluster, the key whose slot's master broadcasts are published from (never written; see fanout-publish.lua). */
export const FANOUT_SLOT_KEY = "_celeriac.fanout";
