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

/** The middle value (the upper one of an even count); 0 for none. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/** Percentile of a sorted sample (nearest rank). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/**
 * Reads back the first Markdown table of `text` as {@link markdownTable}
 * wrote it (cells are kept as text). Rows whose cell count differs from the
 * header's end the table.
 */
export function parseMarkdownTable(text: string): Row[] {
  const lines = text.split('\n');
  const start = lines.findIndex((line) => line.startsWith('|'));
  if (start < 0) return [];
  const cells = (line: string): string[] =>
    line
      .slice(1, line.trimEnd().endsWith('|') ? line.trimEnd().length - 1 : undefined)
      .split('|')
      .map((cell) => cell.trim());
  const header = cells(lines[start]!);
  const rows: Row[] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    const values = cells(line);
    if (values.length !== header.length) break;
    rows.push(Object.fromEntries(header.map((column, index) => [column, values[index]!])));
  }
  return rows;
}
