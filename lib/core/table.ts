// The one table renderer: a header and rows of cells, each column padded to its widest cell,
// two spaces apart, trailing blanks trimmed. The last column is never padded.

export function formatTable(head: readonly string[], rows: readonly (readonly string[])[], indent = ''): string[] {
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    `${indent}${cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(width[i]!)))
      .join('  ')
      .trimEnd()}`;
  return [line(head), ...rows.map(line)];
}
