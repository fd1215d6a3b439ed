// The binding helper against the real ClickHouse server: every literal it renders is
// accepted and means exactly the value that went in.
import { afterAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../lib/clickhouse/client.js';
import { sql, v } from '../../lib/clickhouse/sql.js';
import { realServices } from '../../harness/services.js';

const s = realServices('sql');
afterAll(() => s.clickhouse.close());

const hostile = [
  "'",
  "\\'",
  '\\',
  "x' OR 1=1 --",
  "'); DROP TABLE t; --",
  'a\u0000b',
  'line1\nline2\r\n',
  '\t\b\f\v\u0001\u001f\u007f',
  'ünïcödé 🎬 漢字',
  '\\x27\\n',
  '{name:String}',
];

describe('binding helper on the real server', () => {
  it.each(hostile)('string %j comes back unchanged', async (text) => {
    const [row] = await queryRows<{ s: string; n: string }>(
      s.clickhouse,
      sql`SELECT ${v.string(text)} AS s, length(${v.string(text)}) AS n`,
    );
    expect(row!.s).toBe(text);
    expect(Number(row!.n)).toBe(Buffer.byteLength(text, 'utf8'));
  });

  it('numbers, dates and arrays mean what they say', async () => {
    const [row] = await queryRows<Record<string, unknown>>(
      s.clickhouse,
      sql`SELECT toString(${v.int(-5)} - ${v.int(-3)}) AS diff,
                 toString(${v.uint(18446744073709551615n)}) AS big,
                 ${v.float(-0.5)} AS f,
                 toString(${v.date('2026-11-21')}) AS d,
                 toUnixTimestamp(${v.dateTime('2026-11-21T10:20:30Z')}) AS ts,
                 length(${v.array([], 'String')}) AS empty,
                 arrayStringConcat(${v.array(["a'", 'b\\'], 'String')}, '|') AS joined,
                 has(${v.array([1, 2, 3], 'UInt32')}, 2) AS has2,
                 'b\\'' IN ${v.inList(['a', "b'"], 'String')} AS inList`,
    );
    expect(row).toMatchObject({
      diff: '-2',
      big: '18446744073709551615',
      f: -0.5,
      d: '2026-11-21',
      ts: Date.UTC(2026, 10, 21, 10, 20, 30) / 1000,
      empty: '0',
      joined: "a'|b\\",
      has2: 1,
      inList: 1,
    });
  });
});
