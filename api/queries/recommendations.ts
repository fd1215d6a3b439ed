// Serving the co-view graph (schemas/clickhouse/006_recommendations.sql): related videos of a
// video, and the creators a creator's audience also watches. The scoring is defined, and
// implemented as an in-memory reference, in processors/recommendations/score.ts; these
// queries compute the same numbers in ClickHouse (the integration tests compare the two).
//
// Every value reaches SQL through the `sql` tag (lib/clickhouse/sql.ts). The queries use only
// what ClickHouse 18.16 has — uniqExactMerge / uniqExactMergeState, one JOIN per SELECT
// level, scalar and IN subqueries — so they run there and on current releases.
//
// Only videos in the catalog (not deleted) are recommended, and ownership (for "exclude the
// same creator" and the creator level) is the catalog's, read at query time.
import { queryRows } from '../../lib/clickhouse/client.js';
import { sql, v, type SqlFragment } from '../../lib/clickhouse/sql.js';
import {
  dayNumber,
  DEFAULT_READ,
  validateReadOptions,
  type ReadOptions,
  type RelatedCreator,
  type RelatedVideo,
} from '../../processors/recommendations/score.js';
import { TABLES } from '../../schemas/tables.js';
import { DAY } from '../../processors/windows.js';
import type { Db } from './common.js';

export { DEFAULT_READ, PRIVACY_MIN_VIEWERS } from '../../processors/recommendations/score.js';

export type ReadParams = Partial<Omit<ReadOptions, 'asOf'>> & { asOf?: string };

export interface RelatedVideoRow extends RelatedVideo {
  creator_id: string;
  title: string;
}

export interface RelatedCreatorRow extends RelatedCreator {
  /** decayed co-viewers (the numerator of share) */
  co_viewers: number;
}

/** Today (UTC) as YYYY-MM-DD. */
export const today = (now: number = Date.now()): string =>
  new Date(Math.floor(now / DAY) * DAY).toISOString().slice(0, 10);

export function resolveRead(p: ReadParams, now: number = Date.now()): ReadOptions {
  const o: ReadOptions = { ...DEFAULT_READ, asOf: today(now), ...stripUndefined(p) };
  validateReadOptions(o);
  return o;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined)) as Partial<T>;
}

/** The fragments every query shares: the day range and the decay weight of `day`. */
function period(o: ReadOptions): { from: SqlFragment; to: SqlFragment; weight: SqlFragment } {
  const last = dayNumber(o.asOf);
  const first = last - o.lookbackDays + 1;
  return {
    from: v.date(Math.max(0, first) * DAY),
    to: v.date(last * DAY),
    // 0.5 ^ (age / half-life), age = asOf − day in days (never negative: day ≤ asOf here)
    weight: sql`pow(0.5, greatest(0, ${v.int(last, 'Int32')} - toInt32(toUInt16(day))) / ${v.float(o.halfLifeDays)})`,
  };
}

/** The catalog as readers see it: newest version per video, deleted ones left out. */
const catalog = (database: string): SqlFragment =>
  sql`SELECT video_id, argMax(creator_id, version) AS creator_id, argMax(title, version) AS title
      FROM ${v.table(database, TABLES.videos)}
      GROUP BY video_id HAVING argMax(deleted, version) = 0`;

export function relatedVideosSql(
  database: string,
  videoId: string,
  o: ReadOptions,
  excludeSameCreator: boolean,
): SqlFragment {
  validateReadOptions(o);
  const { from, to, weight } = period(o);
  const id = v.string(videoId);
  const pairs = v.table(database, TABLES.recommendationPairsDaily);
  const videos = v.table(database, TABLES.recommendationVideosDaily);
  const inPeriod = sql`day >= ${from} AND day <= ${to}`;
  const sameCreator = excludeSameCreator
    ? sql`AND creator_id NOT IN (SELECT argMax(creator_id, version) FROM ${v.table(database, TABLES.videos)} WHERE video_id = ${id} GROUP BY video_id)`
    : sql``;
  return sql`
    SELECT related_id AS video_id, creator_id, title, score, support
    FROM (
      SELECT related_id, co / sqrt(n * (
               SELECT sum(${weight} * n_d) FROM (
                 SELECT day, uniqExactMerge(viewers) AS n_d FROM ${videos}
                 WHERE video_id = ${id} AND ${inPeriod} GROUP BY day))) AS score,
             support
      FROM (
        SELECT related_id, sum(${weight} * co_d) AS co, uniqExactMerge(st) AS support
        FROM (
          SELECT related_id, day, uniqExactMerge(viewers) AS co_d, uniqExactMergeState(viewers) AS st
          FROM ${pairs}
          WHERE video_id = ${id} AND related_id != ${id} AND ${inPeriod}
          GROUP BY related_id, day)
        GROUP BY related_id
        HAVING support >= ${v.uint(o.minViewers)})
      ANY INNER JOIN (
        SELECT video_id AS related_id, sum(${weight} * n_d) AS n
        FROM (
          SELECT video_id, day, uniqExactMerge(viewers) AS n_d FROM ${videos}
          WHERE video_id IN (SELECT related_id FROM ${pairs} WHERE video_id = ${id} AND ${inPeriod}) AND ${inPeriod}
          GROUP BY video_id, day)
        GROUP BY related_id) USING related_id)
    ANY INNER JOIN (
      SELECT video_id AS related_id, creator_id, title FROM (${catalog(database)})
      WHERE video_id IN (SELECT related_id FROM ${pairs} WHERE video_id = ${id} AND ${inPeriod})) USING related_id
    WHERE 1 ${sameCreator}
    ORDER BY score DESC, support DESC, video_id ASC
    LIMIT ${v.uint(o.limit)}`;
}

/** The top related videos of `videoId` (see processors/recommendations/score.ts for the maths). */
export async function relatedVideos(
  db: Db,
  videoId: string,
  params: ReadParams & { excludeSameCreator?: boolean } = {},
  now: number = Date.now(),
): Promise<RelatedVideoRow[]> {
  const { excludeSameCreator, ...read } = params;
  const o = resolveRead(read, now);
  const rows = await queryRows<{ video_id: string; creator_id: string; title: string; score: number; support: string }>(
    db.clickhouse,
    relatedVideosSql(db.database, videoId, o, excludeSameCreator ?? false),
  );
  return rows.map((r) => ({
    video_id: r.video_id,
    creator_id: r.creator_id,
    title: r.title,
    score: Number(r.score),
    support: Number(r.support),
  }));
}

export function alsoWatchedSql(
  database: string,
  creatorId: string,
  o: ReadOptions,
  sort: 'share' | 'lift',
): SqlFragment {
  validateReadOptions(o);
  const { from, to, weight } = period(o);
  const creator = v.string(creatorId);
  const pairs = v.table(database, TABLES.recommendationPairsDaily);
  const videos = v.table(database, TABLES.recommendationVideosDaily);
  const inPeriod = sql`day >= ${from} AND day <= ${to}`;
  const ownVideos = sql`SELECT video_id FROM (${catalog(database)}) WHERE creator_id = ${creator}`;
  // N(C) per creator, for the given creators: Σ_d w(d) · distinct viewers of C's videos on d
  const audience = (creators: SqlFragment): SqlFragment => sql`
    SELECT creator_id, sum(${weight} * n_d) AS n
    FROM (
      SELECT creator_id, day, uniqExactMerge(viewers) AS n_d
      FROM (SELECT video_id, day, viewers FROM ${videos} WHERE ${inPeriod})
      ANY INNER JOIN (SELECT video_id, creator_id FROM (${catalog(database)}) WHERE creator_id IN (${creators})) USING video_id
      GROUP BY creator_id, day)
    GROUP BY creator_id`;
  const order = sort === 'lift' ? sql`lift DESC` : sql`share DESC`;
  return sql`
    SELECT creator_id, share, share / (n / (
             SELECT sum(${weight} * n_d) FROM (
               SELECT day, uniqExactMerge(viewers) AS n_d FROM ${v.table(database, TABLES.recommendationViewersDaily)}
               WHERE ${inPeriod} GROUP BY day))) AS lift,
           co AS co_viewers, support
    FROM (
      SELECT creator_id, co, co / (SELECT n FROM (${audience(creator)})) AS share, support
      FROM (
        SELECT creator_id, sum(${weight} * co_d) AS co, uniqExactMerge(st) AS support
        FROM (
          SELECT creator_id, day, uniqExactMerge(viewers) AS co_d, uniqExactMergeState(viewers) AS st
          FROM (
            SELECT related_id, day, viewers FROM ${pairs}
            WHERE video_id IN (${ownVideos}) AND ${inPeriod})
          ANY INNER JOIN (SELECT video_id AS related_id, creator_id FROM (${catalog(database)})) USING related_id
          WHERE creator_id != ${creator}
          GROUP BY creator_id, day)
        GROUP BY creator_id
        HAVING support >= ${v.uint(o.minViewers)}))
    ANY INNER JOIN (${audience(sql`SELECT creator_id FROM (${catalog(database)}) WHERE video_id IN (
        SELECT related_id FROM ${pairs} WHERE video_id IN (${ownVideos}) AND ${inPeriod})`)}) USING creator_id
    ORDER BY ${order}, support DESC, creator_id ASC
    LIMIT ${v.uint(o.limit)}`;
}

/** Other creators whose videos `creatorId`'s viewers co-view, with share and lift. */
export async function alsoWatchedCreators(
  db: Db,
  creatorId: string,
  params: ReadParams & { sort?: 'share' | 'lift' } = {},
  now: number = Date.now(),
): Promise<RelatedCreatorRow[]> {
  const { sort, ...read } = params;
  const o = resolveRead(read, now);
  const rows = await queryRows<{
    creator_id: string;
    share: number;
    lift: number;
    co_viewers: number;
    support: string;
  }>(db.clickhouse, alsoWatchedSql(db.database, creatorId, o, sort ?? 'share'));
  return rows.map((r) => ({
    creator_id: r.creator_id,
    share: Number(r.share),
    lift: Number(r.lift),
    co_viewers: Number(r.co_viewers),
    support: Number(r.support),
  }));
}

/** Distinct co-view viewers per video in the period (no decay), most first: popularity, and who has "enough views". */
export async function videoAudiences(
  db: Db,
  params: ReadParams = {},
  now: number = Date.now(),
): Promise<{ video_id: string; viewers: number }[]> {
  const o = resolveRead(params, now);
  const { from, to } = period(o);
  const rows = await queryRows<{ video_id: string; viewers: string }>(
    db.clickhouse,
    sql`SELECT video_id, uniqExactMerge(viewers) AS viewers
        FROM ${v.table(db.database, TABLES.recommendationVideosDaily)}
        WHERE day >= ${from} AND day <= ${to}
        GROUP BY video_id
        ORDER BY viewers DESC, video_id ASC`,
  );
  return rows.map((r) => ({ video_id: r.video_id, viewers: Number(r.viewers) }));
}
