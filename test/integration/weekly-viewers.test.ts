// Unique viewers read through whole weeks (migration 016): a range's unique viewers, and its
// distinct viewers by country and device, are the same numbers as the finest states give — the
// hourly states of the hours starting in the range (docs/semantics.md "Unique viewers"), and
// creator_audience's minute states of the minutes in it — on a database that had six weeks of
// data before 016 (its backfill from the daily states) and gets more after (its materialized
// views), over ranges of every length and alignment, many holding whole weeks.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { audienceViewersOf } from '../../api/queries/creators.js';
import { uniqueViewers, uniqueViewersOf } from '../../api/queries/counts.js';
import { daysAndWeeks, type Range } from '../../api/queries/range.js';
import { exec, queryRows } from '../../lib/clickhouse/client.js';
import { sql, v } from '../../lib/clickhouse/sql.js';
import { Rng } from '../../generator/rng.js';
import { TABLES } from '../../schemas/tables.js';
import { DAY, HOUR, MINUTE } from '../../lib/time.js';
import { realServices } from '../../harness/services.js';
import { migrateUpTo } from './migration-helpers.js';

const s = realServices('weekly');
const db = { clickhouse: s.clickhouse, database: s.database };
const t = (name: string) => v.table(s.database, name);

/** Six weeks of sightings from Monday 2026-10-19 on; then two more weeks after the migration. */
const START = Date.UTC(2026, 9, 19);
const COUNTRIES = ['DE', 'FR', 'US', 'BR', 'JP'];
const DEVICES = ['desktop', 'mobile', 'tv'];

const dateTime = (ms: number): string => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');

/** `n` sightings of `viewers` viewers (two creators, six videos) between `from` and `to`. */
async function observe(seed: number, n: number, viewers: number, from: number, to: number): Promise<void> {
  const rng = new Rng(seed);
  const r = (): number => rng.next();
  const seen = Array.from({ length: n }, () => {
    const viewer = Math.floor(r() * viewers);
    const creator = viewer % 3 === 0 ? 'c2' : 'c1';
    return {
      video_id: `${creator}-v${Math.floor(r() * 3)}`,
      creator_id: creator,
      viewer_id: `viewer-${viewer}`,
      at: from + Math.floor((r() * (to - from)) / 1000) * 1000,
      country: COUNTRIES[viewer % COUNTRIES.length]!,
      device: DEVICES[Math.floor(r() * DEVICES.length)]!,
    };
  });
  await s.clickhouse.insert({
    table: `${s.database}.${TABLES.viewerObservations}`,
    values: seen.map((x) => ({
      video_id: x.video_id,
      creator_id: x.creator_id,
      viewer_id: x.viewer_id,
      event_time: dateTime(x.at),
    })),
    format: 'JSONEachRow',
  });
  await s.clickhouse.insert({
    table: `${s.database}.${TABLES.audienceObservations}`,
    values: seen.flatMap((x) =>
      (['country', 'device'] as const).map((dimension) => ({
        creator_id: x.creator_id,
        dimension,
        value: dimension === 'country' ? x.country : x.device,
        viewer_id: x.viewer_id,
        view_time: dateTime(x.at),
      })),
    ),
    format: 'JSONEachRow',
  });
}

/** The reference: every hourly state of the hours from the one containing `from` up to `to`. */
async function hourlyReference(dim: 'video' | 'creator', id: string, r: Range): Promise<number> {
  const [table, key] =
    dim === 'video' ? ['video_viewers_hourly', 'video_id'] : ['creator_viewers_hourly', 'creator_id'];
  const [row] = await queryRows<{ n: string }>(
    s.clickhouse,
    sql`SELECT uniqCombinedMerge(viewers) AS n FROM ${t(table)}
        WHERE ${v.ident(key)} = ${v.string(id)}
          AND hour >= ${v.dateTime(Math.floor(r.from / HOUR) * HOUR)} AND hour < ${v.dateTime(r.to)}`,
  );
  return Number(row!.n);
}

/** The reference: creator_audience's minute states of the minutes in the range. */
async function minuteReference(
  creator: string,
  dimension: 'country' | 'device',
  r: Range,
): Promise<Record<string, number>> {
  const rows = await queryRows<{ value: string; n: string }>(
    s.clickhouse,
    sql`SELECT value, uniqCombinedMerge(viewers) AS n FROM ${t('creator_audience')}
        WHERE creator_id = ${v.string(creator)} AND dimension = ${v.string(dimension)} AND grain = 'minute'
          AND window_start >= ${v.dateTime(r.from)} AND window_start < ${v.dateTime(r.to)}
        GROUP BY value`,
  );
  return Object.fromEntries(rows.map((x) => [x.value, Number(x.n)]));
}

/** Ranges of whole minutes over the eight weeks: short and long, aligned and not. */
function ranges(): Range[] {
  const rng = new Rng(7);
  const r = (): number => rng.next();
  const end = START + 56 * DAY;
  const out: Range[] = [
    { from: START, to: end },
    { from: START + 7 * DAY, to: START + 14 * DAY },
    { from: START + 3 * DAY + 5 * HOUR, to: START + 31 * DAY + 17 * HOUR + 13 * MINUTE },
    { from: START + 2 * HOUR, to: START + 3 * HOUR },
  ];
  for (let i = 0; i < 24; i++) {
    const length = Math.floor(r() * 40 * 24 * 60) * MINUTE + MINUTE;
    const from = START + Math.floor((r() * (end - START - length)) / MINUTE) * MINUTE;
    out.push({ from, to: from + length });
  }
  return out;
}

describe('unique viewers through whole weeks (migration 016)', () => {
  beforeAll(async () => {
    await migrateUpTo(s.clickhouse, s.database, 15);
    await observe(1, 6000, 1500, START, START + 42 * DAY);
    expect(await migrateUpTo(s.clickhouse, s.database, 16)).toEqual([16]);
    // after the migration: its views feed the weekly states (the week of 2026-11-23 gets both)
    await observe(2, 3000, 1800, START + 35 * DAY, START + 56 * DAY);
  }, 120_000);
  afterAll(async () => {
    await exec(s.clickhouse, sql`DROP DATABASE IF EXISTS ${v.ident(s.database)}`);
    await s.clickhouse.close();
  });

  it('reads whole weeks for most of these ranges', () => {
    const withWeeks = ranges().filter(
      (r) => daysAndWeeks(Math.ceil(r.from / DAY) * DAY, Math.floor(r.to / DAY) * DAY).weeks,
    );
    expect(withWeeks.length).toBeGreaterThanOrEqual(12);
  });

  it('counts the same unique viewers as the hourly states of the range, for creators and videos', async () => {
    for (const r of ranges()) {
      for (const [dim, id] of [
        ['creator', 'c1'],
        ['creator', 'c2'],
        ['video', 'c1-v0'],
        ['video', 'c2-v2'],
      ] as const) {
        const label = `${dim} ${id} ${new Date(r.from).toISOString()}..${new Date(r.to).toISOString()}`;
        expect(await uniqueViewers(db, dim, id, r), label).toBe(await hourlyReference(dim, id, r));
      }
    }
  }, 120_000);

  it('counts each range the same when several are read in one query', async () => {
    const all = ranges();
    for (const [dim, id] of [
      ['creator', 'c1'],
      ['video', 'c2-v2'],
    ] as const) {
      const one = await Promise.all(all.map((r) => hourlyReference(dim, id, r)));
      expect(await uniqueViewersOf(db, dim, id, all), `${dim} ${id}`).toEqual(one);
    }
  }, 120_000);

  it('counts the same distinct viewers per country and device as the minute states of the range', async () => {
    for (const r of ranges()) {
      for (const dimension of ['country', 'device'] as const) {
        const got = Object.fromEntries(
          (await audienceViewersOf(db, 'c1', r, [dimension])).get(dimension)!.map((x) => [x.value, Number(x.n)]),
        );
        expect(got, `${dimension} ${new Date(r.from).toISOString()}..${new Date(r.to).toISOString()}`).toEqual(
          await minuteReference('c1', dimension, r),
        );
      }
    }
  }, 120_000);

  it('holds every viewer of a week in its weekly state, those written before 016 and after', async () => {
    const [week] = await queryRows<{ n: string; days: string }>(
      s.clickhouse,
      sql`SELECT
            (SELECT uniqCombinedMerge(viewers) FROM ${t('creator_viewers_weekly')} WHERE creator_id = 'c1' AND week = toDate('2026-11-23')) AS n,
            (SELECT uniqCombinedMerge(viewers) FROM ${t('creator_viewers_daily')}
             WHERE creator_id = 'c1' AND day >= toDate('2026-11-23') AND day < toDate('2026-11-30')) AS days`,
    );
    expect(Number(week!.n)).toBe(Number(week!.days));
    expect(Number(week!.n)).toBeGreaterThan(500);
  });
});
