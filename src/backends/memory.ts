// memory:// — results kept in this process (tests, single-process apps).
// Backends with the same URL in one process share their results.
import { encodeJson } from "../protocol/serializers.js";
import { READY_STATES } from "../states.js";
import type { BackendOptions, ResultBackend, ResultMeta } from "./backend.js";
import { Waiters, type WaitOptions } from "./waiters.js";
import type { ResultTuple } from "../result.js";
import type { TaskLogLine } from "../worker/task-log.js";

interface MemoryResults {
  results: Map<string, { meta: ResultMeta; expiresAt: number }>;
  groups: Map<string, ResultTuple[]>;
  /** Parts keyed by group index and task id: a task added to the chord (addToChord) shares its adder's index. */
  chords: Map<string, { parts: Map<string, { index: number; meta: ResultMeta }>; added: number; completedBy: string | null }>;
  waiters: Waiters;
  logs: Map<string, TaskLogLine[]>;
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
      s = { results: new Map(), groups: new Map(), chords: new Map(), waiters: new Waiters(), logs: new Map() };
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
      this.s.logs.delete(taskId);
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
    this.s.logs.delete(taskId);
  }

  async appendLog(taskId: string, lines: readonly TaskLogLine[], maxLines: number): Promise<void> {
    const kept = [...(this.s.logs.get(taskId) ?? []), ...lines];
    this.s.logs.set(taskId, kept.slice(Math.max(0, kept.length - maxLines)));
  }

  async getLog(taskId: string): Promise<TaskLogLine[]> {
    return [...(this.s.logs.get(taskId) ?? [])];
  }

  async saveGroup(groupId: string, members: readonly ResultTuple[]): Promise<void> {
    this.s.groups.set(groupId, structuredClone([...members]));
  }

  async restoreGroup(groupId: string): Promise<ResultTuple[] | null> {
    return this.s.groups.get(groupId) ?? null;
  }

  async deleteGroup(groupId: string): Promise<void> {
    this.s.groups.delete(groupId);
  }

  async addToChord(groupId: string): Promise<void> {
    this.chord(groupId).added++;
  }

  async chordJoin(groupId: string, index: number, size: number, meta: ResultMeta): Promise<ResultMeta[] | null> {
    const chord = this.chord(groupId);
    chord.parts.set(`${index} ${meta.task_id}`, { index, meta });
    if (chord.parts.size < size + chord.added) return null;
    if (chord.completedBy !== null && chord.completedBy !== meta.task_id) return null;
    chord.completedBy = meta.task_id;
    return [...chord.parts.values()].sort((a, b) => a.index - b.index).map((p) => p.meta);
  }

  private chord(groupId: string) {
    let chord = this.s.chords.get(groupId);
    if (!chord) this.s.chords.set(groupId, (chord = { parts: new Map(), added: 0, completedBy: null }));
    return chord;
  }

  async chordDone(groupId: string): Promise<void> {
    this.s.chords.delete(groupId);
  }

  async close(): Promise<void> {}
}
