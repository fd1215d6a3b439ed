// Sessions as their latest versions (latestSessions: argMax per session, what FINAL gives,
// faster on 18.16), views being counted_view = 1, and the engagement figures built on them.
import type { Dim } from './counts.js';
import { type Db, num, rows, table } from './db.js';
import type { Range } from './range.js';
import { creatorVideoIds } from './video-catalog.js';
import { join, sql, type SqlFragment, v } from '../../lib/clickhouse/sql.js';
import { averagePercent, viewSums } from './rollup.js';

/**
 * Where a figure is read from: the engagement rollup (what the routes use: rows per window) or
 * the latest sessions (rows per session — for analysts, and to check the rollup against).
 */
export type ReadModel = 'rollup' | 'sessions';

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
  | 'referrer_video_id'
  | 'started_at'
  | 'plays'
  | 'startup_ms'
  | 'rebuffer_ms'
  | 'rebuffers'
  | 'errors'
  | 'exit_after_stall'
  | 'exit_percent';

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

/**
 * The open views (sessions not closed: their numbers may still change) in the range among
 * `sessions` (a sessionsOf or latestSessions sub-query with the `closed` column) — of the
 * sessions read model; the rollup's reads sum open_views beside their numbers.
 */
export async function openViewsOfSessions(db: Db, sessions: SqlFragment, range: Range): Promise<number> {
  const [r] = await rows<{ n: string }>(
    db,
    sql`SELECT countIf(closed = 0) AS n FROM ${sessions} WHERE ${viewsIn(range)}`,
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
  /** of those views, the ones whose session is still open (their numbers may still change) */
  open_views: number;
}

/** Averages over the views (the latest sessions, counted_view = 1) in the range. */
export async function engagement(
  db: Db,
  dim: Dim,
  id: string,
  range: Range,
  source: ReadModel = 'rollup',
): Promise<Engagement> {
  const [e] = await engagements(db, dim, id, [range], source);
  return e;
}

const round = (x: unknown, digits: number): number | null =>
  x === null || x === undefined || !Number.isFinite(Number(x)) ? null : Number(Number(x).toFixed(digits));

/**
 * engagement() for several ranges (a period and the previous one) in one read: of the rollup
 * (sums per range), or of the sessions (each average with `-If` on its range).
 */
export async function engagements<R extends readonly Range[]>(
  db: Db,
  dim: Dim,
  id: string,
  ranges: readonly [...R],
  source: ReadModel = 'rollup',
): Promise<{ [K in keyof R]: Engagement }> {
  if (source === 'rollup') {
    const sums = await viewSums(db, dim, id, ranges);
    return sums.map((s) => ({
      views: s.views,
      average_view_duration_ms: s.views === 0 ? null : round(s.watch_ms / s.views, 0),
      average_percentage_viewed: round(averagePercent(s), 2),
      completion_rate: s.views === 0 ? null : round(s.completions / s.views, 4),
      open_views: s.open_views,
    })) as { [K in keyof R]: Engagement };
  }
  const ins = ranges.map((r) => sql`(view_time >= ${v.dateTime(r.from)} AND view_time < ${v.dateTime(r.to)})`);
  const columns = ins.map((c, i) => {
    const n = (name: string): SqlFragment => v.ident(`${name}${i}`);
    return sql`countIf(${c}) AS ${n('views')},
               if(${n('views')} = 0, NULL, avgIf(watch_ms, ${c})) AS ${n('avd')},
               if(countIf(${c} AND duration_ms > 0) = 0, NULL,
                  100 * avgIf(least(1, watch_ms / duration_ms), ${c} AND duration_ms > 0)) AS ${n('apv')},
               if(${n('views')} = 0, NULL, avgIf(completed, ${c})) AS ${n('cr')},
               countIf(${c} AND closed = 0) AS ${n('open')}`;
  });
  const [r] = await rows<Record<string, string | number | null>>(
    db,
    sql`SELECT ${join(columns)}
        FROM ${sessionsOf(db, dim, id, ['watch_ms', 'duration_ms', 'completed', 'closed'])}
        WHERE counted_view = 1 AND (${join(ins, ' OR ')})`,
  );
  return ranges.map((_, i) => ({
    views: num(r?.[`views${i}`]),
    average_view_duration_ms: round(r?.[`avd${i}`], 0),
    average_percentage_viewed: round(r?.[`apv${i}`], 2),
    completion_rate: round(r?.[`cr${i}`], 4),
    open_views: num(r?.[`open${i}`]),
  })) as { [K in keyof R]: Engagement };
}
