// The insights API's time series and realtime routes on the real pipeline: every bucket exact in
// UTC and other zones, unique viewers within 2 %, CSV, realtime minutes and hours exact.
import { describe, expect, it } from 'vitest';
import { parseCsv } from '../../api/csv.js';
import { queryRows } from '../../lib/clickhouse/client.js';
import { sql, v } from '../../lib/clickhouse/sql.js';
import { TABLES } from '../../schemas/tables.js';
import {
  A,
  catalog,
  DAY,
  EVENTS,
  first,
  fixedOffsetZones,
  floor,
  FULL,
  get,
  HOUR,
  iso,
  last,
  MIN,
  NOW,
  ODD,
  ok,
  p,
  q,
  tokens,
  truth,
  truthCounts,
  videosOf,
  W,
  within,
  useApiFixture,
} from './api-fixture.js';

describe(`insights API on the real pipeline: timeseries and realtime (${EVENTS} generated records)`, () => {
  useApiFixture();
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
});
