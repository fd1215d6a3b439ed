// Safe SQL values for ClickHouse. ClickHouse 18.16 has no server-side query parameters, so
// every value reaches SQL through this module: typed, validated, escaped. Call sites write
//
//   sql`SELECT count() FROM ${v.ident(table)} WHERE video_id = ${v.string(id)} AND day >= ${v.date(from)}`
//
// The `sql` tag accepts only values built here (or nested `sql` fragments); a bare string or
// number is rejected at compile time by the types and at run time by a check, so string
// concatenation of user input into SQL cannot happen by accident.

const BRAND = Symbol('viewpulse.sql');

/** A rendered, safe piece of SQL. Only this module can make one. */
export interface SqlFragment {
  readonly [BRAND]: true;
  readonly text: string;
  toString(): string;
}

export class SqlValueError extends Error {
  override name = 'SqlValueError';
}

const fragment = (text: string): SqlFragment => ({ [BRAND]: true, text, toString: () => text });

export function isFragment(x: unknown): x is SqlFragment {
  return typeof x === 'object' && x !== null && (x as Partial<SqlFragment>)[BRAND] === true;
}

/** Tagged template: joins the literal SQL with safe fragments. */
export function sql(strings: TemplateStringsArray, ...values: SqlFragment[]): SqlFragment {
  let out = strings[0] ?? '';
  values.forEach((value, i) => {
    if (!isFragment(value)) {
      throw new SqlValueError(
        `sql: value #${i + 1} is a raw ${typeof value}; wrap it with v.string(), v.int(), v.ident() ...`,
      );
    }
    out += value.text + (strings[i + 1] ?? '');
  });
  return fragment(out);
}

/** Joins fragments with a literal separator (e.g. ', ' or ' AND '). */
export function join(
  parts: readonly SqlFragment[],
  separator: ', ' | ' AND ' | ' OR ' | ' UNION ALL ' | '\n' = ', ',
): SqlFragment {
  for (const p of parts) if (!isFragment(p)) throw new SqlValueError('sql.join: every part must be a fragment');
  return fragment(parts.map((p) => p.text).join(separator));
}

// ---------------------------------------------------------------- strings

const ESCAPES: Record<string, string> = {
  '\\': '\\\\',
  "'": "\\'",
  '\0': '\\0',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\v': '\\v',
};

/**
 * Quotes a JS string as a ClickHouse string literal. Backslash and quote are escaped, all
 * other control characters become escape sequences so the SQL text stays one printable line.
 * Lone UTF-16 surrogates are refused: they have no UTF-8 form and would be silently altered.
 */
export function quoteString(s: string): string {
  if (typeof s !== 'string') throw new SqlValueError(`expected a string, got ${typeof s}`);
  if (!s.isWellFormed()) throw new SqlValueError('string contains a lone UTF-16 surrogate');
  let out = "'";
  for (const ch of s) {
    const esc = ESCAPES[ch];
    if (esc !== undefined) out += esc;
    else {
      const code = ch.codePointAt(0) ?? 0;
      out += code < 0x20 || code === 0x7f ? `\\x${code.toString(16).padStart(2, '0')}` : ch;
    }
  }
  return `${out}'`;
}

// ---------------------------------------------------------------- numbers

type IntType = 'UInt8' | 'UInt16' | 'UInt32' | 'UInt64' | 'Int8' | 'Int16' | 'Int32' | 'Int64';

const INT_RANGES: Record<IntType, readonly [bigint, bigint]> = {
  UInt8: [0n, 255n],
  UInt16: [0n, 65535n],
  UInt32: [0n, 4294967295n],
  UInt64: [0n, 18446744073709551615n],
  Int8: [-128n, 127n],
  Int16: [-32768n, 32767n],
  Int32: [-2147483648n, 2147483647n],
  Int64: [-9223372036854775808n, 9223372036854775807n],
};

function intLiteral(n: number | bigint, type: IntType): string {
  let big: bigint;
  if (typeof n === 'bigint') big = n;
  else if (typeof n === 'number' && Number.isSafeInteger(n)) big = BigInt(n);
  else throw new SqlValueError(`expected a safe integer for ${type}, got ${String(n)}`);
  const [min, max] = INT_RANGES[type];
  if (big < min || big > max) throw new SqlValueError(`${String(n)} is out of range for ${type}`);
  // Negative literals are parenthesised so `a - ${x}` can never become `a --1` (a comment).
  return big < 0n ? `(${big})` : `${big}`;
}

function floatLiteral(n: number): string {
  if (typeof n !== 'number' || !Number.isFinite(n))
    throw new SqlValueError(`expected a finite number, got ${String(n)}`);
  const text = Object.is(n, -0) ? '0' : String(n);
  return n < 0 ? `(${text})` : text;
}

// ---------------------------------------------------------------- dates

const MAX_DATETIME_MS = 4294967295 * 1000; // DateTime is a UInt32 of seconds

function toDateValue(d: Date | string | number, what: string): Date {
  let date: Date;
  if (d instanceof Date) date = d;
  else if (typeof d === 'number') date = new Date(d);
  else if (
    typeof d === 'string' &&
    /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(d)
  ) {
    // A date without a zone is taken as UTC, never as the server's local time.
    const iso = d.length === 10 ? `${d}T00:00:00Z` : /Z|[+-]\d{2}:?\d{2}$/.test(d) ? d : `${d.replace(' ', 'T')}Z`;
    date = new Date(iso);
  } else throw new SqlValueError(`expected a date (ISO 8601, epoch ms or Date) for ${what}, got ${JSON.stringify(d)}`);
  const ms = date.getTime();
  if (!Number.isFinite(ms)) throw new SqlValueError(`invalid ${what}: ${String(d)}`);
  if (ms < 0 || ms > MAX_DATETIME_MS)
    throw new SqlValueError(`${what} ${date.toISOString?.() ?? String(d)} is outside 1970..2106`);
  return date;
}

const isoDay = (d: Date): string => d.toISOString().slice(0, 10);
const isoSeconds = (d: Date): string => d.toISOString().slice(0, 19).replace('T', ' ');

// ---------------------------------------------------------------- identifiers

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

function identLiteral(name: string): string {
  if (typeof name !== 'string' || !IDENT.test(name)) {
    throw new SqlValueError(`not a plain identifier: ${JSON.stringify(name)} (allowed: [A-Za-z_][A-Za-z0-9_]*)`);
  }
  return `\`${name}\``;
}

// ---------------------------------------------------------------- arrays

export type ScalarType = 'String' | IntType | 'Float64' | 'Date' | 'DateTime';

function scalar(type: ScalarType, x: unknown): string {
  switch (type) {
    case 'String':
      return quoteString(x as string);
    case 'Float64':
      return floatLiteral(x as number);
    case 'Date':
      return `toDate(${quoteString(isoDay(toDateValue(x as Date, 'date')))})`;
    case 'DateTime':
      return `toDateTime(${quoteString(isoSeconds(toDateValue(x as Date, 'datetime')))}, 'UTC')`;
    default:
      return intLiteral(x as number | bigint, type);
  }
}

/** The typed value constructors. Each validates its input and throws SqlValueError. */
export const v = {
  string: (s: string): SqlFragment => fragment(quoteString(s)),
  int: (n: number | bigint, type: IntType = 'Int64'): SqlFragment => fragment(intLiteral(n, type)),
  uint: (n: number | bigint, type: IntType = 'UInt64'): SqlFragment => fragment(intLiteral(n, type)),
  float: (n: number): SqlFragment => fragment(floatLiteral(n)),
  bool: (b: boolean): SqlFragment => {
    if (typeof b !== 'boolean') throw new SqlValueError(`expected a boolean, got ${typeof b}`);
    return fragment(b ? '1' : '0');
  },
  /** A calendar day (UTC) as `toDate('YYYY-MM-DD')`. */
  date: (d: Date | string | number): SqlFragment => fragment(scalar('Date', d)),
  /** An instant, to the second, as `toDateTime('YYYY-MM-DD hh:mm:ss', 'UTC')`. */
  dateTime: (d: Date | string | number): SqlFragment => fragment(scalar('DateTime', d)),
  /** An array literal of one element type; an empty one keeps its type. */
  array: (items: readonly unknown[], type: ScalarType): SqlFragment => {
    if (!Array.isArray(items)) throw new SqlValueError('expected an array');
    if (items.length === 0) return fragment(`emptyArray${type}()`);
    return fragment(`[${items.map((x) => scalar(type, x)).join(', ')}]`);
  },
  /**
   * The parenthesised list after IN: `x IN ${v.inList(ids, 'String')}`. 18.16 does not
   * accept an array there. An empty list is refused (IN () is not SQL): check first.
   */
  inList: (items: readonly unknown[], type: ScalarType): SqlFragment => {
    if (!Array.isArray(items)) throw new SqlValueError('expected an array');
    if (items.length === 0) throw new SqlValueError('an IN list needs at least one value');
    return fragment(`(${items.map((x) => scalar(type, x)).join(', ')})`);
  },
  /** A table, column or database name, backtick-quoted after a strict check. */
  ident: (name: string): SqlFragment => fragment(identLiteral(name)),
  /** `db`.`table` */
  table: (database: string, table: string): SqlFragment => fragment(`${identLiteral(database)}.${identLiteral(table)}`),
  /** One keyword from a fixed allow-list, e.g. a sort direction chosen by a caller. */
  keyword: <K extends string>(word: string, allowed: readonly K[]): SqlFragment => {
    if (!(allowed as readonly string[]).includes(word)) {
      throw new SqlValueError(`keyword ${JSON.stringify(word)} is not one of ${allowed.join(', ')}`);
    }
    return fragment(word);
  },
};
