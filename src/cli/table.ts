/** Plain-text tables for the CLI: columns padded to the widest cell, two spaces apart, no trailing blanks. */
export function table(rows: string[][], indent = ''): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length))) ?? [];
  return rows.map((row) => `${indent}${row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ')}`.trimEnd()).join('\n');
}
