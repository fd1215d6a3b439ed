// The insights API's overview on the real pipeline: plays, views and watch time exact, engagement
// averages equal to the analyst query, the latest-sessions sub-query equal to sessions FINAL, unique
// viewers within 2 % of the generator's ground truth.
import { describe, expect, it } from 'vitest';
import { creatorVideoIds } from '../../api/queries/video-catalog.js';
import { sessionsOf } from '../../api/queries/sessions.js';
import { join } from 'node:path';
import { exec, queryRows } from '../../lib/clickhouse/client.js';
import { migrate } from '../../lib/clickhouse/migrations.js';
import { join as joinSql, sql, v, type SqlFragment } from '../../lib/clickhouse/sql.js';
import { projectRoot } from '../../infra/paths.js';
import { TABLES } from '../../schemas/tables.js';
import {
  A,
  B,
  DAY,
  EVENTS,
  FULL,
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

describe(`insights API on the real pipeline: overview and audience totals (${EVENTS} generated records)`, () => {
  useApiFixture();

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
});
