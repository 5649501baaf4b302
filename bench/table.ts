/** A benchmark result row: column name → printed value. */
export type Row = Record<string, string | number>;

/** Renders rows as a GitHub-flavoured Markdown table (also readable in a terminal). */
export function markdownTable(rows: readonly Row[]): string {
  if (rows.length === 0) return '';
  const columns = Object.keys(rows[0]!);
  const line = (cells: readonly (string | number)[]): string => `| ${cells.join(' | ')} |`;
  return [
    line(columns),
    line(columns.map(() => '---')),
    ...rows.map((row) => line(columns.map((c) => row[c] ?? ''))),
  ].join('\n');
}

/** Formats a rate with thousands separators. */
export function perSecond(count: number, ms: number): number {
  return Math.round((count * 1000) / ms);
}

/** Percentile of a sorted sample (nearest rank). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
