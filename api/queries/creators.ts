// Creator-level queries: realtime numbers, the list of a creator's videos, the audience.
import { join, sql, v, type SqlFragment } from '../../lib/clickhouse/sql.js';
import { creatorVideoIds, ownedBy } from './video-catalog.js';
import { num, oneOf, rows, table, type Db } from './db.js';
import { segmentFilter, segmentListFilter, uniqueViewers, type Counts } from './counts.js';
import { openViewsOfSessions, sessionsOf, viewsIn, type ReadModel } from './sessions.js';
import { rollupValuesOf } from './rollup.js';
import { floorTo, iso, segmentsAndWeeks, type Range } from './range.js';
import { MINUTE, HOUR } from '../../lib/time.js';

// ---------------------------------------------------------------------------- realtime

export interface RealtimePoint {
  time: string;
  views: number;
  plays: number;
}

export interface Realtime {
  now: string;
  minutes: RealtimePoint[];
  hours: RealtimePoint[];
  views_last_60_minutes: number;
  views_last_48_hours: number;
  watching_now: { viewers: number; sessions: number };
  top_videos: Array<Counts & { video_id: string; title: string | null }>;
}

/** A run of `count` windows of one grain from `from`, each `step` long. */
interface WindowRun {
  grain: 'minute' | 'hour';
  from: number;
  count: number;
  step: number;
}

/** The creator's views and plays per window of each run, zeros included: one read for all runs. */
async function perWindow(db: Db, creatorId: string, runs: readonly WindowRun[]): Promise<RealtimePoint[][]> {
  const spans = runs.map(
    (w) =>
      sql`(grain = ${v.string(w.grain)} AND window_start >= ${v.dateTime(w.from)} AND window_start < ${v.dateTime(w.from + w.count * w.step)})`,
  );
  const r = await rows<{ grain: string; t: number | string; views: string; plays: string }>(
    db,
    sql`SELECT grain, toUInt32(window_start) AS t, sum(views) AS views, sum(plays) AS plays
        FROM ${table(db, 'counts')} FINAL
        WHERE dim = 'creator' AND id = ${v.string(creatorId)} AND (${join(spans, ' OR ')})
        GROUP BY grain, t`,
  );
  const by = new Map(r.map((x) => [`${x.grain}/${num(x.t) * 1000}`, x]));
  return runs.map((w) =>
    Array.from({ length: w.count }, (_, i) => {
      const t = w.from + i * w.step;
      const x = by.get(`${w.grain}/${t}`);
      return { time: iso(t), views: num(x?.views), plays: num(x?.plays) };
    }),
  );
}

/**
 * Views per minute over the last 60 minutes and per hour over the last 48 hours (both
 * including the current one), viewers watching now (sessions not closed with an event in the
 * last 60 s), and the top videos of the last 48 hours. Exact counts from view_counts.
 */
export async function realtime(db: Db, creatorId: string, now: number, topN = 10): Promise<Realtime> {
  const minuteFrom = floorTo(now, MINUTE) - 59 * MINUTE;
  const hourFrom = floorTo(now, HOUR) - 47 * HOUR;
  const hourTo = hourFrom + 48 * HOUR;
  const since = v.dateTime(Math.max(0, floorTo(now, 1000) - 60_000));
  const [windows, watching, top] = await Promise.all([
    perWindow(db, creatorId, [
      { grain: 'minute', from: minuteFrom, count: 60, step: MINUTE },
      { grain: 'hour', from: hourFrom, count: 48, step: HOUR },
    ]),
    // creator_live: a row per partition listing its sessions with an event in the last minutes
    rows<{ viewers: string; sessions: string }>(
      db,
      sql`SELECT uniqExact(viewer) AS viewers, count() AS sessions
          FROM ${table(db, 'creatorLive')} FINAL
          ARRAY JOIN viewer_ids AS viewer, last_event_at AS seen
          WHERE creator_id = ${v.string(creatorId)} AND seen >= ${since}`,
    ),
    // the top videos with their titles, in the same read
    rows<{ id: string; title: string; plays: string; views: string; watch: string }>(
      db,
      sql`SELECT id, title, plays, views, watch
          FROM
          (
              SELECT id, sum(plays) AS plays, sum(views) AS views, sum(watch_ms) AS watch
              FROM ${table(db, 'counts')} FINAL
              WHERE dim = 'video' AND id IN ${creatorVideoIds(db, creatorId)} AND grain = 'hour'
                AND window_start >= ${v.dateTime(hourFrom)} AND window_start < ${v.dateTime(hourTo)}
              GROUP BY id
              HAVING views > 0 OR plays > 0
              ORDER BY views DESC, plays DESC, id ASC
              LIMIT ${v.uint(topN, 'UInt32')}
          ) AS top
          ANY LEFT JOIN
          (
              SELECT video_id AS id, title FROM ${table(db, 'videos')} FINAL WHERE ${ownedBy(db, creatorId)}
          ) AS catalog USING id
          ORDER BY views DESC, plays DESC, id ASC`,
    ),
  ]);
  const [minutes, hours] = windows as [RealtimePoint[], RealtimePoint[]];
  return {
    now: iso(now),
    minutes,
    hours,
    views_last_60_minutes: minutes.reduce((s, p) => s + p.views, 0),
    views_last_48_hours: hours.reduce((s, p) => s + p.views, 0),
    watching_now: { viewers: num(watching[0]?.viewers), sessions: num(watching[0]?.sessions) },
    top_videos: top.map((x) => ({
      video_id: x.id,
      title: x.title, // every top video is one of the creator's catalog videos (creatorVideoIds): the join finds it
      plays: num(x.plays),
      views: num(x.views),
      watch_time_ms: num(x.watch),
    })),
  };
}

// ---------------------------------------------------------------------------- videos list

export const VIDEO_SORTS = ['views', 'plays', 'watch_time_ms'] as const;
export type VideoSort = (typeof VIDEO_SORTS)[number];
const SORT_COLUMN: Record<VideoSort, string> = { views: 'views', plays: 'plays', watch_time_ms: 'watch' };

export interface VideoListRow extends Counts {
  video_id: string;
  title: string;
  duration_ms: number;
  published_at: string;
}

/** Keyset position: the last row of the previous page. */
export interface VideoKey {
  value: number;
  video_id: string;
}

/**
 * A creator's catalog videos (zeros included) ordered by `sort` descending, then video_id: one
 * page after `after`. Asks for `limit + 1` rows so the caller knows whether more follow.
 */
export async function creatorVideos(
  db: Db,
  creatorId: string,
  range: Range,
  sort: VideoSort,
  limit: number,
  after: VideoKey | undefined,
): Promise<VideoListRow[]> {
  const col = v.ident(SORT_COLUMN[sort]);
  const keyset: SqlFragment = after
    ? sql`WHERE ${col} < ${v.int(after.value)} OR (${col} = ${v.int(after.value)} AND video_id > ${v.string(after.video_id)})`
    : sql``;
  const r = await rows<{
    video_id: string;
    title: string;
    duration_ms: string;
    published: number;
    plays: string;
    views: string;
    watch: string;
  }>(
    db,
    sql`SELECT video_id, title, duration_ms, published, plays, views, watch
        FROM
        (
            SELECT video_id, title, duration_ms, toUInt32(published_at) AS published
            FROM ${table(db, 'videos')} FINAL
            WHERE ${ownedBy(db, creatorId)}
        ) AS catalog
        ANY LEFT JOIN
        (
            SELECT id AS video_id, sum(plays) AS plays, sum(views) AS views, sum(watch_ms) AS watch
            FROM ${table(db, 'counts')} FINAL
            WHERE dim = 'video' AND id IN ${creatorVideoIds(db, creatorId)} AND ${segmentFilter(range)}
            GROUP BY video_id
        ) AS counts USING video_id
        ${keyset}
        ORDER BY ${col} DESC, video_id ASC
        LIMIT ${v.uint(limit + 1, 'UInt32')}`,
  );
  return r.map((x) => ({
    video_id: x.video_id,
    title: x.title,
    duration_ms: num(x.duration_ms),
    published_at: iso(num(x.published) * 1000),
    plays: num(x.plays),
    views: num(x.views),
    watch_time_ms: num(x.watch),
  }));
}

export const sortValue = (row: Counts, sort: VideoSort): number => row[sort];

// ---------------------------------------------------------------------------- audience

export interface AudienceRow {
  value: string;
  views: number;
  viewers: number;
  watch_time_ms: number;
}

export interface Audience {
  unique_viewers: number;
  new_viewers: number;
  returning_viewers: number;
  views: number;
  countries: AudienceRow[];
  devices: AudienceRow[];
  /** of the views, those whose session is still open: the answer may still change */
  open_views: number;
}

/**
 * Distinct viewers per value of a creator's views in the range, for each dimension of `columns`,
 * in one read: the minute, hour and day states of creator_audience, and its weekly states for
 * the whole weeks in between (each minute of the range in exactly one state).
 */
export async function audienceViewersOf<C extends 'country' | 'device'>(
  db: Db,
  creatorId: string,
  range: Range,
  columns: readonly C[],
): Promise<Map<C, { value: string; n: string }[]>> {
  const { segments, weeks } = segmentsAndWeeks(range);
  const of = sql`creator_id = ${v.string(creatorId)} AND ${oneOf('dimension', columns)}`;
  const parts = [
    sql`SELECT dimension, value, viewers FROM ${table(db, 'creatorAudience')} WHERE ${of} AND ${segmentListFilter(segments)}`,
  ];
  if (weeks)
    parts.push(
      sql`SELECT dimension, value, viewers FROM ${table(db, 'creatorAudienceWeekly')}
          WHERE ${of} AND week >= ${v.date(weeks.from)} AND week < ${v.date(weeks.to)}`,
    );
  const r = await rows<{ dimension: C; value: string; n: string }>(
    db,
    sql`SELECT dimension, value, uniqCombinedMerge(viewers) AS n
        FROM (${join(parts, ' UNION ALL ')}) GROUP BY dimension, value`,
  );
  const out = new Map(columns.map((c) => [c, [] as { value: string; n: string }[]]));
  for (const x of r) out.get(x.dimension)!.push({ value: x.value, n: x.n });
  return out;
}

interface ByDimension {
  countries: AudienceRow[];
  devices: AudienceRow[];
  /** of the views, those whose session is still open */
  open: number;
}

/**
 * Views and watch time by country and by device (the rollup's creator_country / creator_device
 * rows, in one read with the open views among them), with the distinct viewers of those views
 * (uniq states of the windows making up the range, merged).
 */
async function byDimensions(db: Db, creatorId: string, range: Range, source: ReadModel): Promise<ByDimension> {
  if (source === 'rollup') {
    const [values, viewers] = await Promise.all([
      rollupValuesOf(db, ['creator_country', 'creator_device'], creatorId, range),
      audienceViewersOf(db, creatorId, range, ['country', 'device']),
    ]);
    const of = (dim: 'creator_country' | 'creator_device', column: 'country' | 'device'): AudienceRow[] => {
      const n = new Map(viewers.get(column)!.map((x) => [x.value, num(x.n)]));
      return values.get(dim)!.values.map((x) => ({
        value: x.value,
        views: x.views,
        viewers: n.get(x.value) ?? 0,
        watch_time_ms: x.watch_time_ms,
      }));
    };
    // every view of the creator has one country: its open count is the creator's
    const open = values.get('creator_country')!.open;
    return { countries: of('creator_country', 'country'), devices: of('creator_device', 'device'), open };
  }
  const [countries, devices, open] = await Promise.all([
    byDimensionOfSessions(db, creatorId, range, 'country'),
    byDimensionOfSessions(db, creatorId, range, 'device'),
    openViewsOfSessions(db, sessionsOf(db, 'creator', creatorId, ['closed']), range),
  ]);
  return { countries, devices, open };
}

async function byDimensionOfSessions(
  db: Db,
  creatorId: string,
  range: Range,
  column: 'country' | 'device',
): Promise<AudienceRow[]> {
  const r = await rows<{ value: string; views: string; viewers: string; watch: string }>(
    db,
    sql`SELECT ${v.ident(column)} AS value, count() AS views, uniqExact(viewer_id) AS viewers, sum(watch_ms) AS watch
        FROM ${sessionsOf(db, 'creator', creatorId, ['viewer_id', 'watch_ms', column])}
        WHERE ${viewsIn(range)}
        GROUP BY value
        ORDER BY views DESC, value ASC`,
  );
  return r.map((x) => ({
    value: x.value,
    views: num(x.views),
    viewers: num(x.viewers),
    watch_time_ms: num(x.watch),
  }));
}

/**
 * Viewers first seen by the creator inside the range (exact): the first-seen states of only the
 * viewers seen on the days the range touches (creator_viewer_days) are merged; a viewer first
 * seen in the range was seen that day, so none is missed. ClickHouse still scans the creator's
 * viewer_id column (a day's viewers are spread over every granule of it), but the GROUP BY and
 * the state merges follow the range's viewers, not every viewer the creator ever had.
 */
export async function newViewers(db: Db, creatorId: string, range: Range): Promise<number> {
  const r = await rows<{ n: string }>(
    db,
    sql`SELECT count() AS n
        FROM
        (
            SELECT viewer_id, minMerge(first_seen) AS fs
            FROM ${table(db, 'creatorViewerFirstSeen')}
            WHERE creator_id = ${v.string(creatorId)}
              AND viewer_id IN
              (
                  SELECT viewer_id FROM ${table(db, 'creatorViewerDays')}
                  WHERE creator_id = ${v.string(creatorId)}
                    AND day >= ${v.date(range.from)} AND day <= ${v.date(range.to - 1)}
              )
            GROUP BY viewer_id
        )
        WHERE fs >= ${v.dateTime(range.from)} AND fs < ${v.dateTime(range.to)}`,
  );
  return num(r[0]?.n);
}

/**
 * Unique viewers (hourly uniq states), new viewers (first seen by this creator inside the range,
 * exact from the first-seen states of only the viewers seen on the range's days) and returning
 * ones (the rest), and views and viewers by country and device.
 */
export async function audience(
  db: Db,
  creatorId: string,
  range: Range,
  source: ReadModel = 'rollup',
): Promise<Audience> {
  const [unique, fresh, { countries, devices, open }] = await Promise.all([
    uniqueViewers(db, 'creator', creatorId, range),
    newViewers(db, creatorId, range),
    byDimensions(db, creatorId, range, source),
  ]);
  const newCount = Math.min(fresh, unique);
  return {
    unique_viewers: unique,
    new_viewers: newCount,
    returning_viewers: Math.max(0, unique - newCount),
    views: countries.reduce((s, x) => s + x.views, 0),
    countries,
    devices,
    open_views: open,
  };
}
