// memory:// — results kept in this process (tests, single-process apps).
// Backends with the same URL in one process share their results.
import { encodeJson } from "../protocol/serializers.js";
import { READY_STATES } from "../states.js";
import type { BackendOptions, ResultBackend, ResultMeta } from "./backend.js";
import { Waiters, type WaitOptions } from "./waiters.js";

interface MemoryResults {
  results: Map<string, { meta: ResultMeta; expiresAt: number }>;
  groups: Map<string, string[]>;
  chords: Map<string, { parts: Map<number, ResultMeta>; completedBy: string | null }>;
  waiters: Waiters;
}

const stores = new Map<string, MemoryResults>();

export class MemoryBackend implements ResultBackend {
  readonly displayUrl: string;
  private readonly s: MemoryResults;
  private readonly expiresMs: number;

  constructor(url = "memory://", opts: BackendOptions = {}) {
    this.displayUrl = url;
    this.expiresMs = opts.resultExpires ? opts.resultExpires * 1000 : Infinity;
    let s = stores.get(url);
    if (!s) {
      s = { results: new Map(), groups: new Map(), chords: new Map(), waiters: new Waiters() };
      stores.set(url, s);
    }
    this.s = s;
  }

  async connect(): Promise<void> {}

  async store(meta: ResultMeta): Promise<void> {
    // Kept as objects, but refused as every other backend refuses it: what works here works there.
    encodeJson(meta);
    this.s.results.set(meta.task_id, { meta, expiresAt: Date.now() + this.expiresMs });
    if (READY_STATES.has(meta.status)) this.s.waiters.settle(meta.task_id, meta);
  }

  async get(taskId: string): Promise<ResultMeta | null> {
    return this.read(taskId);
  }

  private read(taskId: string): ResultMeta | null {
    const entry = this.s.results.get(taskId);
    if (!entry) return null;
    if (entry.expiresAt <= Date.now()) {
      this.s.results.delete(taskId);
      return null;
    }
    return entry.meta;
  }

  waitFor(taskId: string, opts?: WaitOptions): Promise<ResultMeta> {
    // Checked and registered in one synchronous step, so no store can slip between.
    const now = this.read(taskId);
    if (now && READY_STATES.has(now.status)) return Promise.resolve(now);
    return this.s.waiters.add(taskId, opts);
  }

  async forget(taskId: string): Promise<void> {
    this.s.results.delete(taskId);
  }

  async saveGroup(groupId: string, taskIds: readonly string[]): Promise<void> {
    this.s.groups.set(groupId, [...taskIds]);
  }

  async restoreGroup(groupId: string): Promise<string[] | null> {
    return this.s.groups.get(groupId) ?? null;
  }

  async deleteGroup(groupId: string): Promise<void> {
    this.s.groups.delete(groupId);
  }

  async chordJoin(groupId: string, index: number, size: number, meta: ResultMeta): Promise<ResultMeta[] | null> {
    let chord = this.s.chords.get(groupId);
    if (!chord) this.s.chords.set(groupId, (chord = { parts: new Map(), completedBy: null }));
    chord.parts.set(index, meta);
    if (chord.parts.size < size) return null;
    if (chord.completedBy !== null && chord.completedBy !== meta.task_id) return null;
    chord.completedBy = meta.task_id;
    return [...chord.parts.entries()].sort((a, b) => a[0] - b[0]).map(([, m]) => m);
  }

  async chordDone(groupId: string): Promise<void> {
    this.s.chords.delete(groupId);
  }

  async close(): Promise<void> {}
}
