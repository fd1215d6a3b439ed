// The bytes ClickHouseWriter sends: TabSeparated by ClickHouse's documented rules
// (https://clickhouse.com/docs/en/interfaces/formats#tabseparated, the same in 18.16's docs):
//   "strings are output with backslash-escaped special characters ... \b, \f, \r, \n, \t, \0, \',
//    \\. Parsing also supports the sequences \a, \v, and \xHH and any \c sequences";
//   "NULL is formatted as \N";
//   "Arrays are written as a list of comma-separated values in square brackets. Number items in
//    the array are formatted as normally ... Strings are written in single quotes with the same
//    escaping rules as above."
// Each tricky value below with the exact bytes it must become. The writer escapes what parsing
// requires (backslash, tab, line feed) plus the other sequences ClickHouse itself writes (\r, \0,
// \b, \f); a single quote needs no escape outside an array and is left alone. The same values make
// the round trip through the real servers in test/integration/clickhouse-insert-formats.test.ts.
// And write() around the encoder: retries, backoff and error classes, on a fake client.
import { describe, expect, it } from 'vitest';
import type { Readable } from 'node:stream';
import { ViewpulseError } from '../../lib/errors.js';
import type { ClickHouseClient } from '../../lib/clickhouse/client.js';
import {
  ClickHouseWriter,
  encodeTabSeparated,
  escapeTsv,
  INSERT_FORMAT,
  insertColumns,
  quoteElement,
  RowEncodingError,
  toClickHouseRows,
  tsvField,
} from '../../lib/clickhouse/writer.js';

/** The UTF-8 bytes of a string, as hex pairs (what goes over the wire). */
const hex = (s: string): string => Buffer.from(s, 'utf8').toString('hex');

describe('TabSeparated strings: each tricky value and its exact bytes', () => {
  // [what, value, the field's bytes written as a JS string literal]
  const cases: [string, string, string][] = [
    ['plain ASCII', 'abc-123', 'abc-123'],
    ['empty string: an empty field', '', ''],
    ['tab', 'a\tb', 'a\\tb'],
    ['line feed', 'a\nb', 'a\\nb'],
    ['carriage return', 'a\rb', 'a\\rb'],
    ['CR LF', 'a\r\nb', 'a\\r\\nb'],
    ['backslash', 'a\\b', 'a\\\\b'],
    ['two backslashes', '\\\\', '\\\\\\\\'],
    ['a trailing backslash (would escape the separator)', 'end\\', 'end\\\\'],
    ['backslash then t (not a tab)', '\\t', '\\\\t'],
    ['the text \\N (not NULL)', '\\N', '\\\\N'],
    ['NUL', 'a\u0000b', 'a\\0b'],
    ['backspace', '\b', '\\b'],
    ['form feed', '\f', '\\f'],
    ['single and double quotes, as is', `it's "quoted"`, `it's "quoted"`],
    ['other control characters, as is', '\u0001\u000b\u001f\u007f', '\u0001\u000b\u001f\u007f'],
    ['emoji (4-byte UTF-8), as is', '🎬👍🏽', '🎬👍🏽'],
    ['RTL text with direction marks, as is', 'שלום \u200fمرحبا\u200e', 'שלום \u200fمرحبا\u200e'],
    ['CJK and combining marks, as is', '漢字 e\u0301', '漢字 e\u0301'],
    ['everything at once', 'x\t\n\\\0\r"\'🎬', 'x\\t\\n\\\\\\0\\r"\'🎬'],
  ];
  it.each(cases)('%s', (_what, value, bytes) => {
    expect(tsvField(value, 'c')).toBe(bytes);
    expect(escapeTsv(value)).toBe(bytes);
    // no raw tab or line feed ever survives: they would split the field or the row
    expect(bytes).not.toMatch(/[\t\n]/);
  });

  it('writes UTF-8: an emoji is its 4 bytes, an RTL letter its 2', () => {
    expect(hex(tsvField('🎬', 'c'))).toBe('f09f8eac');
    expect(hex(tsvField('ש', 'c'))).toBe('d7a9');
    expect(hex(tsvField('a\u0000', 'c'))).toBe('615c30'); // a \ 0
  });

  it('a lone UTF-16 surrogate (no text) becomes U+FFFD in the UTF-8 body', () => {
    expect(hex(tsvField('a\ud800b', 'c'))).toBe('61efbfbd62');
  });
});

describe('TabSeparated values other than strings', () => {
  const cases: [string, unknown, string][] = [
    ['null: \\N', null, '\\N'],
    ['zero', 0, '0'],
    ['a negative number (Int16 exit_percent)', -1, '-1'],
    ['a large integer', 2 ** 53 - 1, '9007199254740991'],
    ['a fraction', 1.5, '1.5'],
    ['negative zero', -0, '0'],
    ['true: 1', true, '1'],
    ['false: 0', false, '0'],
    ['an empty array', [], '[]'],
    ['an Array(UInt8)', [0, 1, 2, 99, 100], '[0,1,2,99,100]'],
    ['an array with a null', [1, null], '[1,NULL]'],
    [
      'an array of strings, single-quoted',
      ['a', "it's", 'tab\there', 'back\\slash', ''],
      `['a','it\\'s','tab\\there','back\\\\slash','']`,
    ],
    ['a nested array', [[1, 2], []], '[[1,2],[]]'],
  ];
  it.each(cases)('%s', (_what, value, bytes) => {
    expect(tsvField(value, 'c')).toBe(bytes);
  });

  it('quotes array strings with backslash, quote and control escapes', () => {
    expect(quoteElement("'\\\n\t\r\0\b\f")).toBe("'\\'\\\\\\n\\t\\r\\0\\b\\f'");
    expect(quoteElement('🎬 "x"')).toBe(`'🎬 "x"'`);
  });

  it('writes `times` columns (epoch ms) as 10-digit whole seconds, never before 1970', () => {
    expect(tsvField(0, 't', true)).toBe('0000000000');
    expect(tsvField(999, 't', true)).toBe('0000000000');
    expect(tsvField(5_000, 't', true)).toBe('0000000005');
    expect(tsvField(1_700_000_123_999, 't', true)).toBe('1700000123');
    expect(tsvField(-5_000, 't', true)).toBe('0000000000');
    expect(tsvField(null, 't', true)).toBe('\\N');
    // the same seconds toClickHouseRows computes
    const [row] = toClickHouseRows([{ t: 1_700_000_123_999 }], ['t']) as { t: number }[];
    expect(String(row!.t)).toBe('1700000123');
  });

  it.each([
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['undefined', undefined],
    ['an object', { a: 1 }],
    ['a Date', new Date(0)],
    ['a bigint', 1n],
    ['NaN in an array', [1, Number.NaN]],
    ['an object in an array', [{}]],
  ])('refuses %s', (_what, value) => {
    expect(() => tsvField(value, 'c')).toThrow(RowEncodingError);
  });
});

describe('TabSeparated rows', () => {
  it('one line per row, fields in the order of the column list (not of the row objects), LF-terminated', () => {
    const rows = [
      { b: 'x\ty', a: 1, t: 1_700_000_000_500, n: null, arr: [3, 4] },
      { t: 0, arr: [], n: 'ü', a: 2, b: '' }, // other key order, same keys
    ];
    const body = encodeTabSeparated(rows, ['a', 'b', 'n', 'arr', 't'], ['t']);
    expect(body).toBe('1\tx\\ty\t\\N\t[3,4]\t1700000000\n' + '2\t\t\u00fc\t[]\t0000000000\n');
  });

  it('no rows: an empty body', () => {
    expect(encodeTabSeparated([], ['a'])).toBe('');
  });

  it('the columns are the keys of the first row', () => {
    expect(insertColumns([{ z: 1, a: 2, m: null }])).toEqual(['z', 'a', 'm']);
    expect(insertColumns([])).toEqual([]);
    expect(() => insertColumns([{}])).toThrow(RowEncodingError);
  });

  it('refuses a row without a column of the first row, with an undefined value, or with other keys', () => {
    const cols = ['a', 'b'];
    expect(() => encodeTabSeparated([{ a: 1, b: 2 }, { a: 1 }], cols)).toThrow(/row 1: column b/);
    expect(() => encodeTabSeparated([{ a: 1, b: undefined }], cols)).toThrow(/row 0: column b/);
    expect(() => encodeTabSeparated([{ a: 1, b: 2, c: 3 }], cols)).toThrow(/row 0 has other keys/);
  });
});

// ---------------------------------------------------------------------------- write()

interface Sent {
  table: string;
  columns: string[];
  format: string;
  body: string;
}

/** A ClickHouseClient whose insert() records what it was sent and fails as told. */
function fakeClient(failures: (Error | null)[]): { ch: ClickHouseClient; sent: Sent[] } {
  const sent: Sent[] = [];
  const ch = {
    insert: async (p: { table: string; columns: string[]; format: string; values: Readable }) => {
      const chunks: Buffer[] = [];
      for await (const c of p.values) chunks.push(Buffer.from(c as Buffer));
      sent.push({ table: p.table, columns: p.columns, format: p.format, body: Buffer.concat(chunks).toString('utf8') });
      const fail = failures.shift();
      if (fail) throw fail;
      return { executed: true, query_id: 'q', response_headers: {} };
    },
  } as unknown as ClickHouseClient;
  return { ch, sent };
}

describe('ClickHouseWriter.write', () => {
  const rows = [
    { id: 'a\tb', at: 1_700_000_000_000, n: null },
    { id: '🎬', at: 0, n: 7 },
  ];

  it('sends one TabSeparated insert with the backtick-quoted columns of the rows', async () => {
    const { ch, sent } = fakeClient([]);
    await new ClickHouseWriter(ch, 'db1').write({ table: 't1', rows, times: ['at'] });
    expect(INSERT_FORMAT).toBe('TabSeparated');
    expect(sent).toEqual([
      {
        table: 'db1.t1',
        columns: ['`id`', '`at`', '`n`'],
        format: 'TabSeparated',
        body: 'a\\tb\t1700000000\t\\N\n🎬\t0000000000\t7\n',
      },
    ]);
  });

  it('writes nothing for no rows', async () => {
    const { ch, sent } = fakeClient([]);
    await new ClickHouseWriter(ch, 'db1').write({ table: 't1', rows: [] });
    expect(sent).toEqual([]);
  });

  it('retries an unreachable server with doubling backoff, the same body each time', async () => {
    const down = new Error('connect ECONNREFUSED 127.0.0.1:8123');
    const { ch, sent } = fakeClient([down, down, down, down, null]);
    const sleeps: number[] = [];
    const retries: number[] = [];
    const w = new ClickHouseWriter(ch, 'db1', {
      initialBackoffMs: 100,
      maxBackoffMs: 500,
      sleep: async (ms) => void sleeps.push(ms),
      onRetry: (_t, attempt) => void retries.push(attempt),
    });
    await w.write({ table: 't1', rows, times: ['at'] });
    expect(sleeps).toEqual([100, 200, 400, 500]);
    expect(retries).toEqual([1, 2, 3, 4]);
    expect(sent).toHaveLength(5);
    expect(new Set(sent.map((s) => s.body)).size).toBe(1);
  });

  it('gives up after giveUpAfterMs with a retriable VP_ERR_CLICKHOUSE', async () => {
    const down = new Error('socket hang up');
    const { ch } = fakeClient(Array.from({ length: 100 }, () => down));
    const w = new ClickHouseWriter(ch, 'db1', {
      giveUpAfterMs: 30,
      sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 10))),
    });
    const err = await w.write({ table: 't1', rows }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ViewpulseError);
    expect((err as ViewpulseError).code).toBe('VP_ERR_CLICKHOUSE');
    expect((err as ViewpulseError).retriable).toBe(true);
    expect((err as ViewpulseError).context.table).toBe('t1');
  });

  it.each([27, 26, 33, 53, 62, 60, 16, 117])('a server rejection (Code: %i) is not retried', async (code) => {
    const { ch, sent } = fakeClient([new Error(`Code: ${code}, e.displayText() = DB::Exception: nope`)]);
    const err = await new ClickHouseWriter(ch, 'db1', { sleep: async () => {} })
      .write({ table: 't1', rows })
      .catch((e: unknown) => e);
    expect((err as ViewpulseError).code).toBe('VP_ERR_CLICKHOUSE_REJECTED');
    expect((err as ViewpulseError).retriable).toBe(false);
    expect(sent).toHaveLength(1);
  });

  it('a row it cannot encode is rejected before anything is sent', async () => {
    const { ch, sent } = fakeClient([]);
    const w = new ClickHouseWriter(ch, 'db1');
    for (const bad of [
      [{ a: 1 }, { b: 1 }],
      [{ a: Number.NaN }],
      [{ a: { nested: true } }],
      [{ 'a-b': 1 }], // not a plain identifier
    ]) {
      const err = await w.write({ table: 't1', rows: bad }).catch((e: unknown) => e);
      expect((err as ViewpulseError).code).toBe('VP_ERR_CLICKHOUSE_REJECTED');
      expect((err as ViewpulseError).retriable).toBe(false);
    }
    expect(sent).toEqual([]);
  });

  it('refuses a table or database that is not a plain identifier', async () => {
    const { ch } = fakeClient([]);
    expect(() => new ClickHouseWriter(ch, 'db; DROP')).toThrow();
    await expect(new ClickHouseWriter(ch, 'db1').write({ table: 't 1', rows })).rejects.toThrow();
  });
});
