// The task id of one tick: derived from (namespace, entry, tick), so the same
// tick always gets the same id, and a duplicate send could never pass as a new
// task.
import { createHash } from "node:crypto";

export function tickTaskId(namespace: string, entry: string, tick: number): string {
  const h = createHash("sha1").update(`celeriac-beat\0${namespace}\0${entry}\0${tick}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x50; // version 5 (name-based, SHA-1)
  h[8] = (h[8]! & 0x3f) | 0x80; // RFC 4122 variant
  const x = h.subarray(0, 16).toString("hex");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}
