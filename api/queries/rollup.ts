// Reads of engagement_rollup (processors/engagement/rollup.ts): counted views' numbers per
// window of their view time, summed FINAL over source partitions and seqs, at the coarsest
// grain that covers the range exactly (range.ts segments). A read touches rows in proportion
// to the windows of its range (at most 2 × 59 minutes + 2 × 23 hours + the days) and the
// values it returns — never to the sessions behind them. The sums equal what the latest
// sessions give (test/integration/rollup-vs-sessions.test.ts compares the two).
import { type Db, num, oneOf, rows, table } from './db.js';
import type { Dim } from './counts.js';
import { segmentFilter } from './counts.js';
import type { Range } from './range.js';
import { join, sql, type SqlFragment, v } from '../../lib/clickhouse/sql.js';
import { PERCENT_SCALE } from '../../processors/semantics.js';

/** The row sets of the rollup (its `dim` column). */
export type RollupDim =
  | 'video'
  | 'creator'
  | 'country'
  | 'device'
  | 'os'
  | 'traffic_source'
  | 'referrer'
  | 'creator_country'
  | 'creator_device';

const rollup = (db: Db): SqlFragment => sql`${table(db, 'engagementRollup')} FINAL`;

const of = (dim: RollupDim, id: string): SqlFragment => sql`dim = ${v.string(dim)} AND id = ${v.string(id)}`;

export interface ViewSums {
  views: number;
  watch_ms: number;
  percent_viewed_micros: number;
  percent_measured_views: number;
  completions: number;
  open_views: number;
}

/** The sums of several ranges of one video or creator, in one read (sumIf per range). */
export async function viewSums(db: Db, dim: Dim, id: string, ranges: readonly Range[]): Promise<ViewSums[]> {
  const filters = ranges.map((r) => segmentFilter(r));
  const columns = filters.map((f, i) => {
    const n = (name: string): SqlFragment => v.ident(`${name}${i}`);
    return sql`sumIf(views, ${f}) AS ${n('views')}, sumIf(watch_ms, ${f}) AS ${n('watch')},
               sumIf(percent_viewed_micros, ${f}) AS ${n('pct')}, sumIf(percent_measured_views, ${f}) AS ${n('measured')},
               sumIf(completions, ${f}) AS ${n('completions')}, sumIf(open_views, ${f}) AS ${n('open')}`;
  });
  const [r] = await rows<Record<string, string | number>>(
    db,
    sql`SELECT ${join(columns)} FROM ${rollup(db)}
        WHERE ${of(dim, id)} AND (${join(filters, ' OR ')})`,
  );
  return ranges.map((_, i) => ({
    views: num(r?.[`views${i}`]),
    watch_ms: num(r?.[`watch${i}`]),
    percent_viewed_micros: num(r?.[`pct${i}`]),
    percent_measured_views: num(r?.[`measured${i}`]),
    completions: num(r?.[`completions${i}`]),
    open_views: num(r?.[`open${i}`]),
  }));
}

/** Average percent viewed (0..100) of summed views; null when no view has a known duration. */
export const averagePercent = (s: ViewSums): number | null =>
  s.percent_measured_views === 0 ? null : (100 * s.percent_viewed_micros) / PERCENT_SCALE / s.percent_measured_views;

/** A video's views of a range, their per-percent coverage, and the open ones among them. */
export interface RollupCurve {
  views: number;
  /** per percent 0..100 the views covering it */
  covering: number[];
  /** views whose session is still open (their numbers may still change) */
  open: number;
}

/** Curve of each video of `videoIds` in the range, in one read. */
export async function rollupCurves(db: Db, videoIds: SqlFragment, range: Range): Promise<Map<string, RollupCurve>> {
  const r = await rows<{
    id: string;
    views: string;
    open: string;
    covering: Array<string | number>;
  }>(
    db,
    sql`SELECT id, sum(views) AS views, sum(open_views) AS open, sumForEach(retention) AS covering
        FROM ${rollup(db)}
        WHERE dim = 'video' AND id IN ${videoIds} AND ${segmentFilter(range)}
        GROUP BY id`,
  );
  return new Map(r.map((x) => [x.id, { views: num(x.views), covering: x.covering.map(Number), open: num(x.open) }]));
}

/**
 * Per percent 0..100 the video's views of the range that left there after a stall, and the open
 * views among them (this read's own finality check).
 */
export async function rollupStallExits(
  db: Db,
  videoId: string,
  range: Range,
): Promise<{ exits: number[]; open: number }> {
  const [r] = await rows<{ exits: Array<string | number>; open: string }>(
    db,
    sql`SELECT sumForEach(stall_exits) AS exits, sum(open_views) AS open
        FROM ${rollup(db)}
        WHERE ${of('video', videoId)} AND ${segmentFilter(range)}`,
  );
  return { exits: (r?.exits ?? []).map(Number), open: num(r?.open) };
}

/** A breakdown dimension of a video, or of a creator (creator_country, creator_device: `id` is the creator). */
export type ValueDim = Exclude<RollupDim, 'video' | 'creator'>;

export interface ValueRow {
  value: string;
  views: number;
  watch_time_ms: number;
}

/**
 * Views and watch time per value of each breakdown dimension of `dims` in the range, most viewed
 * first — of a video (country, device, os, traffic_source, referrer), or of a creator
 * (creator_country, creator_device: `id` is the creator) — in one read, each with the open views
 * among its values (every counted view has one value of each dimension but `referrer`, which
 * only suggested views have: a dimension's open count is then the video's or creator's).
 */
export async function rollupValuesOf<D extends ValueDim>(
  db: Db,
  dims: readonly D[],
  id: string,
  range: Range,
): Promise<Map<D, { values: ValueRow[]; open: number }>> {
  const r = await rows<{ dim: D; value: string; views: string; watch: string; open: string }>(
    db,
    sql`SELECT dim, value, sum(views) AS views, sum(watch_ms) AS watch, sum(open_views) AS open
        FROM ${rollup(db)}
        WHERE ${oneOf('dim', dims)} AND id = ${v.string(id)} AND ${segmentFilter(range)}
        GROUP BY dim, value
        ORDER BY dim, views DESC, value ASC`,
  );
  const out = new Map(dims.map((d) => [d, { values: [] as ValueRow[], open: 0 }]));
  for (const x of r) {
    const o = out.get(x.dim)!;
    o.open += num(x.open);
    if (num(x.views) > 0) o.values.push({ value: x.value, views: num(x.views), watch_time_ms: num(x.watch) });
  }
  return out;
}
