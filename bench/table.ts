/** Plain-text tables for the terminal: a title, a header row, left-aligned text, right-aligned figures. */
export type Cell = string | number;

/** Numbers, and numbers with a unit or a comparison ("1.021", "12.3 MiB", "≤ 1.05"), line up on the right. */
const isFigure = (cell: string): boolean => /^[-+≤≥<>]?\s?[\d.]/.test(cell);

export function formatTable(title: string, rows: ReadonlyArray<Record<string, Cell>>): string {
  const headers = [...new Set(rows.flatMap((row) => Object.keys(row)))];
  const text = (value: Cell | undefined): string => (value === undefined ? "" : String(value));
  const widths = headers.map((h) => Math.max(h.length, ...rows.map((row) => text(row[h]).length)));
  const line = (cells: string[], numeric: boolean[]): string =>
    cells
      .map((cell, i) => (numeric[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join(" │ ")
      .trimEnd();
  const rule = widths.map((w) => "─".repeat(w)).join("─┼─");
  return [
    title,
    line(
      headers,
      headers.map(() => false),
    ),
    rule,
    ...rows.map((row) =>
      line(
        headers.map((h) => text(row[h])),
        headers.map((h) => isFigure(text(row[h]))),
      ),
    ),
    "",
  ].join("\n");
}

export function printTable(title: string, rows: ReadonlyArray<Record<string, Cell>>): void {
  process.stdout.write(`${formatTable(title, rows)}\n`);
}

export const fixed = (value: number, digits: number): string =>
  Number.isFinite(value) ? value.toFixed(digits) : "n/a";

export const mebibytes = (bytes: number | undefined): string =>
  bytes === undefined ? "n/a" : `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
