// The insights API's pure parts: time zones and buckets, exact grain decomposition, range
// parsing, CSV, cursors, content negotiation, the token buckets, tokens.
import { describe, expect, it } from 'vitest';
import { signToken, VerifiedTokens, verifyToken } from '../../api/auth.js';
import { TokenBuckets } from '../../lib/rate-limit.js';
import { parseCsv, toCsv } from '../../api/csv.js';
import { DAY as DAY_MS, HOUR as HOUR_MS, MINUTE as MINUTE_MS } from '../../lib/time.js';
import {
  bucketBoundaries,
  bucketIndex,
  innerUnit,
  isTimeZone,
  offsetAt,
  parseInstant,
  daysAndWeeks,
  segments,
  segmentsAndWeeks,
  startOfDay,
  startOfHour,
  zonedInstant,
} from '../../api/queries/range.js';
import { decodeCursor, encodeCursor } from '../../api/routes/cursor.js';
import { parseRange } from '../../api/routes/range-params.js';
import { wantsCsv } from '../../api/routes/tabular.js';
import { changePercent } from '../../api/routes/overview.js';
import { ProblemError } from '../../api/problem.js';
import { parseTtl } from '../../cli/token.js';
import type { FastifyRequest } from 'fastify';
import { histogramQuantile } from '../../api/queries/qoe.js';
import { startupBucket, startupOfBucket } from '../../processors/semantics.js';

const T = (s: string): number => Date.parse(s);

describe('time zones', () => {
  it('knows IANA zones and refuses anything else', () => {
    for (const tz of ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata', 'Asia/Kathmandu'])
      expect(isTimeZone(tz)).toBe(true);
    for (const tz of ['', 'Mars/Olympus', "UTC' OR 1=1 --", 'Europe/Berlin\u0000', 'a'.repeat(65), '../etc/passwd'])
      expect(isTimeZone(tz)).toBe(false);
  });

  it('offsets, local midnights and hours across DST', () => {
    expect(offsetAt(T('2026-01-15T12:00:00Z'), 'Europe/Berlin')).toBe(HOUR_MS);
    expect(offsetAt(T('2026-07-15T12:00:00Z'), 'Europe/Berlin')).toBe(2 * HOUR_MS);
    expect(offsetAt(T('2026-07-15T12:00:00Z'), 'Asia/Kolkata')).toBe(5.5 * HOUR_MS);
    expect(startOfDay(T('2026-03-29T12:00:00Z'), 'Europe/Berlin')).toBe(T('2026-03-28T23:00:00Z'));
    expect(startOfDay(T('2026-03-30T12:00:00Z'), 'Europe/Berlin')).toBe(T('2026-03-29T22:00:00Z'));
    expect(startOfDay(T('2026-07-15T20:00:00Z'), 'Asia/Kolkata')).toBe(T('2026-07-15T18:30:00Z'));
    expect(startOfHour(T('2026-07-15T20:10:00Z'), 'Asia/Kolkata')).toBe(T('2026-07-15T19:30:00Z'));
    expect(startOfHour(T('2026-07-15T20:10:00Z'), 'Asia/Kathmandu')).toBe(T('2026-07-15T19:15:00Z'));
    // Midnight that does not exist (Santiago, spring forward at 00:00): the day starts at 01:00 local.
    const s = zonedInstant('America/Santiago', 2026, 9, 6);
    expect(s).toBe(T('2026-09-06T04:00:00Z'));
  });

  it('day buckets are 23, 24 and 25 hours long around DST; hour buckets follow the zone', () => {
    const b = bucketBoundaries(
      { from: T('2026-03-28T00:00:00+01:00'), to: T('2026-04-01T00:00:00+02:00') },
      'day',
      'Europe/Berlin',
      100,
    );
    const lengths = b.slice(1).map((x, i) => (x - b[i]!) / HOUR_MS);
    expect(lengths).toEqual([24, 23, 24, 24]);
    const fall = bucketBoundaries(
      { from: T('2026-10-25T00:00:00+02:00'), to: T('2026-10-26T00:00:00+01:00') },
      'day',
      'Europe/Berlin',
      100,
    );
    expect(fall.length).toBe(2);
    expect((fall[1]! - fall[0]!) / HOUR_MS).toBe(25);
    const hours = bucketBoundaries(
      { from: T('2026-07-15T20:10:00Z'), to: T('2026-07-15T23:00:00Z') },
      'hour',
      'Asia/Kolkata',
      100,
    );
    expect(hours.map((x) => new Date(x).toISOString().slice(11, 16))).toEqual([
      '20:10',
      '20:30',
      '21:30',
      '22:30',
      '23:00',
    ]);
    expect(() => bucketBoundaries({ from: 0, to: 20 * DAY_MS }, 'minute', 'UTC', 1000)).toThrow(RangeError);
  });

  it('bucketIndex finds the bucket of an instant', () => {
    const b = [0, 10, 20, 30];
    expect([0, 5, 10, 19, 20, 29, -5].map((t) => bucketIndex(b, t))).toEqual([0, 0, 1, 1, 2, 2, 0]);
  });
});

describe('exact grains', () => {
  it('segments cover every minute once, coarsest first where they fit', () => {
    for (const [from, to] of [
      ['2026-11-20T10:17:00Z', '2026-11-23T05:43:00Z'],
      ['2026-11-20T10:17:00Z', '2026-11-20T10:43:00Z'],
      ['2026-11-20T00:00:00Z', '2026-11-22T00:00:00Z'],
      ['2026-11-20T10:00:00Z', '2026-11-20T14:00:00Z'],
      ['2026-11-20T23:59:00Z', '2026-11-21T00:01:00Z'],
    ] as const) {
      const r = { from: T(from), to: T(to) };
      const segs = segments(r);
      let covered = 0;
      let at = r.from;
      for (const s of segs) {
        expect(s.from).toBe(at);
        const size = { minute: MINUTE_MS, hour: HOUR_MS, day: DAY_MS }[s.grain];
        expect(s.from % size).toBe(0);
        expect(s.to % size).toBe(0);
        covered += s.to - s.from;
        at = s.to;
      }
      expect(covered).toBe(r.to - r.from);
    }
    expect(segments({ from: T('2026-11-20T00:00:00Z'), to: T('2026-11-22T00:00:00Z') })).toEqual([
      { grain: 'day', from: T('2026-11-20T00:00:00Z'), to: T('2026-11-22T00:00:00Z') },
    ]);
  });

  it('segmentsAndWeeks covers the range exactly once, with whole Monday-start weeks where they fit', () => {
    for (const [from, to] of [
      ['2026-11-20T10:17:00Z', '2026-12-19T04:03:00Z'],
      ['2026-11-23T00:00:00Z', '2026-11-30T00:00:00Z'],
      ['2026-11-22T23:00:00Z', '2026-12-01T01:00:00Z'],
      ['2026-11-24T00:00:00Z', '2026-11-30T00:00:00Z'],
      ['2026-09-01T00:00:00Z', '2026-12-01T00:00:00Z'],
    ] as const) {
      const r = { from: T(from), to: T(to) };
      const { segments: segs, weeks } = segmentsAndWeeks(r);
      const parts = [...segs.map((x) => ({ ...x })), ...(weeks ? [{ grain: 'week' as const, ...weeks }] : [])];
      parts.sort((a, b) => a.from - b.from);
      let at = r.from;
      for (const x of parts) {
        expect(x.from, `${from}..${to}`).toBe(at);
        at = x.to;
      }
      expect(at).toBe(r.to);
      if (weeks) {
        // Mondays, 00:00 UTC (getUTCDay: 1), whole weeks apart
        for (const edge of [weeks.from, weeks.to]) expect([new Date(edge).getUTCDay(), edge % DAY_MS]).toEqual([1, 0]);
        expect((weeks.to - weeks.from) % (7 * DAY_MS)).toBe(0);
      }
      // days outside the weeks: fewer than a week on each side
      for (const d of segs.filter((x) => x.grain === 'day')) expect(d.to - d.from).toBeLessThan(7 * DAY_MS);
    }
    // 2026-11-23 is a Monday: the week 23..30 is one state
    expect(segmentsAndWeeks({ from: T('2026-11-23T00:00:00Z'), to: T('2026-11-30T00:00:00Z') })).toEqual({
      segments: [],
      weeks: { from: T('2026-11-23T00:00:00Z'), to: T('2026-11-30T00:00:00Z') },
    });
    // six days: no whole week
    expect(daysAndWeeks(T('2026-11-24T00:00:00Z'), T('2026-11-30T00:00:00Z'))).toEqual({
      days: [{ from: T('2026-11-24T00:00:00Z'), to: T('2026-11-30T00:00:00Z') }],
      weeks: null,
    });
  });

  it('innerUnit picks the largest unit dividing every boundary', () => {
    expect(innerUnit([T('2026-11-20T00:00:00Z'), T('2026-11-21T00:00:00Z')])).toEqual({
      unitSeconds: 86_400,
      grain: 'day',
    });
    expect(innerUnit([T('2026-11-20T05:00:00Z'), T('2026-11-21T05:00:00Z')])).toEqual({
      unitSeconds: 3_600,
      grain: 'hour',
    });
    expect(innerUnit([T('2026-11-20T18:30:00Z'), T('2026-11-21T18:30:00Z')])).toEqual({
      unitSeconds: 1_800,
      grain: 'minute',
    });
    expect(innerUnit([T('2026-11-20T18:31:00Z')]).unitSeconds).toBe(60);
  });
});

describe('ranges', () => {
  const now = T('2026-11-20T10:17:42Z');
  const bad = (q: Record<string, string>): string => {
    try {
      parseRange(q, now);
    } catch (err) {
      expect(err).toBeInstanceOf(ProblemError);
      expect((err as ProblemError).problem.status).toBe(400);
      return (err as ProblemError).problem.detail;
    }
    throw new Error(`accepted ${JSON.stringify(q)}`);
  };

  it('parses dates and date-times, rounds down to minutes, and defaults to the last 28 days', () => {
    expect(parseInstant('2026-11-20', 'UTC')).toBe(T('2026-11-20T00:00:00Z'));
    expect(parseInstant('2026-11-20', 'Europe/Berlin')).toBe(T('2026-11-19T23:00:00Z'));
    expect(parseInstant('2026-11-20T11:00:30.5+01:00', 'UTC')).toBe(T('2026-11-20T10:00:30.500Z'));
    const d = parseRange({}, now);
    expect(d.range.to).toBe(T('2026-11-20T10:18:00Z'));
    expect(d.range.to - d.range.from).toBe(28 * DAY_MS);
    expect(parseRange({ from: '2026-11-20T10:00:59Z', to: '2026-11-20T11:00:01Z' }, now).range).toEqual({
      from: T('2026-11-20T10:00:00Z'),
      to: T('2026-11-20T11:00:00Z'),
    });
  });

  it('refuses bad dates, reversed and huge ranges, unknown zones', () => {
    expect(bad({ from: '2026-02-30' })).toMatch(/no such date/);
    expect(bad({ from: '2026-13-01' })).toMatch(/no such date/);
    expect(bad({ from: '2026-11-20T25:00:00Z' })).toMatch(/no such time/);
    expect(bad({ from: '2026-11-20T10:00:00' })).toMatch(/offset/);
    expect(bad({ from: "2026-11-20' OR 1=1 --" })).toMatch(/ISO 8601/);
    expect(bad({ from: '1969-12-31' })).toMatch(/2000/);
    expect(bad({ to: '2200-01-01' })).toMatch(/2100/);
    expect(bad({ from: '2026-11-21', to: '2026-11-20' })).toMatch(/after from/);
    expect(bad({ from: '2026-11-20T10:00:10Z', to: '2026-11-20T10:00:50Z' })).toMatch(/after from/);
    expect(bad({ from: '2024-01-01', to: '2026-01-01' })).toMatch(/400 days/);
    expect(bad({ tz: 'Mars/Olympus' })).toMatch(/time zone/);
  });
});

describe('csv', () => {
  it('quotes what needs quoting, defuses formulas, and parses back', () => {
    const rows = [
      ['plain', 1, null],
      ['a,b', -2.5, 'x"y'],
      ['=HYPERLINK("x")', 0, 'line\nbreak'],
    ];
    const text = toCsv(['name', 'value', 'note'], rows);
    expect(text.split('\r\n')[0]).toBe('name,value,note');
    expect(text).toContain('"\'=HYPERLINK(""x"")"');
    expect(parseCsv(text)).toEqual([
      ['name', 'value', 'note'],
      ['plain', '1', ''],
      ['a,b', '-2.5', 'x"y'],
      ['\'=HYPERLINK("x")', '0', 'line\nbreak'],
    ]);
  });
});

describe('cursors, negotiation, change', () => {
  it('cursors round-trip and garbage is a 400', () => {
    const c = { s: 'views', v: 12, id: 'v1', f: 1, t: 2 };
    expect(decodeCursor(encodeCursor(c))).toEqual(c);
    for (const bad of ['', 'not base64!', 'W10', Buffer.from('"x"').toString('base64url'), 'a'.repeat(600)])
      expect(() => decodeCursor(bad)).toThrow(ProblemError);
  });

  it('CSV when format=csv, or when Accept prefers text/csv', () => {
    const req = (accept: string | undefined, format?: string): FastifyRequest =>
      ({
        headers: accept === undefined ? {} : { accept },
        query: format ? { format } : {},
      }) as unknown as FastifyRequest;
    expect(wantsCsv(req(undefined))).toBe(false);
    expect(wantsCsv(req('text/csv'))).toBe(true);
    expect(wantsCsv(req('application/json, text/csv;q=0.5'))).toBe(false);
    expect(wantsCsv(req('text/csv, application/json;q=0.9'))).toBe(true);
    expect(wantsCsv(req('*/*'))).toBe(false);
    expect(wantsCsv(req('text/csv;q=0'))).toBe(false);
    expect(wantsCsv(req('text/csv', 'json'))).toBe(false);
    expect(wantsCsv(req(undefined, 'csv'))).toBe(true);
  });

  it('change_percent is null when the previous value is 0', () => {
    expect(changePercent(150, 100)).toBe(50);
    expect(changePercent(5, 0)).toBeNull();
    expect(changePercent(null, 3)).toBeNull();
    expect(changePercent(1, 3)).toBe(-66.67);
  });
});

describe('token buckets', () => {
  it('refills over time, answers the wait in whole seconds, keeps at most maxKeys', () => {
    let now = 0;
    const b = new TokenBuckets({ perSecond: 2, burst: 3, maxKeys: 2 }, () => now);
    expect([b.take('a'), b.take('a'), b.take('a')]).toEqual([0, 0, 0]);
    expect(b.take('a')).toBe(1);
    now += 500;
    expect(b.take('a')).toBe(0);
    b.take('b');
    b.take('c');
    expect(b.size).toBe(2);
  });
});

describe('tokens', () => {
  const secret = 'unit-test-secret-0123456789';
  it('sign and verify; expiry, other secrets and bad claims are refused with a reason', async () => {
    const now = T('2026-11-20T10:00:00Z');
    const t = await signToken({ secret, sub: 'c1', role: 'creator', ttlSeconds: 60, now });
    expect(await verifyToken(t, secret, now + 1000)).toEqual({
      ok: true,
      principal: { sub: 'c1', role: 'creator' },
      expSeconds: now / 1000 + 60,
    });
    expect(await verifyToken(t, secret, now + 61_000)).toEqual({ ok: false, reason: 'token_expired' });
    expect(await verifyToken(t, `${secret}x`, now)).toEqual({ ok: false, reason: 'invalid_token' });
    expect(await verifyToken('a.b.c', secret, now)).toEqual({ ok: false, reason: 'invalid_token' });
    await expect(signToken({ secret, sub: "c1' OR 1=1", role: 'creator', ttlSeconds: 60 })).rejects.toThrow();
  });

  it('verified tokens are kept until they expire, exactly as jwtVerify refuses them; refused ones never', async () => {
    const now = T('2026-11-20T10:00:00Z');
    const cache = new VerifiedTokens(secret, 3);
    const t = await signToken({ secret, sub: 'c1', role: 'creator', ttlSeconds: 60, now });
    const fresh = await verifyToken(t, secret, now);
    expect(await cache.verify(t, now)).toEqual(fresh);
    expect(cache.size).toBe(1);
    expect(await cache.verify(t, now + 59_999)).toEqual(fresh);
    // at exp: refused, as jwtVerify refuses it, and dropped
    expect(await verifyToken(t, secret, now + 60_000)).toEqual({ ok: false, reason: 'token_expired' });
    expect(await cache.verify(t, now + 60_000)).toEqual({ ok: false, reason: 'token_expired' });
    expect(cache.size).toBe(0);
    // another secret's token, a forged one: refused every time, never kept
    const foreign = await signToken({ secret: `${secret}x`, sub: 'c1', role: 'admin', ttlSeconds: 60, now });
    for (let i = 0; i < 2; i++)
      expect(await cache.verify(foreign, now)).toEqual({ ok: false, reason: 'invalid_token' });
    const [h, , sig] = t.split('.');
    const forged = `${h}.${Buffer.from(JSON.stringify({ sub: 'c1', role: 'admin', exp: now / 1000 + 60 })).toString('base64url')}.${sig}`;
    expect(await cache.verify(forged, now)).toEqual({ ok: false, reason: 'invalid_token' });
    expect(cache.size).toBe(0);
    // bounded: the oldest goes first
    const tokens = await Promise.all(
      ['c1', 'c2', 'c3', 'c4'].map((sub) => signToken({ secret, sub, role: 'creator', ttlSeconds: 60, now })),
    );
    for (const x of tokens) expect((await cache.verify(x, now)).ok).toBe(true);
    expect(cache.size).toBe(3);
    expect(await cache.verify(tokens[3]!, now)).toMatchObject({ ok: true, principal: { sub: 'c4' } });
  });

  it('ttl durations', () => {
    expect(parseTtl('90s')).toBe(90);
    expect(parseTtl('1h')).toBe(3600);
    expect(parseTtl('7d')).toBe(7 * 86400);
    expect(parseTtl('120')).toBe(120);
    for (const bad of ['', '1y', '-1h', '0', '400d', '1h; rm -rf']) expect(() => parseTtl(bad)).toThrow();
  });
});

describe('startup-time quantiles from the rollup histogram', () => {
  const nearestRank = (sorted: readonly number[], q: number): number =>
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;

  it('buckets are whole ms below 128 ms, then 1 % wide, and a bucket stands for a value inside it', () => {
    for (let ms = 0; ms < 128; ms++) expect(startupOfBucket(startupBucket(ms))).toBe(ms);
    for (const ms of [128, 129, 500, 1_234, 9_999, 60_000, 1_000_000]) {
      const b = startupBucket(ms);
      expect(b).toBeGreaterThanOrEqual(128);
      expect(Math.abs(startupOfBucket(b) - ms) / ms).toBeLessThanOrEqual(0.01);
      expect(startupBucket(ms * 1.0102)).toBeGreaterThan(b);
    }
  });

  it('p50 and p95 are within 1 % of the exact nearest-rank quantiles, whatever the spread', () => {
    let seed = 11;
    const random = (): number => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
    for (const n of [1, 2, 3, 10, 101, 5_000]) {
      const values = Array.from({ length: n }, () => Math.round(50 + 4_000 * random() ** 3));
      const histogram = new Map<number, number>();
      for (const x of values) histogram.set(startupBucket(x), (histogram.get(startupBucket(x)) ?? 0) + 1);
      const sorted = [...values].sort((a, b) => a - b);
      for (const q of [0.5, 0.95]) {
        const want = nearestRank(sorted, q);
        const got = histogramQuantile(histogram, q)!;
        expect(Math.abs(got - want), `n=${n} q=${q}`).toBeLessThanOrEqual(want * 0.01);
      }
    }
    expect(histogramQuantile(new Map(), 0.5)).toBeNull();
  });
});
