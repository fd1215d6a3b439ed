// Plain aligned text tables, for terminals and CI logs alike (services status, processor
// status, the SQL compatibility report).

export interface TextTableOptions {
  /** Columns (by index) aligned right, as numbers are; the others left. */
  right?: (column: number) => boolean;
  /** A line of dashes under the header. */
  rule?: boolean;
}

export function textTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  options: TextTableOptions = {},
): string {
  const widths = header.map((h, i) => rows.reduce((w, r) => Math.max(w, r[i]!.length), h.length));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (options.right?.(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const out = [line(header)];
  if (options.rule) out.push(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) out.push(line(r));
  return out.join('\n');
}
