import { describe, expect, it } from 'vitest';
import { join, quoteString, sql, SqlValueError, v, type SqlFragment } from '../../lib/clickhouse/sql.js';

const hostile = [
  "'",
  "''",
  "\\'",
  '\\',
  "x' OR 1=1 --",
  "'); DROP TABLE play_events; --",
  'a\u0000b',
  'line1\nline2\r\n',
  '\t\b\f\v',
  '\u0001\u001f\u007f',
  'emoji 🎬 ünïcödé 漢字',
  '\\x27',
  '`backtick`',
  '/* comment */',
  '{name:String}',
];

/** Decodes a ClickHouse string literal the way the server's parser does. */
function unquote(literal: string): string {
  expect(literal.startsWith("'") && literal.endsWith("'")).toBe(true);
  const body = literal.slice(1, -1);
  const map: Record<string, string> = {
    '\\': '\\',
    "'": "'",
    '0': '\0',
    b: '\b',
    f: '\f',
    n: '\n',
    r: '\r',
    t: '\t',
    v: '\v',
  };
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const ch = body[i]!;
    if (ch === "'") throw new Error(`unescaped quote at ${i} in ${literal}`);
    if (ch !== '\\') {
      out += ch;
      continue;
    }
    const next = body[++i]!;
    if (next === 'x') {
      out += String.fromCharCode(parseInt(body.slice(i + 1, i + 3), 16));
      i += 2;
    } else out += map[next] ?? next;
  }
  return out;
}

describe('quoteString', () => {
  it.each(hostile)('round-trips hostile string %j without ever closing the literal early', (s) => {
    const lit = quoteString(s);
    expect(unquote(lit)).toBe(s);
    expect(lit).not.toMatch(/[\n\r\0]/);
  });

  it('refuses lone surrogates, which have no UTF-8 form', () => {
    expect(() => quoteString('\ud800')).toThrow(SqlValueError);
  });

  it('keeps unicode as is', () => {
    expect(quoteString('ünï 🎬')).toBe("'ünï 🎬'");
  });
});

describe('sql tag', () => {
  it('interpolates typed values', () => {
    const q = sql`SELECT * FROM ${v.table('viewpulse', 'play_events')} WHERE video_id = ${v.string("a'b")} LIMIT ${v.uint(10)}`;
    expect(q.text).toBe("SELECT * FROM `viewpulse`.`play_events` WHERE video_id = 'a\\'b' LIMIT 10");
  });

  it('rejects raw values at run time', () => {
    const raw = 'x' as unknown as SqlFragment;
    expect(() => sql`SELECT ${raw}`).toThrow(/raw string/);
    const num = 1 as unknown as SqlFragment;
    expect(() => sql`SELECT ${num}`).toThrow(/raw number/);
  });

  it('rejects look-alike objects that were not made by the module', () => {
    const fake = { text: '1; DROP TABLE x', toString: () => '1' } as unknown as SqlFragment;
    expect(() => sql`SELECT ${fake}`).toThrow(SqlValueError);
  });

  it('nests fragments and joins them', () => {
    const where = join([sql`a = ${v.int(1)}`, sql`b = ${v.string('x')}`], ' AND ');
    expect(sql`SELECT 1 WHERE ${where}`.text).toBe("SELECT 1 WHERE a = 1 AND b = 'x'");
  });
});

describe('numbers', () => {
  it('renders integers in range and parenthesises negatives', () => {
    expect(v.int(-5).text).toBe('(-5)');
    expect(v.uint(18446744073709551615n).text).toBe('18446744073709551615');
    expect(v.int(-9223372036854775808n).text).toBe('(-9223372036854775808)');
  });

  it.each([
    [() => v.uint(-1)],
    [() => v.int(1.5)],
    [() => v.int(Number.MAX_SAFE_INTEGER + 1)],
    [() => v.int(NaN)],
    [() => v.uint(256, 'UInt8')],
    [() => v.int(2n ** 63n)],
    [() => v.int('1' as unknown as number)],
    [() => v.float(Infinity)],
    [() => v.float(NaN)],
    [() => v.float('1; DROP' as unknown as number)],
  ])('rejects bad number %#', (make) => {
    expect(make).toThrow(SqlValueError);
  });

  it('renders floats', () => {
    expect(v.float(0.25).text).toBe('0.25');
    expect(v.float(-0).text).toBe('0');
    expect(v.float(-1e-7).text).toBe('(-1e-7)');
  });
});

describe('dates', () => {
  it('renders days and instants in UTC', () => {
    expect(v.date('2026-11-21').text).toBe("toDate('2026-11-21')");
    expect(v.dateTime('2026-11-21T10:20:30.999Z').text).toBe("toDateTime('2026-11-21 10:20:30', 'UTC')");
    expect(v.dateTime('2026-11-21T10:20:30+02:00').text).toBe("toDateTime('2026-11-21 08:20:30', 'UTC')");
    expect(v.dateTime(0).text).toBe("toDateTime('1970-01-01 00:00:00', 'UTC')");
    expect(v.dateTime(new Date(Date.UTC(2030, 0, 2, 3, 4, 5))).text).toBe("toDateTime('2030-01-02 03:04:05', 'UTC')");
  });

  it.each(['yesterday', "2026-01-01' OR 1=1", '2026-13-45', '1969-12-31', '2200-01-01', '', '2026-1-1'])(
    'rejects bad date %j',
    (d) => {
      expect(() => v.dateTime(d)).toThrow(SqlValueError);
    },
  );
});

describe('arrays', () => {
  it('renders typed arrays and typed empty arrays', () => {
    expect(v.array(['a', "b'"], 'String').text).toBe("['a', 'b\\'']");
    expect(v.array([1, 2], 'UInt32').text).toBe('[1, 2]');
    expect(v.array([], 'String').text).toBe('emptyArrayString()');
    expect(v.array(['2026-01-01'], 'Date').text).toBe("[toDate('2026-01-01')]");
  });

  it('renders IN lists, refusing empty ones', () => {
    expect(v.inList(['a', "b'"], 'String').text).toBe("('a', 'b\\'')");
    expect(v.inList([1], 'UInt8').text).toBe('(1)');
    expect(() => v.inList([], 'String')).toThrow(SqlValueError);
  });

  it('validates every element', () => {
    expect(() => v.array([1, -1], 'UInt32')).toThrow(SqlValueError);
    expect(() => v.array(['ok', 3 as unknown as string], 'String')).toThrow(SqlValueError);
    expect(() => v.array('abc' as unknown as string[], 'String')).toThrow(SqlValueError);
  });
});

describe('identifiers and keywords', () => {
  it('quotes plain identifiers', () => {
    expect(v.ident('play_events').text).toBe('`play_events`');
  });

  it.each(['', '1abc', 'a-b', 'a`b', 'a b', 'x; DROP TABLE y', 'a.b', 'é', 'a'.repeat(200)])('rejects %j', (name) => {
    expect(() => v.ident(name)).toThrow(SqlValueError);
  });

  it('allows only listed keywords', () => {
    expect(v.keyword('DESC', ['ASC', 'DESC']).text).toBe('DESC');
    expect(() => v.keyword('DESC; DROP', ['ASC', 'DESC'])).toThrow(SqlValueError);
  });

  it('accepts only booleans as booleans', () => {
    expect(v.bool(true).text).toBe('1');
    expect(() => v.bool('true' as unknown as boolean)).toThrow(SqlValueError);
  });
});
