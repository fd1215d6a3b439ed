// The creator insights API on data the real pipeline produced (generator → collector → Kafka
// → processors → ClickHouse), compared route by route with the generator's ground truth for
// the same ranges: plays, views and watch time exactly, unique viewers within 2 %, retention
// within 1 percentage point, breakdowns, traffic and audience adding up to the totals. Also:
// the authorization matrix on real data, hostile input against a checksum of the database,
// CSV, ETag and 304.
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../api/app.js';
import { ID_PATTERN, signToken } from '../../api/auth.js';
import { parseCsv } from '../../api/csv.js';
import { creatorVideoIds } from '../../api/queries/video-catalog.js';
import { sessionsOf } from '../../api/queries/sessions.js';
import { join } from 'node:path';
import { exec, queryRows } from '../../lib/clickhouse/client.js';
import { migrate } from '../../lib/clickhouse/migrations.js';
import { join as joinSql, sql, v, type SqlFragment } from '../../lib/clickhouse/sql.js';
import { projectRoot } from '../../infra/paths.js';
import { TABLES } from '../../schemas/tables.js';
import type { TruthReport } from '../../generator/index.js';
import type { GeneratedCatalog } from '../../generator/catalog.js';
import { sendThroughCollector, startPipeline, waitForPipeline } from './e2e-helpers.js';
import { pipeline, type Pipeline } from '../../harness/pipeline.js';
import { qs, type QueryValue } from '../url.js';

const EVENTS = Number(process.env.VIEWPULSE_API_TEST_EVENTS ?? 30_000);
const SEED = Number(process.env.VIEWPULSE_API_TEST_SEED ?? 7);
const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const floor = (t: number, s: number): number => Math.floor(t / s) * s;
const iso = (t: number): string => new Date(t).toISOString();

let p: Pipeline;
let truth: TruthReport;
let catalog: GeneratedCatalog;
let app: FastifyInstance;
let NOW: number;
let tokens: { a: string; b: string; admin: string; w: string };
let A: string; // the creator with most views
let B: string; // the second
let W: string; // the creator of the last active video (realtime)
let first: number;
let last: number;
/** [floorHour(first), floorHour(last) + 2h): every event, hour aligned */
let FULL: { from: number; to: number };
/** an unaligned range in the middle */
let ODD: { from: number; to: number };

const creatorOf = (videoId: string): string => catalog.byId.get(videoId)?.video.creator_id ?? '';
const videosOf = (creator: string): string[] =>
  catalog.videos.filter((x) => x.video.creator_id === creator).map((x) => x.video.video_id);

function truthCounts(
  videos: readonly string[],
  from: number,
  to: number,
): { plays: number; views: number; watch: number } {
  const set = new Set(videos);
  const out = { plays: 0, views: 0, watch: 0 };
  for (const r of truth.minutes) {
    if (!set.has(r.video_id) || r.minute < from || r.minute >= to) continue;
    out.plays += r.plays;
    out.views += r.views;
    out.watch += r.watch_ms;
  }
  return out;
}

interface FixedZone {
  tz: string;
  /** the local midnight chosen, epoch ms */
  midnight: number;
  /** data before it and at or after it */
  splits: boolean;
}

/**
 * One fixed-offset zone west of UTC and one east of it, for day buckets, from the times of the
 * data (minute starts): Etc/GMT+N is N hours west (its midnight is N:00 UTC, N = 1..12),
 * Etc/GMT-N N hours east (midnight at (24 − N):00 UTC, N = 1..14). For each side, the zone
 * whose midnight falls inside the data nearest its median (a day boundary inside one UTC day:
 * two buckets, so a UTC day row must not be read whole); when the data lies in hours where no
 * zone of that side has its midnight (13..23 UTC for the west, 1..9 for the east), the zone of
 * that side whose midnight is nearest to the data. Either way the zone's name has a sign that
 * must be encoded (`+` is a space in a query string), and the sign must not be read backwards.
 */
function fixedOffsetZones(times: readonly number[]): FixedZone[] {
  const sorted = [...times].sort((a, b) => a - b);
  const lo = sorted[0]!;
  const hi = sorted.at(-1)!;
  const median = sorted[Math.floor(sorted.length / 2)]!;
  const pick = (candidates: Array<{ tz: string; hour: number }>): FixedZone => {
    let best: (FixedZone & { score: number }) | undefined;
    for (const c of candidates) {
      for (const k of [-1, 0, 1]) {
        const midnight = floor(median, DAY) + k * DAY + c.hour * HOUR;
        const splits = lo < midnight && midnight <= hi;
        const score = splits ? Math.abs(midnight - median) : DAY + Math.max(lo - midnight, midnight - hi);
        if (!best || score < best.score) best = { tz: c.tz, midnight, splits, score };
      }
    }
    const { score: _score, ...zone } = best!;
    return zone;
  };
  const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);
  return [
    pick(range(12).map((n) => ({ tz: `Etc/GMT+${n}`, hour: n }))),
    pick(range(14).map((n) => ({ tz: `Etc/GMT-${n}`, hour: 24 - n }))),
  ];
}

const within = (got: number, want: number, rel: number): boolean =>
  want === 0 ? got === 0 : Math.abs(got - want) / want <= rel;

async function get(url: string, token: string | null = tokens.a, headers: Record<string, string> = {}) {
  return app.inject({ url, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers } });
}

async function ok<T>(url: string, token: string = tokens.a): Promise<T> {
  const res = await get(url, token);
  expect(res.statusCode, `${url} → ${res.body.slice(0, 300)}`).toBe(200);
  return res.json() as T;
}

/** The query string of a range and other parameters, every value encoded (test/url.ts). */
const q = (r: { from: number; to: number }, extra: Record<string, QueryValue> = {}): string =>
  qs({ ...extra, from: iso(r.from), to: iso(r.to) });

describe(`insights API on the real pipeline (${EVENTS} generated records)`, () => {
  beforeAll(async () => {
    p = await pipeline('api');
    // Visits over 4 h before the pinned now (test/clock.ts): by default 22:00 to about 03:00
    // UTC, across UTC midnight and the midnights of a zone east and one west of UTC.
    const sent = await sendThroughCollector(p, {
      events: EVENTS,
      seed: SEED,
      spanMs: 4 * HOUR,
      faults: { outOfOrder: 0.03, late: 0.01, duplicate: 0.02, malformed: 0.005 },
    });
    await sent.collector.close();
    const processors = await startPipeline(p);
    await waitForPipeline(p);
    await processors.stop();
    truth = sent.truth;
    catalog = sent.traffic.catalog;
    first = truth.time.first_event;
    last = truth.time.last_event;
    NOW = last + 5_000;
    FULL = { from: floor(first, HOUR), to: floor(last, HOUR) + 2 * HOUR };
    ODD = { from: floor(first, MIN) + 17 * MIN, to: floor(last, MIN) - 23 * MIN };

    const views = new Map<string, number>();
    for (const r of truth.minutes) views.set(creatorOf(r.video_id), (views.get(creatorOf(r.video_id)) ?? 0) + r.views);
    const ranked = [...views].filter(([c]) => c !== '').sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1));
    A = ranked[0]![0];
    B = ranked[1]![0];
    const lastRow = truth.minutes.reduce((m, r) => (r.minute > m.minute ? r : m));
    W = creatorOf(lastRow.video_id);
    const secret = p.testConfig.api.jwtSecret;
    const sign = (sub: string, role: 'creator' | 'admin' = 'creator'): Promise<string> =>
      signToken({ secret, sub, role, ttlSeconds: 3600, now: NOW });
    tokens = { a: await sign(A), b: await sign(B), admin: await sign('ops', 'admin'), w: await sign(W) };
    app = buildApp({
      clickhouse: p.clickhouse,
      database: p.database,
      jwtSecret: secret,
      now: () => NOW,
      rateLimit: false,
    });
    await app.ready();
  }, 900_000);

  afterAll(async () => {
    await app?.close();
    await p?.cleanup();
  });

  // ------------------------------------------------------------------------------ overview

  it('overview: plays, views, watch time exact for aligned and unaligned ranges and their previous periods', async () => {
    for (const r of [FULL, ODD]) {
      const o = await ok<{
        metrics: Record<string, { value: number | null; previous: number | null; change_percent: number | null }>;
        previous_range: { from: string; to: string };
      }>(`/v1/creators/${A}/overview?${q(r)}`);
      const cur = truthCounts(videosOf(A), r.from, r.to);
      const prev = truthCounts(videosOf(A), r.from - (r.to - r.from), r.from);
      expect(o.previous_range).toMatchObject({ from: iso(r.from - (r.to - r.from)), to: iso(r.from) });
      expect([o.metrics.plays!.value, o.metrics.views!.value, o.metrics.watch_time_ms!.value]).toEqual([
        cur.plays,
        cur.views,
        cur.watch,
      ]);
      expect([o.metrics.plays!.previous, o.metrics.views!.previous, o.metrics.watch_time_ms!.previous]).toEqual([
        prev.plays,
        prev.views,
        prev.watch,
      ]);
      const cp = o.metrics.views!.change_percent;
      if (prev.views === 0) expect(cp).toBeNull();
      else expect(cp).toBeCloseTo((100 * (cur.views - prev.views)) / prev.views, 1);
      const m = o.metrics;
      expect(m.average_view_duration_ms!.value).toBeGreaterThan(0);
      expect(m.average_percentage_viewed!.value).toBeGreaterThan(0);
      expect(m.average_percentage_viewed!.value).toBeLessThanOrEqual(100);
      expect(m.completion_rate!.value).toBeGreaterThanOrEqual(0);
      expect(m.completion_rate!.value).toBeLessThanOrEqual(1);
    }
  });

  it('overview: engagement averages equal the analyst query over the same views', async () => {
    const o = await ok<{ metrics: Record<string, { value: number | null }> }>(`/v1/creators/${A}/overview?${q(FULL)}`);
    const [want] = await queryRows<{ avd: number; apv: number; cr: number }>(
      p.clickhouse,
      sql`SELECT avg(watch_ms) AS avd, 100 * avg(if(duration_ms > 0, least(1, watch_ms / duration_ms), 0)) AS apv, avg(completed) AS cr
          FROM ${v.table(p.database, TABLES.sessions)} FINAL
          WHERE creator_id = ${v.string(A)} AND counted_view = 1`,
    );
    expect(o.metrics.average_view_duration_ms!.value).toBeCloseTo(want!.avd, -1);
    expect(o.metrics.average_percentage_viewed!.value).toBeCloseTo(want!.apv, 1);
    expect(o.metrics.completion_rate!.value).toBeCloseTo(want!.cr, 3);
  });

  it('the latest-sessions sub-query the routes read equals sessions FINAL, with superseded versions', async () => {
    // A copy of sessions and videos, plus for every session an older version with other values
    // (as a provisional row the processor later replaced): the latest must win in both reads.
    const scratch = `${p.database}_latest`;
    await migrate(p.clickhouse, scratch, join(projectRoot, 'schemas', 'clickhouse'));
    const t = v.table(scratch, TABLES.sessions);
    const src = v.table(p.database, TABLES.sessions);
    await exec(
      p.clickhouse,
      sql`INSERT INTO ${v.table(scratch, TABLES.videos)} SELECT * FROM ${v.table(p.database, TABLES.videos)}`,
    );
    await exec(p.clickhouse, sql`INSERT INTO ${t} SELECT * FROM ${src}`);
    const columns = await queryRows<{ name: string }>(
      p.clickhouse,
      sql`SELECT name FROM system.columns WHERE database = ${v.string(p.database)} AND table = ${v.string(TABLES.sessions)}`,
    );
    const older: Record<string, SqlFragment> = {
      version: sql`version - 1`,
      watch_ms: sql`watch_ms + 1000`,
      counted_view: sql`1 - counted_view`,
      closed: sql`0`,
      covered: sql`emptyArrayUInt8()`,
      country: sql`'XX'`,
      creator_id: sql`''`,
    };
    const names = columns.map((c) => v.ident(c.name));
    const values = columns.map((c) => older[c.name] ?? v.ident(c.name));
    await exec(
      p.clickhouse,
      sql`INSERT INTO ${t} (${joinSql(names)}) SELECT ${joinSql(values)} FROM ${src} WHERE version > 0`,
    );
    const db = { clickhouse: p.clickhouse, database: scratch };
    const cols = ['viewer_id', 'watch_ms', 'completed', 'closed', 'covered', 'country', 'referrer_video_id'] as const;
    const digest = sql`count() AS n, sum(watch_ms) AS watch, sum(completed) AS completed, sum(closed) AS closed,
        sum(counted_view) AS views, sum(toUInt32(view_time)) AS vt, sum(length(covered)) AS covered,
        groupUniqArray(country) AS countries, uniqExact(viewer_id, referrer_video_id) AS vr`;
    const norm = (r: Record<string, unknown>): Record<string, unknown> => ({
      ...r,
      countries: [...(r.countries as string[])].sort(),
    });
    try {
      for (const [dim, id] of [
        ['creator', A],
        ['creator', B],
        ['video', videosOf(A)[0]!],
      ] as const) {
        const [got] = await queryRows<Record<string, unknown>>(
          p.clickhouse,
          sql`SELECT ${digest} FROM ${sessionsOf(db, dim, id, cols)}`,
        );
        const where =
          dim === 'video'
            ? sql`video_id = ${v.string(id)}`
            : sql`video_id IN ${creatorVideoIds(db, id)} AND creator_id = ${v.string(id)}`;
        const [want] = await queryRows<Record<string, unknown>>(
          p.clickhouse,
          sql`SELECT ${digest} FROM ${t} FINAL WHERE ${where}`,
        );
        expect(Number(want!.n), `${dim} ${id}`).toBeGreaterThan(0);
        expect((want!.countries as string[]).includes('XX'), 'an older version won').toBe(false);
        expect(norm(got!), `${dim} ${id}`).toEqual(norm(want!));
      }
    } finally {
      await exec(p.clickhouse, sql`DROP DATABASE IF EXISTS ${v.ident(scratch)}`);
    }
  });

  it('overview and audience: unique viewers per UTC day within 2 % of the truth', async () => {
    const days = truth.creator_daily_uniques.filter((d) => d.creator_id === A);
    expect(days.length).toBeGreaterThan(0);
    for (const d of days) {
      const r = { from: d.day_start, to: d.day_start + DAY };
      const o = await ok<{ metrics: { unique_viewers: { value: number } } }>(`/v1/creators/${A}/overview?${q(r)}`);
      expect(
        within(o.metrics.unique_viewers.value, d.viewers, 0.02),
        `${d.day}: ${o.metrics.unique_viewers.value} vs ${d.viewers}`,
      ).toBe(true);
      const a = await ok<{ unique_viewers: number }>(`/v1/creators/${A}/audience?${q(r)}`);
      expect(a.unique_viewers).toBe(o.metrics.unique_viewers.value);
    }
  });

  // ------------------------------------------------------------------------------ timeseries

  it('timeseries: every bucket of plays, views and watch time equals the truth, in UTC and other zones', async () => {
    const label = (t: number, interval: string, tz: string): string => {
      const f = new Intl.DateTimeFormat('en-CA', {
        timeZone: tz,
        hourCycle: 'h23',
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
        hour: '2-digit',
        minute: '2-digit',
      }).format(new Date(t));
      return interval === 'day' ? f.slice(0, 10) : interval === 'hour' ? f.slice(0, 14) : f;
    };
    const mine = new Set(videosOf(A));
    const zones = fixedOffsetZones(
      truth.minutes.filter((x) => mine.has(x.video_id) && (x.plays || x.views || x.watch_ms)).map((x) => x.minute),
    );
    console.log(
      `[api] data ${iso(first)} .. ${iso(last)}; day buckets in ${zones.map((z) => `${z.tz} (midnight ${iso(z.midnight)}${z.splits ? ', inside the data' : ', outside the data'})`).join(', ')}`,
    );
    // whatever the hour, some midnight of a zone splits the data (it spans several hours)
    expect(zones.some((z) => z.splits)).toBe(true);
    const cases: Array<[string, string, { from: number; to: number }]> = [
      // the UTC day around the zone's midnight: two local days inside one UTC day
      ...zones.map((z): [string, string, { from: number; to: number }] => [
        'day',
        z.tz,
        { from: floor(z.midnight, DAY), to: floor(z.midnight, DAY) + DAY },
      ]),
      ...zones.map((z): [string, string, { from: number; to: number }] => ['day', z.tz, FULL]),
      ['day', 'America/New_York', { from: floor(first, DAY), to: floor(first, DAY) + DAY }],
      ['minute', 'UTC', { from: floor(first, MIN) + 30 * MIN, to: floor(first, MIN) + 150 * MIN }],
      ['hour', 'UTC', ODD],
      ['hour', 'Asia/Kolkata', FULL],
      ['day', 'UTC', FULL],
      ['day', 'America/New_York', FULL],
      ['day', 'Asia/Kathmandu', ODD],
    ];
    // a bucket starts at the range's start or at a local boundary of its zone
    const bucketStart = (t: number, interval: string, tz: string): boolean =>
      interval === 'day'
        ? label(t, 'minute', tz).endsWith(' 00:00')
        : interval === 'hour'
          ? label(t, 'minute', tz).endsWith(':00')
          : t % MIN === 0;
    for (const [interval, tz, r] of cases) {
      for (const [metric, field] of [
        ['plays', 'plays'],
        ['views', 'views'],
        ['watch_time_ms', 'watch_ms'],
      ] as const) {
        const want = new Map<string, number>();
        let total = 0;
        for (const row of truth.minutes) {
          if (!mine.has(row.video_id) || row.minute < r.from || row.minute >= r.to) continue;
          const k = label(row.minute, interval, tz);
          want.set(k, (want.get(k) ?? 0) + row[field]);
          total += row[field];
        }
        const s = await ok<{ points: Array<{ time: string; value: number }>; total: number }>(
          `/v1/creators/${A}/timeseries?${q(r, { metric, interval, tz })}`,
        );
        expect(s.total, `${metric} ${interval} ${tz}`).toBe(total);
        const got = new Map<string, number>();
        for (const pt of s.points) {
          const t = Date.parse(pt.time);
          expect(t === r.from || bucketStart(t, interval, tz), `${interval} ${tz}: a bucket at ${pt.time}`).toBe(true);
          const k = label(t, interval, tz);
          expect(got.has(k), `one point per ${interval}: ${k}`).toBe(false);
          got.set(k, pt.value);
        }
        for (const [k, value] of want) expect(got.get(k), `${metric} ${interval} ${tz} ${k}`).toBe(value);
        for (const [k, value] of got) expect(value, `${k}`).toBe(want.get(k) ?? 0);
      }
    }
  });

  it('timeseries: unique viewers per UTC day within 2 %; CSV parses back to the same numbers', async () => {
    const s = await ok<{ points: Array<{ time: string; value: number }> }>(
      `/v1/creators/${A}/timeseries?${q({ from: floor(first, DAY), to: floor(last, DAY) + DAY }, { metric: 'unique_viewers', interval: 'day' })}`,
    );
    for (const d of truth.creator_daily_uniques.filter((x) => x.creator_id === A)) {
      const pt = s.points.find((x) => x.time === iso(d.day_start));
      expect(within(pt?.value ?? 0, d.viewers, 0.02), `${d.day}`).toBe(true);
    }
    const url = `/v1/creators/${A}/timeseries?${q(FULL, { metric: 'watch_time_ms', interval: 'hour' })}`;
    const json = await ok<{ points: Array<{ time: string; value: number }> }>(url);
    const csv = await get(url, tokens.a, { accept: 'text/csv' });
    expect(csv.statusCode).toBe(200);
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    const rows = parseCsv(csv.body);
    expect(rows[0]).toEqual(['time', 'value']);
    expect(rows.slice(1).map(([t, x]) => ({ time: t, value: Number(x) }))).toEqual(json.points);
    const viaFormat = await get(`${url}&format=csv`);
    expect(viaFormat.body).toBe(csv.body);
  });

  // ------------------------------------------------------------------------------ realtime

  it('realtime: views per minute and per hour exact, watching now, top videos of 48 hours', async () => {
    const r = await ok<{
      minutes: Array<{ time: string; views: number; plays: number }>;
      hours: Array<{ time: string; views: number; plays: number }>;
      views_last_60_minutes: number;
      watching_now: { viewers: number; sessions: number };
      top_videos: Array<{
        video_id: string;
        title: string | null;
        views: number;
        plays: number;
        watch_time_ms: number;
      }>;
    }>(`/v1/creators/${W}/realtime`, tokens.w);
    expect(r.minutes).toHaveLength(60);
    expect(r.hours).toHaveLength(48);
    const mine = videosOf(W);
    for (const pt of r.minutes) {
      const t = Date.parse(pt.time);
      const want = truthCounts(mine, t, t + MIN);
      expect([pt.views, pt.plays], pt.time).toEqual([want.views, want.plays]);
    }
    expect(r.minutes[59]!.time).toBe(iso(floor(NOW, MIN)));
    for (const pt of r.hours) {
      const t = Date.parse(pt.time);
      const want = truthCounts(mine, t, t + HOUR);
      expect([pt.views, pt.plays], pt.time).toEqual([want.views, want.plays]);
    }
    expect(r.views_last_60_minutes).toBe(truthCounts(mine, floor(NOW, MIN) - 59 * MIN, floor(NOW, MIN) + MIN).views);
    // Top videos: the truth over the same 48 hour windows.
    const from = floor(NOW, HOUR) - 47 * HOUR;
    const want = mine
      .map((id) => ({ id, ...truthCounts([id], from, from + 48 * HOUR) }))
      .filter((x) => x.views > 0 || x.plays > 0)
      .sort((x, y) => y.views - x.views || y.plays - x.plays || (x.id < y.id ? -1 : 1))
      .slice(0, 10);
    expect(r.top_videos.map((x) => [x.video_id, x.views, x.plays, x.watch_time_ms])).toEqual(
      want.map((x) => [x.id, x.views, x.plays, x.watch]),
    );
    for (const x of r.top_videos) expect(x.title).toBe(catalog.byId.get(x.video_id)!.video.title);
    // Watching now: viewers with an event in the last 60 s, from the raw events table.
    const [raw] = await queryRows<{ n: string }>(
      p.clickhouse,
      sql`SELECT uniqExact(viewer_id) AS n FROM ${v.table(p.database, TABLES.playEvents)} FINAL
          WHERE video_id IN ${v.inList(mine, 'String')} AND event_time >= ${v.dateTime(floor(NOW, 1000) - 60_000)}`,
    );
    expect(r.watching_now.viewers).toBe(Number(raw!.n));
    expect(r.watching_now.sessions).toBeGreaterThanOrEqual(r.watching_now.viewers);
  });

  // ------------------------------------------------------------------------------ videos

  it("videos: paging through every one of the creator's videos, exact numbers, stable order", async () => {
    type Page = {
      videos: Array<{ video_id: string; title: string; plays: number; views: number; watch_time_ms: number }>;
      next_cursor: string | null;
    };
    for (const sort of ['views', 'watch_time_ms'] as const) {
      const seen: Page['videos'] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        // After the first page the cursor carries the range.
        const url: string = `/v1/creators/${A}/videos?${cursor ? qs({ sort, limit: 7, cursor }) : q(FULL, { sort, limit: 7 })}`;
        const page: Page = await ok<Page>(url);
        expect(page.videos.length).toBeLessThanOrEqual(7);
        seen.push(...page.videos);
        cursor = page.next_cursor;
        expect(++pages).toBeLessThan(100);
      } while (cursor);
      expect(seen.map((x) => x.video_id).sort()).toEqual(videosOf(A).sort());
      for (const x of seen) {
        const want = truthCounts([x.video_id], FULL.from, FULL.to);
        expect([x.plays, x.views, x.watch_time_ms], x.video_id).toEqual([want.plays, want.views, want.watch]);
        expect(x.title).toBe(catalog.byId.get(x.video_id)!.video.title);
      }
      for (let i = 1; i < seen.length; i++) {
        const a = seen[i - 1]!;
        const b = seen[i]!;
        expect(a[sort] > b[sort] || (a[sort] === b[sort] && a.video_id < b.video_id)).toBe(true);
      }
    }
    const page = await ok<Page>(`/v1/creators/${A}/videos?${q(FULL, { limit: 3 })}`);
    const csv = await get(`/v1/creators/${A}/videos?${q(FULL, { limit: 3, format: 'csv' })}`);
    const rows = parseCsv(csv.body);
    expect(rows[0]).toEqual(['video_id', 'title', 'duration_ms', 'published_at', 'plays', 'views', 'watch_time_ms']);
    expect(rows.slice(1).map((r) => [r[0], Number(r[5])])).toEqual(page.videos.map((x) => [x.video_id, x.views]));
    // a cursor from another sort or range is refused
    const other = await get(`/v1/creators/${A}/videos?${qs({ sort: 'plays', cursor: page.next_cursor })}`);
    expect(other.statusCode).toBe(400);
    const moved = await get(`/v1/creators/${A}/videos?${q(ODD, { cursor: page.next_cursor })}`);
    expect(moved.statusCode).toBe(400);
  });

  it('video stats: totals and series exact, unique viewers per day within 2 %, finalized_through', async () => {
    const top = videosOf(A)
      .map((id) => ({ id, views: truthCounts([id], FULL.from, FULL.to).views }))
      .sort((x, y) => y.views - x.views)[0]!.id;
    const s = await ok<{
      video: { video_id: string; creator_id: string };
      totals: { plays: number; views: number; watch_time_ms: number; unique_viewers: number };
      series: Array<{ time: string; plays: number; views: number; watch_time_ms: number }>;
      finalized_through: string | null;
    }>(`/v1/videos/${top}/stats?${q(ODD, { interval: 'hour' })}`);
    expect(s.video).toMatchObject({ video_id: top, creator_id: A });
    const want = truthCounts([top], ODD.from, ODD.to);
    expect([s.totals.plays, s.totals.views, s.totals.watch_time_ms]).toEqual([want.plays, want.views, want.watch]);
    for (let i = 0; i < s.series.length; i++) {
      const from = Date.parse(s.series[i]!.time);
      const to = i + 1 < s.series.length ? Date.parse(s.series[i + 1]!.time) : ODD.to;
      const w = truthCounts([top], from, to);
      expect([s.series[i]!.plays, s.series[i]!.views, s.series[i]!.watch_time_ms]).toEqual([w.plays, w.views, w.watch]);
    }
    for (const d of truth.daily_uniques.filter((x) => x.video_id === top)) {
      const day = await ok<{ totals: { unique_viewers: number } }>(
        `/v1/videos/${top}/stats?${q({ from: d.day_start, to: d.day_start + DAY })}`,
      );
      expect(within(day.totals.unique_viewers, d.viewers, 0.02), `${d.day}`).toBe(true);
    }
    const [wm] = await queryRows<{ wm: number }>(
      p.clickhouse,
      sql`SELECT toUInt32(min(watermark)) AS wm FROM ${v.table(p.database, TABLES.watermarks)} FINAL WHERE processor = 'view-counts'`,
    );
    expect(s.finalized_through).toBe(iso(wm!.wm * 1000 - 60_000));
  });

  it('retention: every point of every video within 1 percentage point; comparison with similar videos', async () => {
    let checked = 0;
    for (const t of truth.retention.filter((x) => creatorOf(x.video_id) === A && x.views >= 5)) {
      const r = await ok<{
        views: number;
        points: Array<{ percent: number; retention: number }>;
        comparison: {
          videos: number;
          min_duration_ms: number;
          max_duration_ms: number;
          points: Array<{ retention: number }>;
        };
      }>(`/v1/videos/${t.video_id}/retention?${q(FULL)}`);
      expect(r.views).toBe(t.views);
      expect(r.points).toHaveLength(101);
      r.points.forEach((pt, i) => {
        expect(pt.percent).toBe(i);
        expect(
          Math.abs(100 * pt.retention - (100 * t.covering[i]!) / t.views),
          `${t.video_id} @${i}`,
        ).toBeLessThanOrEqual(1);
      });
      const peers = truth.retention.filter(
        (x) =>
          x.video_id !== t.video_id &&
          creatorOf(x.video_id) === A &&
          x.views > 0 &&
          x.duration_ms >= r.comparison.min_duration_ms &&
          x.duration_ms <= r.comparison.max_duration_ms,
      );
      expect(r.comparison.videos).toBe(peers.length);
      for (let i = 0; i <= 100; i++) {
        const want = peers.length ? peers.reduce((s, x) => s + x.covering[i]! / x.views, 0) / peers.length : 0;
        expect(Math.abs(100 * r.comparison.points[i]!.retention - 100 * want)).toBeLessThanOrEqual(1);
      }
      if (++checked >= 5) break;
    }
    expect(checked).toBeGreaterThan(0);
  });

  it('breakdown: top values plus other add up to the total views, which equal the truth', async () => {
    const vids = videosOf(A)
      .map((id) => ({ id, views: truthCounts([id], FULL.from, FULL.to).views }))
      .sort((x, y) => y.views - x.views)
      .slice(0, 3);
    for (const { id, views } of vids) {
      for (const dimension of ['country', 'device', 'traffic_source', 'os']) {
        const b = await ok<{
          total_views: number;
          total_watch_time_ms: number;
          rows: Array<{ value: string; views: number; watch_time_ms: number; share: number }>;
          other: { values: number; views: number; watch_time_ms: number };
        }>(`/v1/videos/${id}/breakdown?${q(FULL, { dimension, limit: 2 })}`);
        expect(b.total_views, `${id} ${dimension}`).toBe(views);
        expect(b.rows.length).toBeLessThanOrEqual(2);
        expect(b.rows.reduce((s, x) => s + x.views, 0) + b.other.views).toBe(b.total_views);
        expect(b.rows.reduce((s, x) => s + x.watch_time_ms, 0) + b.other.watch_time_ms).toBe(b.total_watch_time_ms);
        for (let i = 1; i < b.rows.length; i++) expect(b.rows[i - 1]!.views).toBeGreaterThanOrEqual(b.rows[i]!.views);
        const csv = parseCsv(
          (await get(`/v1/videos/${id}/breakdown?${q(FULL, { dimension, limit: 2, format: 'csv' })}`)).body,
        );
        expect(csv.slice(1).reduce((s, r) => s + Number(r[1]), 0)).toBe(views);
      }
    }
  });

  it('traffic: sources add up to the views; suggested referrers add up to suggested views, with titles', async () => {
    const id = videosOf(A)
      .map((x) => ({ x, views: truthCounts([x], FULL.from, FULL.to).views }))
      .sort((a, b) => b.views - a.views)[0]!.x;
    const t = await ok<{
      total_views: number;
      sources: Array<{ value: string; views: number }>;
      suggested: {
        views: number;
        referrers: Array<{ video_id: string; title: string | null; views: number }>;
        other: { views: number };
      };
    }>(`/v1/videos/${id}/traffic?${q(FULL, { limit: 5 })}`);
    expect(t.total_views).toBe(truthCounts([id], FULL.from, FULL.to).views);
    expect(t.sources.reduce((s, x) => s + x.views, 0)).toBe(t.total_views);
    expect(t.suggested.views).toBe(t.sources.find((x) => x.value === 'suggested')?.views ?? 0);
    expect(t.suggested.referrers.reduce((s, x) => s + x.views, 0) + t.suggested.other.views).toBe(t.suggested.views);
    for (const r of t.suggested.referrers) expect(r.title).toBe(catalog.byId.get(r.video_id)?.video.title ?? null);
    expect(t.suggested.referrers.length).toBeGreaterThan(0);
  });

  it('audience: country and device views add up to the truth; new viewers equal the raw events', async () => {
    const a = await ok<{
      views: number;
      unique_viewers: number;
      new_viewers: number;
      returning_viewers: number;
      countries: Array<{ value: string; views: number; viewers: number }>;
      devices: Array<{ value: string; views: number; viewers: number }>;
    }>(`/v1/creators/${A}/audience?${q(ODD)}`);
    const want = truthCounts(videosOf(A), ODD.from, ODD.to).views;
    expect(a.views).toBe(want);
    expect(a.countries.reduce((s, x) => s + x.views, 0)).toBe(want);
    expect(a.devices.reduce((s, x) => s + x.views, 0)).toBe(want);
    expect(a.new_viewers + a.returning_viewers).toBe(a.unique_viewers);
    const [raw] = await queryRows<{ n: string }>(
      p.clickhouse,
      sql`SELECT count() AS n FROM
          (SELECT viewer_id, min(event_time) AS f FROM ${v.table(p.database, TABLES.playEvents)} FINAL
           WHERE video_id IN ${v.inList(videosOf(A), 'String')} GROUP BY viewer_id)
          WHERE f >= ${v.dateTime(ODD.from)} AND f < ${v.dateTime(ODD.to)}`,
    );
    expect(a.new_viewers).toBe(Math.min(Number(raw!.n), a.unique_viewers));
    expect(a.returning_viewers).toBeGreaterThan(0);
  });

  it('health: freshness, finalized_through and late events from the tables', async () => {
    const h = await ok<{
      freshness_seconds: number;
      newest_watermark: string;
      finalized_through: string;
      processors: Array<{ processor: string; partitions: number }>;
      late_events: { applied: number; set_aside: number };
    }>(`/v1/creators/${A}/health?${q(FULL)}`);
    const wms = await queryRows<{ processor: string; lo: number; hi: number }>(
      p.clickhouse,
      sql`SELECT processor, toUInt32(min(watermark)) AS lo, toUInt32(max(watermark)) AS hi
          FROM ${v.table(p.database, TABLES.watermarks)} FINAL GROUP BY processor`,
    );
    const newest = Math.max(...wms.map((w) => w.hi * 1000));
    expect(h.newest_watermark).toBe(iso(newest));
    expect(h.freshness_seconds).toBe(Math.round((NOW - newest) / 1000));
    expect(h.finalized_through).toBe(iso(wms.find((w) => w.processor === 'view-counts')!.lo * 1000 - 60_000));
    expect(h.processors.map((x) => x.processor).sort()).toEqual(wms.map((w) => w.processor).sort());
    const late = await queryRows<{ applied: number; n: string }>(
      p.clickhouse,
      sql`SELECT applied, count() AS n FROM ${v.table(p.database, TABLES.lateEvents)} FINAL
          WHERE video_id IN ${v.inList(videosOf(A), 'String')}
            AND event_time >= ${v.dateTime(FULL.from)} AND event_time < ${v.dateTime(FULL.to)}
          GROUP BY applied`,
    );
    expect(h.late_events.applied).toBe(Number(late.find((x) => x.applied === 1)?.n ?? 0));
    expect(h.late_events.set_aside).toBe(Number(late.find((x) => x.applied === 0)?.n ?? 0));
  });

  // ------------------------------------------------------------------------------ caching

  it('a final range has an ETag and Cache-Control and answers 304 on If-None-Match; a live one does not', async () => {
    const early = { from: floor(first, HOUR), to: floor(first, HOUR) + HOUR };
    const url = `/v1/creators/${A}/timeseries?${q(early, { interval: 'minute' })}`;
    const res = await get(url);
    expect(res.statusCode).toBe(200);
    const etag = res.headers.etag as string;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
    expect(res.headers['cache-control']).toBe('private, max-age=300');
    expect(String(res.headers.vary)).toMatch(/Authorization/);
    const again = await get(url, tokens.a, { 'if-none-match': etag });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
    expect(again.headers.etag).toBe(etag);
    const stale = await get(url, tokens.a, { 'if-none-match': '"something-else"' });
    expect(stale.statusCode).toBe(200);
    const csv = await get(url, tokens.a, { accept: 'text/csv', 'if-none-match': etag });
    expect(csv.statusCode).toBe(200);
    expect(csv.headers.etag).not.toBe(etag);
    const live = await get(
      `/v1/creators/${A}/timeseries?${q({ from: FULL.from, to: NOW + HOUR }, { interval: 'hour' })}`,
    );
    expect(live.statusCode).toBe(200);
    expect(live.headers.etag).toBeUndefined();
    expect(live.headers['cache-control']).toBe('no-store');
    const realtime = await get(`/v1/creators/${A}/realtime`);
    expect(realtime.headers.etag).toBeUndefined();
  });

  // ------------------------------------------------------------------------------ authorization

  it('authorization matrix on real data: own 200, someone else’s 404 like a missing one, admin 200, bad tokens 401', async () => {
    const videoOfA = videosOf(A)[0]!;
    const videoOfB = videosOf(B)[0]!;
    const r = `?${q(FULL)}`;
    const creatorPaths = (c: string): string[] => [
      `/v1/creators/${c}/overview${r}`,
      `/v1/creators/${c}/timeseries${r}`,
      `/v1/creators/${c}/realtime`,
      `/v1/creators/${c}/videos${r}`,
      `/v1/creators/${c}/audience${r}`,
      `/v1/creators/${c}/health${r}`,
    ];
    const videoPaths = (id: string): string[] => [
      `/v1/videos/${id}/stats${r}`,
      `/v1/videos/${id}/retention${r}`,
      `/v1/videos/${id}/breakdown?${q(FULL, { dimension: 'device' })}`,
      `/v1/videos/${id}/traffic${r}`,
    ];
    const status = async (url: string, token: string | null): Promise<LightMyRequestResponse> => get(url, token);
    const body404 = new Set<string>();
    const strip = (res: LightMyRequestResponse): string => {
      const { request_id: _r, ...rest } = JSON.parse(res.body) as Record<string, unknown>;
      return JSON.stringify(rest);
    };
    for (const [i, url] of creatorPaths(A).entries()) {
      expect((await status(url, tokens.a)).statusCode, url).toBe(200);
      expect((await status(url, tokens.admin)).statusCode, url).toBe(200);
      const theirs = await status(creatorPaths(B)[i]!, tokens.a);
      const missing = await status(creatorPaths('nobody-at-all')[i]!, tokens.a);
      const adminMissing = await status(creatorPaths('nobody-at-all')[i]!, tokens.admin);
      for (const res of [theirs, missing, adminMissing]) {
        expect(res.statusCode, url).toBe(404);
        body404.add(`creator ${strip(res)}`);
      }
      expect((await status(creatorPaths(B)[i]!, tokens.admin)).statusCode).toBe(200);
      expect((await status(creatorPaths(B)[i]!, tokens.b)).statusCode).toBe(200);
    }
    for (const [i, url] of videoPaths(videoOfA).entries()) {
      expect((await status(url, tokens.a)).statusCode, url).toBe(200);
      expect((await status(url, tokens.admin)).statusCode, url).toBe(200);
      const theirs = await status(videoPaths(videoOfB)[i]!, tokens.a);
      const missing = await status(videoPaths('no-such-video')[i]!, tokens.a);
      const adminMissing = await status(videoPaths('no-such-video')[i]!, tokens.admin);
      for (const res of [theirs, missing, adminMissing]) {
        expect(res.statusCode, url).toBe(404);
        body404.add(`video ${strip(res)}`);
      }
      expect((await status(videoPaths(videoOfB)[i]!, tokens.admin)).statusCode).toBe(200);
    }
    // one body for "not yours" and "does not exist", per kind
    expect([...body404].sort()).toEqual([
      'creator {"type":"urn:viewpulse:problem:not-found","title":"Not found","status":404,"detail":"no such creator","code":"VP_ERR_HTTP_NOT_FOUND"}',
      'video {"type":"urn:viewpulse:problem:not-found","title":"Not found","status":404,"detail":"no such video","code":"VP_ERR_HTTP_NOT_FOUND"}',
    ]);
    const secret = p.testConfig.api.jwtSecret;
    const expired = await signToken({ secret, sub: A, role: 'creator', ttlSeconds: 60, now: NOW - HOUR });
    const forged = await signToken({ secret: `${secret}-forged`, sub: A, role: 'admin', ttlSeconds: 60, now: NOW });
    for (const [token, reason] of [
      [null, 'missing_token'],
      [expired, 'token_expired'],
      [forged, 'invalid_token'],
      ['garbage', 'invalid_token'],
    ] as const) {
      const res = await get(`/v1/creators/${A}/overview${r}`, token);
      expect(res.statusCode).toBe(401);
      expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
      expect(JSON.parse(res.body).reason).toBe(reason);
    }
  });

  // ------------------------------------------------------------------------------ hostile input

  it('hostile input is a 400 problem (or a 404 for a well-formed unknown id), never a 500, and changes nothing', async () => {
    const checksum = async (): Promise<string> => {
      const tables = await queryRows<{ name: string; engine: string }>(
        p.clickhouse,
        sql`SELECT name, engine FROM system.tables WHERE database = ${v.string(p.database)} ORDER BY name`,
      );
      const parts: string[] = [];
      for (const t of tables) {
        if (!/MergeTree/.test(t.engine)) {
          parts.push(`${t.name}:${t.engine}`);
          continue;
        }
        // FINAL: a background merge must not look like a change.
        const final = t.engine === 'MergeTree' ? sql`` : sql`FINAL`;
        const [c] = await queryRows<{ n: string }>(
          p.clickhouse,
          sql`SELECT count() AS n FROM ${v.table(p.database, t.name)} ${final}`,
        );
        parts.push(`${t.name}:${c!.n}`);
      }
      const [s] = await queryRows<Record<string, string>>(
        p.clickhouse,
        sql`SELECT sum(plays) AS p, sum(views) AS v, sum(watch_ms) AS w FROM ${v.table(p.database, TABLES.counts)} FINAL`,
      );
      const [x] = await queryRows<Record<string, string>>(
        p.clickhouse,
        sql`SELECT sum(watch_ms) AS w, sum(counted_view) AS c FROM ${v.table(p.database, TABLES.sessions)} FINAL`,
      );
      const [y] = await queryRows<Record<string, string>>(
        p.clickhouse,
        sql`SELECT groupBitXor(cityHash64(video_id, creator_id, title)) AS h FROM ${v.table(p.database, TABLES.videos)} FINAL`,
      );
      return JSON.stringify({ parts, s, x, y });
    };
    const before = await checksum();
    const enc = encodeURIComponent;
    const hostile = [
      "' OR 1=1 --",
      `${A}' OR '1'='1`,
      "'; DROP TABLE view_counts; --",
      "x') UNION ALL SELECT * FROM system.tables --",
      '%00',
      '\u0000',
      '\\',
      '1e309',
      '-99999999999999999999',
      'NaN',
      '2026-11-20T10:00:00Z; DROP DATABASE x',
      'x'.repeat(300),
    ];
    const video = videosOf(A)[0]!;
    const urls: string[] = [];
    for (const h of hostile) {
      const e = enc(h); // as a path segment
      urls.push(
        `/v1/creators/${A}/overview?${qs({ from: h })}`,
        `/v1/creators/${A}/overview?${qs({ to: h })}`,
        `/v1/creators/${A}/overview?${qs({ tz: h })}`,
        `/v1/creators/${A}/timeseries?${qs({ metric: h })}`,
        `/v1/creators/${A}/timeseries?${qs({ interval: h })}`,
        `/v1/creators/${A}/videos?${qs({ sort: h })}`,
        `/v1/creators/${A}/videos?${qs({ limit: h })}`,
        `/v1/creators/${A}/videos?${qs({ cursor: h })}`,
        `/v1/creators/${A}/audience?${qs({ from: h })}`,
        `/v1/creators/${A}/health?${qs({ to: h })}`,
        `/v1/videos/${video}/stats?${qs({ interval: h })}`,
        `/v1/videos/${video}/retention?${qs({ tz: h })}`,
        `/v1/videos/${video}/breakdown?${qs({ dimension: h })}`,
        `/v1/videos/${video}/breakdown?${qs({ dimension: 'os', limit: h })}`,
        `/v1/videos/${video}/traffic?${qs({ limit: h })}`,
        `/v1/creators/${e}/overview`,
        `/v1/videos/${e}/stats`,
        `/v1/videos/${video}/stats?${qs({ [h]: 1 })}`,
      );
      // a cursor this API could have made, but with a hostile id (a well-formed one is a valid cursor)
      if (!new RegExp(ID_PATTERN).test(h)) {
        const cursor = Buffer.from(JSON.stringify({ s: 'views', v: 1, id: h, f: FULL.from, t: FULL.to }));
        urls.push(`/v1/creators/${A}/videos?${qs({ cursor: cursor.toString('base64url') })}`);
      }
    }
    urls.push(
      `/v1/creators/${A}/overview?${q({ from: FULL.to, to: FULL.from })}`,
      `/v1/creators/${A}/overview?${qs({ from: '2020-01-01', to: '2026-01-01' })}`,
      `/v1/creators/${A}/timeseries?${qs({ interval: 'minute', from: '2026-01-01', to: '2026-02-01' })}`,
      `/v1/creators/${A}/overview?${qs({ tz: 'Mars/Olympus' })}`,
      `/v1/creators/${A}/overview?tz=Etc/GMT+4`, // unencoded on purpose: "Etc/GMT 4", with a hint
      `/v1/videos/${video}/breakdown?${qs({ dimension: 'country', limit: 100000 })}`,
    );
    for (const token of [tokens.a, tokens.admin]) {
      for (const url of urls) {
        const res = await get(url, token);
        expect([400, 404], `${url.slice(0, 160)} → ${res.statusCode} ${res.body.slice(0, 200)}`).toContain(
          res.statusCode,
        );
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      }
    }
    expect(await checksum()).toBe(before);
  });
});
