// Video-level queries over the latest sessions (counted_view = 1, view_time in the range):
// retention, breakdowns, traffic sources.
import { sql, v, type SqlFragment } from '../../lib/clickhouse/sql.js';
import { latestSessions, openViewsOfSessions, sessionsOf, viewsIn, type ReadModel } from './sessions.js';
import { rollupCurves, rollupStallExits, rollupValuesOf } from './rollup.js';
import { num, rows, table, type Db } from './db.js';
import { ownedBy, titles } from './video-catalog.js';
import type { Range } from './range.js';

// ---------------------------------------------------------------------------- retention

export const RETENTION_POINTS = 101;

export interface Curve {
  views: number;
  /** covering[p]: views whose watched segments cover percent p */
  covering: number[];
}

/** Stands for "the session itself" next to its covered buckets 0..100 (see curves). */
const VIEW_BUCKET = 255;

/**
 * Views and per-percent coverage of each video matching `where`, in one pass over the latest
 * sessions: each view yields its covered buckets (arrayJoin, as in docs/sql.md; 18.16 cannot
 * capture an Array column in a lambda) plus one VIEW_BUCKET row, whose count is the views.
 */
async function curves(db: Db, where: SqlFragment, range: Range): Promise<Map<string, Curve>> {
  const r = await rows<{ video_id: string; bucket: number | string; n: string }>(
    db,
    sql`SELECT video_id, arrayJoin(arrayPushBack(covered, ${v.uint(VIEW_BUCKET, 'UInt8')})) AS bucket, count() AS n
        FROM ${latestSessions(db, where, ['covered'])}
        WHERE ${viewsIn(range)}
        GROUP BY video_id, bucket`,
  );
  const out = new Map<string, Curve>();
  const curve = (id: string): Curve => {
    let c = out.get(id);
    if (!c) out.set(id, (c = { views: 0, covering: new Array<number>(RETENTION_POINTS).fill(0) }));
    return c;
  };
  for (const x of r) {
    const b = num(x.bucket);
    if (b === VIEW_BUCKET) curve(x.video_id).views = num(x.n);
    else if (b >= 0 && b < RETENTION_POINTS) curve(x.video_id).covering[b] = num(x.n);
  }
  return out;
}

export interface RetentionPoint {
  percent: number;
  retention: number;
}

const points = (share: (p: number) => number): RetentionPoint[] =>
  Array.from({ length: RETENTION_POINTS }, (_, p) => ({ percent: p, retention: Number(share(p).toFixed(6)) }));

export const curvePoints = (c: Curve | undefined): RetentionPoint[] =>
  points((p) => (c && c.views ? (c.covering[p] ?? 0) / c.views : 0));

export interface StallExit {
  percent: number;
  views: number;
}

/** A point is marked when at least this many views left there after a stall: max(2, 2 % of the views). */
export const stallExitMarkerMin = (views: number): number => Math.max(2, Math.ceil(views * 0.02));

/** Per percent 0..100 the exits of `counts` that are not zero, ascending. */
const exitPoints = (counts: readonly number[]): StallExit[] =>
  counts.flatMap((n, percent) => (n > 0 ? [{ percent, views: n }] : []));

/**
 * Per exit point (percent 0..100), the video's views in the range that left right after a
 * stall (docs/semantics.md "Left after a stall"), ascending; points without any are left out.
 * From the sessions (the rollup's: rollupStallExits).
 */
async function stallExitsOfSessions(db: Db, videoId: string, range: Range): Promise<StallExit[]> {
  const r = await rows<{ percent: number | string; n: string }>(
    db,
    sql`SELECT exit_percent AS percent, count() AS n
        FROM ${latestSessions(db, sql`video_id = ${v.string(videoId)}`, ['exit_after_stall', 'exit_percent'])}
        WHERE ${viewsIn(range)} AND exit_after_stall = 1 AND exit_percent >= 0
        GROUP BY percent
        ORDER BY percent`,
  );
  return r.map((x) => ({ percent: num(x.percent), views: num(x.n) }));
}

export interface Retention {
  views: number;
  points: RetentionPoint[];
  stall_exits: StallExit[];
  stall_exit_marker_min: number;
  /** views of the video and of its peers whose session is still open: the answer may still change */
  open_views: number;
  comparison: {
    description: string;
    min_duration_ms: number;
    max_duration_ms: number;
    videos: number;
    views: number;
    points: RetentionPoint[];
  };
}

/**
 * The video's retention curve (share of its views covering each percent 0..100) and, for
 * comparison, the average curve of the creator's other videos of similar length (×0.5..×2 of
 * its duration) in the same range: the mean of their curves, each video weighing the same.
 */
export async function retention(
  db: Db,
  video: { video_id: string; creator_id: string; duration_ms: number },
  range: Range,
  source: ReadModel = 'rollup',
): Promise<Retention> {
  const lo = Math.floor(video.duration_ms / 2);
  const hi = video.duration_ms * 2;
  const peers = sql`SELECT video_id FROM ${table(db, 'videos')} FINAL
          WHERE ${ownedBy(db, video.creator_id)}
            AND duration_ms >= ${v.uint(lo)} AND duration_ms <= ${v.uint(hi)}`;
  // the video and its peers (the creator's other videos of similar length) in one pass, with the
  // open views among them
  let all: Map<string, Curve>;
  let exits: StallExit[];
  let open: number;
  if (source === 'rollup') {
    // the video's stall exits apart (beside the peers' curves their arrays doubled the bytes
    // read), each read with its own open count: final only if neither saw an open view
    const [read, stalls] = await Promise.all([
      rollupCurves(db, sql`(SELECT ${v.string(video.video_id)} UNION ALL ${peers})`, range),
      rollupStallExits(db, video.video_id, range),
    ]);
    all = read;
    // (the exits read's are the video's, a part of the curves read's when nothing changed between)
    open = Math.max(
      [...read.values()].reduce((n, c) => n + c.open, 0),
      stalls.open,
    );
    exits = exitPoints(stalls.exits);
  } else {
    const where = sql`video_id = ${v.string(video.video_id)} OR video_id IN (${peers})`;
    [all, exits, open] = await Promise.all([
      curves(db, where, range),
      stallExitsOfSessions(db, video.video_id, range),
      openViewsOfSessions(db, latestSessions(db, where, ['closed']), range),
    ]);
  }
  const mine = all.get(video.video_id);
  const others = [...all].filter(([id, c]) => id !== video.video_id && c.views > 0).map(([, c]) => c);
  return {
    views: mine?.views ?? 0,
    points: curvePoints(mine),
    stall_exits: exits,
    stall_exit_marker_min: stallExitMarkerMin(mine?.views ?? 0),
    open_views: open,
    comparison: {
      description:
        "mean retention curve of the creator's other videos lasting ×0.5..×2 as long, with views in the range",
      min_duration_ms: lo,
      max_duration_ms: hi,
      videos: others.length,
      views: others.reduce((s, c) => s + c.views, 0),
      points: points((p) =>
        others.length ? others.reduce((s, c) => s + (c.covering[p] ?? 0) / c.views, 0) / others.length : 0,
      ),
    },
  };
}

// ---------------------------------------------------------------------------- breakdown

export const DIMENSIONS = ['country', 'device', 'traffic_source', 'os'] as const;
export type Dimension = (typeof DIMENSIONS)[number];

export interface BreakdownRow {
  value: string;
  views: number;
  watch_time_ms: number;
  share: number;
}

export interface Breakdown {
  total_views: number;
  total_watch_time_ms: number;
  rows: BreakdownRow[];
  other: { values: number; views: number; watch_time_ms: number; share: number };
  /** of the views, those whose session is still open: the answer may still change */
  open_views: number;
}

const share = (part: number, total: number): number => (total ? Number((part / total).toFixed(6)) : 0);

/** Views and watch time of a video by one dimension: the top `limit` values and the rest as "other". */
export async function breakdown(
  db: Db,
  videoId: string,
  dimension: Dimension,
  range: Range,
  limit: number,
  source: ReadModel = 'rollup',
): Promise<Breakdown> {
  const [all, open] =
    source === 'rollup'
      ? await rollupValuesOf(db, [dimension], videoId, range).then(
          (r) => [r.get(dimension)!.values, r.get(dimension)!.open] as const,
        )
      : await Promise.all([
          breakdownFromSessions(db, videoId, dimension, range),
          openViewsOfSessions(db, sessionsOf(db, 'video', videoId, ['closed']), range),
        ]);
  const total = all.reduce((s, x) => s + x.views, 0);
  const totalWatch = all.reduce((s, x) => s + x.watch_time_ms, 0);
  const top = all.slice(0, limit);
  const rest = all.slice(limit);
  const otherViews = rest.reduce((s, x) => s + x.views, 0);
  return {
    total_views: total,
    total_watch_time_ms: totalWatch,
    rows: top.map((x) => ({ ...x, share: share(x.views, total) })),
    other: {
      values: rest.length,
      views: otherViews,
      watch_time_ms: rest.reduce((s, x) => s + x.watch_time_ms, 0),
      share: share(otherViews, total),
    },
    open_views: open,
  };
}

async function breakdownFromSessions(db: Db, videoId: string, dimension: Dimension, range: Range) {
  const r = await rows<{ value: string; views: string; watch: string }>(
    db,
    sql`SELECT toString(${v.ident(dimension)}) AS value, count() AS views, sum(watch_ms) AS watch
        FROM ${latestSessions(db, sql`video_id = ${v.string(videoId)}`, ['watch_ms', dimension])}
        WHERE ${viewsIn(range)}
        GROUP BY value
        ORDER BY views DESC, value ASC`,
  );
  return r.map((x) => ({ value: x.value, views: num(x.views), watch_time_ms: num(x.watch) }));
}

// ---------------------------------------------------------------------------- traffic

export interface Traffic {
  total_views: number;
  sources: BreakdownRow[];
  suggested: {
    views: number;
    referrers: Array<{ video_id: string; title: string | null; views: number; share: number }>;
    other: { videos: number; views: number };
  };
  /** of the views, those whose session is still open: the answer may still change */
  open_views: number;
}

/**
 * Where a video's views came from: every traffic source, and for `suggested` the videos that
 * suggested it (referrer_video_id, with titles from the catalog; null for a video the catalog
 * does not know), the top `limit` and the rest.
 */
export async function traffic(
  db: Db,
  videoId: string,
  range: Range,
  limit: number,
  source: ReadModel = 'rollup',
): Promise<Traffic> {
  const bySource = new Map<string, { views: number; watch: number }>();
  const byReferrer = new Map<string, number>();
  let total = 0;
  let suggested = 0;
  let open: number;
  if (source === 'rollup') {
    // both in one read; every view has a traffic source, so its open count is the video's
    const read = await rollupValuesOf(db, ['traffic_source', 'referrer'], videoId, range);
    const sources = read.get('traffic_source')!.values;
    const referrers = read.get('referrer')!.values;
    open = read.get('traffic_source')!.open;
    for (const x of sources) {
      total += x.views;
      bySource.set(x.value, { views: x.views, watch: x.watch_time_ms });
      if (x.value === 'suggested') suggested += x.views;
    }
    for (const x of referrers) byReferrer.set(x.value, x.views);
  } else {
    const [r, n] = await Promise.all([
      rows<{ source: string; referrer: string; views: string; watch: string }>(
        db,
        sql`SELECT traffic_source AS source, referrer_video_id AS referrer, count() AS views, sum(watch_ms) AS watch
            FROM ${latestSessions(db, sql`video_id = ${v.string(videoId)}`, ['watch_ms', 'traffic_source', 'referrer_video_id'])}
            WHERE ${viewsIn(range)}
            GROUP BY source, referrer`,
      ),
      openViewsOfSessions(db, sessionsOf(db, 'video', videoId, ['closed']), range),
    ]);
    open = n;
    for (const x of r) {
      const views = num(x.views);
      total += views;
      const s = bySource.get(x.source) ?? { views: 0, watch: 0 };
      s.views += views;
      s.watch += num(x.watch);
      bySource.set(x.source, s);
      if (x.source === 'suggested') {
        suggested += views;
        byReferrer.set(x.referrer, (byReferrer.get(x.referrer) ?? 0) + views);
      }
    }
  }
  const sources = [...bySource]
    .map(([value, s]) => ({ value, views: s.views, watch_time_ms: s.watch, share: share(s.views, total) }))
    .sort((a, b) => b.views - a.views || (a.value < b.value ? -1 : 1));
  const referrers = [...byReferrer]
    .map(([video_id, views]) => ({ video_id, views }))
    .sort((a, b) => b.views - a.views || (a.video_id < b.video_id ? -1 : 1));
  const top = referrers.slice(0, limit);
  const rest = referrers.slice(limit);
  const names = await titles(
    db,
    top.map((x) => x.video_id).filter((id) => id !== ''),
  );
  return {
    total_views: total,
    sources,
    suggested: {
      views: suggested,
      referrers: top.map((x) => ({
        video_id: x.video_id,
        title: names.get(x.video_id) ?? null,
        views: x.views,
        share: share(x.views, suggested),
      })),
      other: { videos: rest.length, views: rest.reduce((s, x) => s + x.views, 0) },
    },
    open_views: open,
  };
}
