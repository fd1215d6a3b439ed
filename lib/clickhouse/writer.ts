// The batched ClickHouse writer: one INSERT per table per flush, TabSeparated with an explicit
// column list, retried with exponential backoff while ClickHouse is unreachable. It resolves only
// once ClickHouse has acknowledged the rows — the runtime commits Kafka offsets after that and
// never before.
//
// Why TabSeparated (bench/insert-formats.ts, bench/results/insert-formats.json, on 18.16): against
// JSONEachRow, the format before, it takes 18-64 % less client CPU to encode (play_events 2.2
// instead of 3.6 µs per row, sessions 3.1 instead of 3.8), 24-40 % less server CPU, bodies 57-67 %
// smaller, and inserts 39-54 % more rows/s end to end. 18.16 has no JSONCompactEachRow; CSV is no
// cheaper and larger. RowBinary encodes faster still (play_events 1.6, sessions 2.1 µs per row:
// about 1-2 % of a processor's time per event) at the same server CPU, but only from every
// column's exact server type, fetched and kept current across migrations, and a stale type
// misreads the bytes instead of failing; TabSeparated needs nothing of the schema.
//
// Encoding follows ClickHouse's TabSeparated rules (docs: interfaces/formats, "TabSeparated"):
//  - a string: backslash, tab, line feed, carriage return, NUL, backspace and form feed written as
//    \\ \t \n \r \0 \b \f; every other character as is, in UTF-8 (emoji, RTL text, other control
//    characters); the empty string as nothing; a lone UTF-16 surrogate, which is no text, becomes
//    U+FFFD as in any UTF-8 encoding (Avro-decoded strings never hold one);
//  - null: \N, for Nullable columns (a non-Nullable number column refuses it: Cannot parse input;
//    a String column reads it as '', on both versions);
//  - a number: its decimal text; a boolean: 1 or 0;
//  - an array: [e1,e2] with numbers as text and strings single-quoted ('it\'s'), the quoted
//    form ClickHouse reads inside arrays;
//  - a `times` column (epoch milliseconds): whole seconds, zero-padded to 10 digits. 18.16 reads
//    a DateTime as text 'YYYY-MM-DD hh:mm:ss' when the 5th character is not a digit, so an
//    unpadded small timestamp such as 0 followed by the next field ("0\tab...") fails to parse;
//    ten digits always read as a Unix timestamp, on 18.16 and 26.x alike.
// The columns are the keys of the first row, named in the INSERT, so the table's column order
// never matters and columns a write leaves out take their DEFAULT. Every row of one write must
// have exactly those keys (the processors build each table's rows with one function); a row that
// does not, or a value that cannot be encoded (undefined, NaN, an object), is refused before
// anything is sent.
import { Readable } from 'node:stream';
import { ViewpulseError } from '../errors.js';
import type { ClickHouseClient } from './client.js';
import { v } from './sql.js';

export interface TableWrite {
  table: string;
  /** One object per row, all with the same keys: the columns written (see above). */
  rows: readonly object[];
  /** Columns holding epoch milliseconds, written as DateTime (whole seconds). */
  times?: readonly string[];
}

export interface WriterOptions {
  /** First retry delay; doubles up to maxBackoffMs. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Give up (throw a retriable error) after this long; the caller decides what next. */
  giveUpAfterMs?: number;
  sleep?: (ms: number) => Promise<void>;
  onRetry?: (table: string, attempt: number, err: Error) => void;
}

/** The input format of every insert. */
export const INSERT_FORMAT = 'TabSeparated';

/** Epoch milliseconds as the whole seconds a DateTime holds (never before 1970). */
export const toSeconds = (ms: number): number => Math.max(0, Math.floor(ms / 1000));

/** Rewrites millisecond time columns as whole seconds, the form DateTime accepts. */
export function toClickHouseRows(rows: readonly object[], times: readonly string[] = []): object[] {
  if (times.length === 0) return rows as object[];
  return rows.map((row) => {
    const copy: Record<string, unknown> = { ...(row as Record<string, unknown>) };
    for (const c of times) {
      const ms = copy[c];
      if (typeof ms === 'number') copy[c] = toSeconds(ms);
    }
    return copy;
  });
}

/** A value or row the encoder cannot write; thrown before anything reaches ClickHouse. */
export class RowEncodingError extends Error {
  override name = 'RowEncodingError';
}

const TSV_SPECIAL = /[\\\t\n\r\0\b\f]/;
const TSV_SPECIAL_ALL = /[\\\t\n\r\0\b\f]/g;
const QUOTED_SPECIAL_ALL = /[\\'\t\n\r\0\b\f]/g;
const ESCAPE: Readonly<Record<string, string>> = {
  '\\': '\\\\',
  "'": "\\'",
  '\t': '\\t',
  '\n': '\\n',
  '\r': '\\r',
  '\0': '\\0',
  '\b': '\\b',
  '\f': '\\f',
};
const escapeChar = (c: string): string => ESCAPE[c]!;

/** A string as a TabSeparated field. */
export const escapeTsv = (s: string): string => (TSV_SPECIAL.test(s) ? s.replace(TSV_SPECIAL_ALL, escapeChar) : s);

/** A string as a single-quoted literal, the form of strings inside an array. */
export const quoteElement = (s: string): string => `'${s.replace(QUOTED_SPECIAL_ALL, escapeChar)}'`;

function numberText(n: number, column: string): string {
  if (!Number.isFinite(n)) throw new RowEncodingError(`column ${column}: ${n} is not a finite number`);
  return String(n);
}

function kindOf(value: unknown): string {
  if (value === undefined) return 'undefined';
  return typeof value === 'object' ? `an object (${Object.prototype.toString.call(value)})` : `a ${typeof value}`;
}

/** An array element in the quoted text form ClickHouse reads inside [ ]. */
function elementText(value: unknown, column: string): string {
  if (typeof value === 'number') return numberText(value, column);
  if (typeof value === 'string') return quoteElement(value);
  if (value === null) return 'NULL';
  if (typeof value === 'boolean') return value ? '1' : '0';
  if (Array.isArray(value)) return arrayText(value, column);
  throw new RowEncodingError(`column ${column}: cannot write ${kindOf(value)} inside an array`);
}

function arrayText(values: readonly unknown[], column: string): string {
  let numbers = true;
  for (let i = 0; i < values.length && numbers; i++) {
    const x = values[i];
    numbers = typeof x === 'number' && Number.isFinite(x);
  }
  // The common case (Array(UInt8) of retention buckets): JSON's text of an array of finite
  // numbers, [0,1,2], is ClickHouse's, and the native JSON.stringify is the fastest way to it.
  if (numbers) return JSON.stringify(values);
  const parts = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) parts[i] = elementText(values[i], column);
  return `[${parts.join(',')}]`;
}

/** One value as a TabSeparated field; `time`: epoch ms written as DateTime seconds. */
export function tsvField(value: unknown, column: string, time = false): string {
  if (typeof value === 'string') return escapeTsv(value);
  if (typeof value === 'number') {
    if (time && Number.isFinite(value)) return String(toSeconds(value)).padStart(10, '0');
    return numberText(value, column);
  }
  if (value === null) return '\\N';
  if (typeof value === 'boolean') return value ? '1' : '0';
  // An array's text holds no tab, line feed or backslash outside its quoted strings, which
  // escape their own: it is written as is.
  if (Array.isArray(value)) return arrayText(value, column);
  throw new RowEncodingError(`column ${column}: cannot write ${kindOf(value)}`);
}

/** The columns of a write: the keys of its first row. */
export function insertColumns(rows: readonly object[]): string[] {
  const first = rows[0];
  if (first === undefined) return [];
  const columns = Object.keys(first);
  if (columns.length === 0) throw new RowEncodingError('the first row has no columns');
  return columns;
}

/**
 * The TabSeparated body of `rows` for the columns `columns`, in that order, one line per row.
 * `times` columns hold epoch milliseconds and are written as DateTime seconds.
 */
export function encodeTabSeparated(
  rows: readonly object[],
  columns: readonly string[],
  times: readonly string[] = [],
): string {
  const n = columns.length;
  const isTime = columns.map((c) => times.includes(c));
  // Fields into one reused array joined per row, rows joined once: V8's native join builds flat
  // strings, where += would build ropes that Buffer.from must flatten (bench/insert-formats.ts).
  const cells = new Array<string>(n);
  const lines = new Array<string>(rows.length + 1);
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r] as Record<string, unknown>;
    for (let c = 0; c < n; c++) {
      const column = columns[c]!;
      const value = row[column];
      if (value === undefined) throw new RowEncodingError(`row ${r}: column ${column} is missing or undefined`);
      cells[c] = tsvField(value, column, isTime[c]);
    }
    // as many keys as columns, and every column present: exactly the columns
    if (Object.keys(row).length !== n) {
      throw new RowEncodingError(`row ${r} has other keys than the first row (${columns.join(', ')})`);
    }
    lines[r] = cells.join('\t');
  }
  lines[rows.length] = '';
  return lines.join('\n');
}

const realSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class ClickHouseWriter {
  private readonly opts: Required<Omit<WriterOptions, 'onRetry'>> & Pick<WriterOptions, 'onRetry'>;

  constructor(
    private readonly ch: ClickHouseClient,
    readonly database: string,
    options: WriterOptions = {},
  ) {
    v.ident(database);
    this.opts = { initialBackoffMs: 200, maxBackoffMs: 5_000, giveUpAfterMs: 30_000, sleep: realSleep, ...options };
  }

  async write(w: TableWrite): Promise<void> {
    if (w.rows.length === 0) return;
    v.ident(w.table);
    let columns: [string, ...string[]];
    let body: Buffer;
    try {
      const names = insertColumns(w.rows);
      // checked plain identifiers, backtick-quoted
      columns = names.map((c) => v.ident(c).text) as [string, ...string[]];
      body = Buffer.from(encodeTabSeparated(w.rows, names, w.times), 'utf8');
    } catch (err) {
      // A row that cannot be written will not get better by retrying.
      throw new ViewpulseError(
        'VP_ERR_CLICKHOUSE_REJECTED',
        `${w.table}: ${(err as Error).message.slice(0, 500)}`,
        { table: w.table },
        { cause: err },
      );
    }
    const started = Date.now();
    let delay = this.opts.initialBackoffMs;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.ch.insert({
          table: `${this.database}.${w.table}`,
          columns,
          // a fresh stream per attempt: a stream is read once
          values: Readable.from([body], { objectMode: false }),
          format: INSERT_FORMAT,
        });
        return;
      } catch (err) {
        const e = err as Error;
        // A rejected query (bad row) will not get better by retrying.
        if (/Code: (27|26|33|53|62|60|16|117)\b/.test(e.message)) {
          throw new ViewpulseError(
            'VP_ERR_CLICKHOUSE_REJECTED',
            e.message.slice(0, 500),
            { table: w.table },
            { cause: err },
          );
        }
        if (Date.now() - started > this.opts.giveUpAfterMs) {
          throw new ViewpulseError(
            'VP_ERR_CLICKHOUSE',
            `${w.table}: ${e.message.slice(0, 300)}`,
            { table: w.table },
            { cause: err },
          );
        }
        this.opts.onRetry?.(w.table, attempt, e);
        await this.opts.sleep(delay);
        delay = Math.min(this.opts.maxBackoffMs, delay * 2);
      }
    }
  }
}
