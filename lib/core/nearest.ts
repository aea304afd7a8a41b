// "Did you mean": the known name a mistyped one most likely meant, for flags (--dryrun ->
// --dry-run) and cluster file keys (publicIP -> publicIp). Case, "-" and "_" do not count;
// otherwise at most two edits, and fewer for short names (a guess must be a good one).

/** The name in `names` closest to `name`, or undefined when none is close. */
export function nearestName(name: string, names: readonly string[]): string | undefined {
  const squash = (n: string) => n.toLowerCase().replace(/[-_]/g, '');
  const same = names.find((n) => squash(n) === squash(name));
  if (same) return same;
  let best: { n: string; d: number } | undefined;
  for (const n of names) {
    const d = editDistance(squash(name), squash(n));
    if (d <= Math.min(2, Math.floor(n.length / 3)) && (!best || d < best.d)) best = { n, d };
  }
  return best?.n;
}

/** Levenshtein distance. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}
