// Plays, views, watch time and unique viewers of a video or a creator:
//  - view_counts with FINAL, summed over source partitions and late-event seqs, at the
//    coarsest grain that fits the range exactly (range.ts: segments, innerUnit);
//  - uniq states merged (uniqCombinedMerge), first-seen states with minMerge.
import { type Db, num, rows, table } from './db.js';
import { bucketIndex, ceilTo, daysAndWeeks, floorTo, innerUnit, type Range, type Segment, segments } from './range.js';
import { join, sql, type SqlFragment, v } from '../../lib/clickhouse/sql.js';
import { DAY, HOUR } from '../../lib/time.js';

// ---------------------------------------------------------------------------- counts

export type Dim = 'video' | 'creator';

export interface Counts {
  plays: number;
  views: number;
  watch_time_ms: number;
}

export const ZERO_COUNTS: Counts = { plays: 0, views: 0, watch_time_ms: 0 };

/** The sum of some counts (a series' buckets add up to the range exactly). */
export const sumCounts = (list: readonly Counts[]): Counts =>
  list.reduce(
    (t, c) => ({
      plays: t.plays + c.plays,
      views: t.views + c.views,
      watch_time_ms: t.watch_time_ms + c.watch_time_ms,
    }),
    { ...ZERO_COUNTS },
  );

interface CountRow {
  plays: string;
  views: string;
  watch: string;
}

/** `(grain = 'minute' AND window_start >= .. AND window_start < ..) OR ...` covering the range exactly. */
export function segmentFilter(range: Range): SqlFragment {
  return segmentListFilter(segments(range));
}

/** The same for a list of segments (no range: `0`). */
export function segmentListFilter(list: readonly Segment[]): SqlFragment {
  const parts = list.map(
    (s) =>
      sql`(grain = ${v.string(s.grain)} AND window_start >= ${v.dateTime(s.from)} AND window_start < ${v.dateTime(s.to)})`,
  );
  return parts.length ? sql`(${join(parts, ' OR ')})` : sql`0`;
}

const idFilter = (dim: Dim, id: string): SqlFragment => sql`dim = ${v.string(dim)} AND id = ${v.string(id)}`;

/**
 * Counts per bucket, exact: `boundaries` = [from, b1, ..., to] (range.ts bucketBoundaries). The
 * first and last bucket are read as exact segments, the inner ones grouped by the largest unit
 * dividing every inner boundary (so at the coarsest grain that fits), in one query.
 */
export async function countsSeries(db: Db, dim: Dim, id: string, boundaries: readonly number[]): Promise<Counts[]> {
  const n = boundaries.length - 1;
  const out = Array.from({ length: n }, () => ({ ...ZERO_COUNTS }));
  const { where, unit } = seriesFilter(boundaries);
  const r = await rows<CountRow & { u: string | number }>(
    db,
    sql`SELECT intDiv(toUInt32(window_start), ${v.uint(unit, 'UInt32')}) * ${v.uint(unit, 'UInt32')} AS u,
               sum(plays) AS plays, sum(views) AS views, sum(watch_ms) AS watch
        FROM ${table(db, 'counts')} FINAL
        WHERE ${idFilter(dim, id)} AND ${where}
        GROUP BY u`,
  );
  for (const row of r) {
    const i = bucketIndex(boundaries, num(row.u) * 1000);
    const c = out[i]!;
    c.plays += num(row.plays);
    c.views += num(row.views);
    c.watch_time_ms += num(row.watch);
  }
  return out;
}

/**
 * The windows (grain, window_start) of a table laid out like view_counts that make up the
 * buckets of `boundaries` exactly, and the unit (seconds) to group them by: rows grouped by
 * `intDiv(window_start, unit) * unit` never straddle a bucket boundary.
 */
export function seriesFilter(boundaries: readonly number[]): { where: SqlFragment; unit: number } {
  const n = boundaries.length - 1;
  const first = boundaries[0]!;
  const last = boundaries[n]!;
  let where: SqlFragment;
  let unit = 60;
  if (n === 1) where = segmentFilter({ from: first, to: last });
  else {
    // Head and tail buckets as exact segments (no row of theirs crosses a boundary); inner
    // buckets at the coarsest grain every inner boundary is aligned to.
    const inner = boundaries.slice(1, n);
    const u = innerUnit(inner);
    unit = u.unitSeconds;
    const b1 = inner[0]!;
    const bl = inner[inner.length - 1]!;
    const middle =
      b1 < bl
        ? sql` OR (grain = ${v.string(u.grain)} AND window_start >= ${v.dateTime(b1)} AND window_start < ${v.dateTime(bl)})`
        : sql``;
    where = sql`(${segmentFilter({ from: first, to: b1 })} OR ${segmentFilter({ from: bl, to: last })}${middle})`;
  }
  return { where, unit };
}

// ---------------------------------------------------------------------------- unique viewers

const uniqTable = (db: Db, dim: Dim): SqlFragment =>
  dim === 'video' ? table(db, 'videoViewersHourly') : table(db, 'creatorViewersHourly');
const uniqKey = (dim: Dim): SqlFragment => (dim === 'video' ? sql`video_id` : sql`creator_id`);

/**
 * Unique viewers per bucket from the hourly uniq states, merged: each UTC hour counts in the
 * bucket where it starts (hours from the one containing `from`, up to `to`). `boundaries` as for
 * countsSeries; a range is one bucket.
 */
export async function uniqueViewersSeries(
  db: Db,
  dim: Dim,
  id: string,
  boundaries: readonly number[],
): Promise<number[]> {
  const n = boundaries.length - 1;
  const inner = boundaries.slice(1, n).map((b) => Math.floor(b / 1000));
  const r = await rows<{ bucket: number | string; n: string }>(
    db,
    sql`SELECT arrayCount(b -> b <= toUInt32(hour), ${v.array(inner, 'UInt32')}) AS bucket,
               uniqCombinedMerge(viewers) AS n
        FROM ${uniqTable(db, dim)}
        WHERE ${uniqKey(dim)} = ${v.string(id)}
          AND hour >= ${v.dateTime(floorTo(boundaries[0]!, HOUR))} AND hour < ${v.dateTime(boundaries[n]!)}
        GROUP BY bucket`,
  );
  const out = new Array<number>(n).fill(0);
  for (const row of r) out[num(row.bucket)] = num(row.n);
  return out;
}

const uniqDailyTable = (db: Db, dim: Dim): SqlFragment =>
  dim === 'video' ? table(db, 'videoViewersDaily') : table(db, 'creatorViewersDaily');
const uniqWeeklyTable = (db: Db, dim: Dim): SqlFragment =>
  dim === 'video' ? table(db, 'videoViewersWeekly') : table(db, 'creatorViewersWeekly');

/**
 * Unique viewers of a range: the same hours as uniqueViewersSeries (from the one containing
 * `from`, up to `to`), read as whole UTC days and weeks from the daily and weekly states and the
 * hours at the edges from the hourly ones — at most 2 × 23 hour and 2 × 6 day states besides
 * the weeks, and the same merged set (a week's state is its days' union, a day's its hours').
 */
export async function uniqueViewers(db: Db, dim: Dim, id: string, range: Range): Promise<number> {
  const [n] = await uniqueViewersOf(db, dim, id, [range]);
  return n!;
}

/** uniqueViewers of several ranges (at most 256) in one query: one merge per range. */
export async function uniqueViewersOf(db: Db, dim: Dim, id: string, ranges: readonly Range[]): Promise<number[]> {
  const key = sql`${uniqKey(dim)} = ${v.string(id)}`;
  const parts: SqlFragment[] = [];
  ranges.forEach((range, i) => {
    const r = v.uint(i, 'UInt8');
    const h1 = floorTo(range.from, HOUR);
    const h2 = ceilTo(range.to, HOUR);
    const d1 = ceilTo(h1, DAY);
    const d2 = floorTo(h2, DAY);
    const hours = (a: number, b: number): SqlFragment =>
      sql`SELECT ${r} AS r, viewers FROM ${uniqTable(db, dim)} WHERE ${key} AND hour >= ${v.dateTime(a)} AND hour < ${v.dateTime(b)}`;
    if (d1 < d2) {
      parts.push(hours(h1, d1), hours(d2, h2));
      const { days, weeks } = daysAndWeeks(d1, d2);
      for (const d of days)
        parts.push(
          sql`SELECT ${r} AS r, viewers FROM ${uniqDailyTable(db, dim)} WHERE ${key} AND day >= ${v.date(d.from)} AND day < ${v.date(d.to)}`,
        );
      if (weeks)
        parts.push(
          sql`SELECT ${r} AS r, viewers FROM ${uniqWeeklyTable(db, dim)} WHERE ${key} AND week >= ${v.date(weeks.from)} AND week < ${v.date(weeks.to)}`,
        );
    } else parts.push(hours(h1, h2));
  });
  const r = await rows<{ r: number | string; n: string }>(
    db,
    sql`SELECT r, uniqCombinedMerge(viewers) AS n FROM (${join(parts, ' UNION ALL ')}) GROUP BY r`,
  );
  const out = ranges.map(() => 0);
  for (const x of r) out[num(x.r)] = num(x.n);
  return out;
}
