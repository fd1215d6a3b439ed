// Queries shared by the insights routes. Every value reaches SQL through the `sql` tag and
// `v.*` (lib/clickhouse/sql.ts); every table is read the way docs/sql.md reads it:
//  - view_counts with FINAL, summed over source partitions and late-event seqs, at the
//    coarsest grain that fits the range exactly (range.ts: segments, innerUnit);
//  - uniq states merged (uniqCombinedMerge), first-seen states with minMerge;
//  - sessions as their latest versions (latestSessions: argMax per session, what FINAL
//    gives, faster on 18.16), views being counted_view = 1;
//  - the catalog (videos) with FINAL, deleted videos left out.
import { queryRows, type ClickHouseClient } from '../../lib/clickhouse/client.js';
import { join, sql, v, type SqlFragment } from '../../lib/clickhouse/sql.js';
import { ENGAGEMENT, finalizedThrough, VIEW_COUNTS } from '../../processors/semantics.js';
import { TABLES, type TableKey } from '../../schemas/tables.js';
import { bucketIndex, floorTo, innerUnit, segments, type Range } from './range.js';
import { HOUR } from '../../lib/time.js';

export interface Db {
  clickhouse: ClickHouseClient;
  database: string;
}

export const table = (db: Db, key: TableKey): SqlFragment => v.table(db.database, TABLES[key]);

export const num = (x: unknown): number => (x === null || x === undefined ? 0 : Number(x));

export async function rows<T>(db: Db, q: SqlFragment): Promise<T[]> {
  return queryRows<T>(db.clickhouse, q);
}

// ---------------------------------------------------------------------------- catalog

export interface VideoRecord {
  video_id: string;
  creator_id: string;
  title: string;
  duration_ms: number;
  published_at: string;
}

interface VideoRow {
  video_id: string;
  creator_id: string;
  title: string;
  duration_ms: string | number;
  published: number;
}

const toVideo = (r: VideoRow): VideoRecord => ({
  video_id: r.video_id,
  creator_id: r.creator_id,
  title: r.title,
  duration_ms: num(r.duration_ms),
  published_at: new Date(num(r.published) * 1000).toISOString(),
});

/** The catalog entry of a video; undefined when unknown or deleted. */
export async function findVideo(db: Db, videoId: string): Promise<VideoRecord | undefined> {
  const [r] = await rows<VideoRow>(
    db,
    sql`SELECT video_id, creator_id, title, duration_ms, toUInt32(published_at) AS published
        FROM ${table(db, 'videos')} FINAL
        WHERE video_id = ${v.string(videoId)} AND deleted = 0
        LIMIT 1`,
  );
  return r ? toVideo(r) : undefined;
}

/** Whether the catalog has at least one (not deleted) video of the creator. */
export async function creatorExists(db: Db, creatorId: string): Promise<boolean> {
  const r = await rows<{ n: string }>(
    db,
    sql`SELECT count() AS n FROM ${table(db, 'videos')} FINAL
        WHERE creator_id = ${v.string(creatorId)} AND deleted = 0`,
  );
  return num(r[0]?.n) > 0;
}

/** The sub-query listing a creator's catalog videos, for `video_id IN (...)`. */
export const creatorVideoIds = (db: Db, creatorId: string): SqlFragment =>
  sql`(SELECT video_id FROM ${table(db, 'videos')} FINAL WHERE creator_id = ${v.string(creatorId)} AND deleted = 0)`;

/** Titles of some videos (unknown ones are left out). */
export async function titles(db: Db, videoIds: readonly string[]): Promise<Map<string, string>> {
  if (videoIds.length === 0) return new Map();
  const r = await rows<{ video_id: string; title: string }>(
    db,
    sql`SELECT video_id, title FROM ${table(db, 'videos')} FINAL
        WHERE video_id IN ${v.inList([...new Set(videoIds)], 'String')} AND deleted = 0`,
  );
  return new Map(r.map((x) => [x.video_id, x.title]));
}

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
  const parts = segments(range).map(
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

export async function uniqueViewers(db: Db, dim: Dim, id: string, range: Range): Promise<number> {
  const [n] = await uniqueViewersSeries(db, dim, id, [range.from, range.to]);
  return n ?? 0;
}

// ---------------------------------------------------------------------------- sessions

/** Columns of `sessions` the API reads (latestSessions adds counted_view and view_time). */
export type SessionColumn =
  | 'viewer_id'
  | 'creator_id'
  | 'watch_ms'
  | 'duration_ms'
  | 'completed'
  | 'counted_view'
  | 'view_time'
  | 'closed'
  | 'ended_at'
  | 'covered'
  | 'country'
  | 'device'
  | 'os'
  | 'traffic_source'
  | 'referrer_video_id';

/**
 * The latest version of each session among the stored rows matching `where`, as a sub-query
 * of video_id and `columns` (plus counted_view and view_time): what `sessions FINAL` gives,
 * computed as argMax(column, version) per (video_id, session_id). `where` may only hold
 * conditions that pick whole sessions — on video_id, the first sort key column — or that, once
 * true for a version, stay true for every later one (ended_at >= t: a later version has seen
 * more events); anything else (closed, counted_view, view_time) belongs outside, on the latest. Rows of equal version carry equal values (the engagement
 * processor's writes are deterministic), so the pick is exact.
 *
 * Why not FINAL: ClickHouse 18.16 merges FINAL in one thread over every granule the key
 * selects, and a creator's videos are spread over all of them; the GROUP BY reads only the
 * needed columns in parallel — about 2× the throughput under load (bench/results/api.json).
 * The values are renamed back in an outer SELECT, so no alias shadows a column of the same
 * name inside argMax (which current ClickHouse's analyzer resolves differently).
 */
export function latestSessions(
  db: Db,
  where: SqlFragment,
  columns: readonly SessionColumn[],
  onlyCreator?: string,
): SqlFragment {
  const cols = [
    ...new Set<SessionColumn>([
      ...columns,
      'counted_view',
      'view_time',
      ...(onlyCreator ? ['creator_id' as const] : []),
    ]),
  ];
  const latest = (c: SessionColumn): SqlFragment => v.ident(`latest_${c}`);
  const picks = cols.map((c) => sql`argMax(${v.ident(c)}, version) AS ${latest(c)}`);
  const names = cols.map((c) => sql`${latest(c)} AS ${v.ident(c)}`);
  // The creator stamped on the latest version, as `FINAL ... WHERE creator_id = ` reads it.
  const creator = onlyCreator ? sql` WHERE latest_creator_id = ${v.string(onlyCreator)}` : sql``;
  return sql`(SELECT video_id, ${join(names)}
    FROM (SELECT video_id, session_id, ${join(picks)}
          FROM ${table(db, 'sessions')}
          WHERE ${where}
          GROUP BY video_id, session_id)${creator})`;
}

/**
 * The latest sessions of one video, or of a creator's catalog videos stamped with the creator;
 * `alsoWhere` narrows the stored rows as latestSessions' `where` allows.
 */
export function sessionsOf(
  db: Db,
  dim: Dim,
  id: string,
  columns: readonly SessionColumn[],
  alsoWhere?: SqlFragment,
): SqlFragment {
  const also = alsoWhere ? sql` AND ${alsoWhere}` : sql``;
  return dim === 'video'
    ? latestSessions(db, sql`video_id = ${v.string(id)}${also}`, columns)
    : latestSessions(db, sql`video_id IN ${creatorVideoIds(db, id)}${also}`, columns, id);
}

/** Counted views whose view_time lies in the range. */
export const viewsIn = (range: Range): SqlFragment =>
  sql`counted_view = 1 AND view_time >= ${v.dateTime(range.from)} AND view_time < ${v.dateTime(range.to)}`;

/** Counted views of the range whose session is still open (their numbers may still change). */
export async function openViews(db: Db, dim: Dim, id: string, range: Range): Promise<number> {
  const [r] = await rows<{ n: string }>(
    db,
    sql`SELECT countIf(closed = 0) AS n FROM ${sessionsOf(db, dim, id, ['closed'])}
        WHERE ${viewsIn(range)}`,
  );
  return num(r?.n);
}

// ---------------------------------------------------------------------------- engagement

export interface Engagement {
  /** counted views with view_time in the range, as sessions see them */
  views: number;
  average_view_duration_ms: number | null;
  average_percentage_viewed: number | null;
  completion_rate: number | null;
}

/** Averages over the views (the latest sessions, counted_view = 1) in the range. */
export async function engagement(db: Db, dim: Dim, id: string, range: Range): Promise<Engagement> {
  const [e] = await engagements(db, dim, id, [range]);
  return e;
}

/**
 * engagement() for several ranges (a period and the previous one) in one pass over the
 * sessions: each average with `-If` on its range.
 */
export async function engagements<R extends readonly Range[]>(
  db: Db,
  dim: Dim,
  id: string,
  ranges: readonly [...R],
): Promise<{ [K in keyof R]: Engagement }> {
  const ins = ranges.map((r) => sql`(view_time >= ${v.dateTime(r.from)} AND view_time < ${v.dateTime(r.to)})`);
  const columns = ins.map((c, i) => {
    const n = (name: string): SqlFragment => v.ident(`${name}${i}`);
    return sql`countIf(${c}) AS ${n('views')},
               if(${n('views')} = 0, NULL, avgIf(watch_ms, ${c})) AS ${n('avd')},
               if(countIf(${c} AND duration_ms > 0) = 0, NULL,
                  100 * avgIf(least(1, watch_ms / duration_ms), ${c} AND duration_ms > 0)) AS ${n('apv')},
               if(${n('views')} = 0, NULL, avgIf(completed, ${c})) AS ${n('cr')}`;
  });
  const [r] = await rows<Record<string, string | number | null>>(
    db,
    sql`SELECT ${join(columns)}
        FROM ${sessionsOf(db, dim, id, ['watch_ms', 'duration_ms', 'completed'])}
        WHERE counted_view = 1 AND (${join(ins, ' OR ')})`,
  );
  const round = (x: unknown, digits: number): number | null =>
    x === null || x === undefined || !Number.isFinite(Number(x)) ? null : Number(Number(x).toFixed(digits));
  return ranges.map((_, i) => ({
    views: num(r?.[`views${i}`]),
    average_view_duration_ms: round(r?.[`avd${i}`], 0),
    average_percentage_viewed: round(r?.[`apv${i}`], 2),
    completion_rate: round(r?.[`cr${i}`], 4),
  })) as { [K in keyof R]: Engagement };
}

// ---------------------------------------------------------------------------- finality

export interface Finality {
  /**
   * Counts (view_counts) are final up to here: the lowest view-counts watermark over its input
   * partitions, minus the window grace. Null before the processor wrote any.
   */
  counts: number | null;
  /** The engagement processor (sessions, uniq states) has seen every partition up to here. */
  engagement: number | null;
}

export async function finality(db: Db): Promise<Finality> {
  const r = await rows<{ processor: string; wm: number | string }>(
    db,
    sql`SELECT processor, toUInt32(min(watermark)) AS wm
        FROM ${table(db, 'watermarks')} FINAL
        WHERE processor IN ${v.inList([VIEW_COUNTS, ENGAGEMENT], 'String')}
        GROUP BY processor`,
  );
  const wm = (name: string): number | null => {
    const x = r.find((row) => row.processor === name);
    return x ? num(x.wm) * 1000 : null;
  };
  const counts = wm(VIEW_COUNTS);
  return { counts: counts === null ? null : finalizedThrough(counts), engagement: wm(ENGAGEMENT) };
}
