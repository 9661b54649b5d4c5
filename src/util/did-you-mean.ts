// "Did you mean …?" for a misspelt name: the closest known name by edit
// distance, when it is close enough to be a likely typo.

/** Levenshtein distance, case-insensitive (taskserializer and taskSerializer are one typo apart: none). */
function distance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  let prev = Array.from({ length: y.length + 1 }, (_, i) => i);
  for (let i = 1; i <= x.length; i++) {
    const row = [i];
    for (let j = 1; j <= y.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[y.length]!;
}

/** The known name closest to `name`, or null when none is within a third of its length (at least 2 edits). */
export function closestName(name: string, known: Iterable<string>): string | null {
  const limit = Math.max(2, Math.floor(name.length / 3));
  let best: string | null = null;
  let bestDistance = limit + 1;
  for (const candidate of known) {
    const d = distance(name, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** " (did you mean x?)" or "". */
export function didYouMean(name: string, known: Iterable<string>): string {
  const best = closestName(name, known);
  return best ? ` (did you mean ${best}?)` : "";
}
