// The ids of revoked tasks a worker must skip. Bounded and expiring as in
// Celery (50,000 ids, 3 hours); written to the state file (`--statedb`) when
// one is given, so a restarted worker still skips what was revoked.
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";

const MAX_IDS = 50_000;
const EXPIRES_MS = 3 * 3600_000;

export class RevokedSet {
  private readonly ids = new Map<string, number>();

  constructor(private readonly stateFile: string | null = null) {
    if (stateFile && existsSync(stateFile)) {
      try {
        const saved = JSON.parse(readFileSync(stateFile, "utf8")) as { revoked?: Record<string, number> };
        const now = Date.now();
        for (const [id, until] of Object.entries(saved.revoked ?? {})) if (until > now) this.ids.set(id, until);
      } catch {
        // An unreadable state file is replaced on the next save.
      }
    }
  }

  add(ids: readonly string[]): void {
    const until = Date.now() + EXPIRES_MS;
    for (const id of ids) {
      this.ids.delete(id);
      this.ids.set(id, until);
    }
    // Map keeps insertion order: the oldest entries go first.
    while (this.ids.size > MAX_IDS) this.ids.delete(this.ids.keys().next().value!);
    this.save();
  }

  has(id: string): boolean {
    const until = this.ids.get(id);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.ids.delete(id);
    return false;
  }

  list(): string[] {
    return [...this.ids.keys()].filter((id) => this.has(id));
  }

  save(): void {
    if (!this.stateFile) return;
    const tmp = `${this.stateFile}.tmp`;
    writeFileSync(tmp, JSON.stringify({ revoked: Object.fromEntries(this.ids) }));
    renameSync(tmp, this.stateFile);
  }
}
