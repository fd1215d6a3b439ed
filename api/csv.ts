// CSV for the tabular insights routes (`Accept: text/csv` or `?format=csv`): RFC 4180 — a
// header row, CRLF line ends, fields quoted when they hold a comma, quote or line break.
// Text that a spreadsheet would run as a formula (starting with = + - @ or a tab/CR) is
// prefixed with a single quote; numbers are written as they are.

export type Cell = string | number | boolean | null | undefined;

export const CSV_CONTENT_TYPE = 'text/csv; charset=utf-8';

function field(x: Cell): string {
  if (x === null || x === undefined) return '';
  if (typeof x === 'number') return Number.isFinite(x) ? String(x) : '';
  if (typeof x === 'boolean') return x ? 'true' : 'false';
  let s = String(x);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** A CSV document: the header, then one line per row. */
export function toCsv(columns: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const lines = [columns.map(field).join(',')];
  for (const r of rows) lines.push(r.map(field).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

/** Parses CSV written by toCsv (and RFC 4180 in general) into rows of strings. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(cell);
      cell = '';
    } else if (ch === '\r' || ch === '\n') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
    } else cell += ch;
  }
  if (cell !== '' || row.length > 0) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}
