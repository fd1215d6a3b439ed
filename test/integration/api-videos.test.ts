// The insights API's video routes on the real pipeline: paging through a creator's videos, video
// stats, retention within 1 percentage point, breakdowns, traffic and audience adding up to the truth.
import { describe, expect, it } from 'vitest';
import { parseCsv } from '../../api/csv.js';
import { queryRows } from '../../lib/clickhouse/client.js';
import { sql, v } from '../../lib/clickhouse/sql.js';
import { TABLES } from '../../schemas/tables.js';
import { qs } from '../url.js';
import {
  A,
  catalog,
  creatorOf,
  DAY,
  EVENTS,
  FULL,
  get,
  iso,
  ODD,
  ok,
  p,
  q,
  truth,
  truthCounts,
  videosOf,
  within,
  useApiFixture,
} from './api-fixture.js';

describe(`insights API on the real pipeline: videos, video stats, retention, breakdown, traffic, audience (${EVENTS} generated records)`, () => {
  useApiFixture();
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
});
