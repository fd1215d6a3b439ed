// Serving the co-view graph (schemas/clickhouse/006_recommendations.sql): related videos of a
// video, and the creators a creator's audience also watches. The scoring is defined, and
// implemented as an in-memory reference, in processors/recommendations/score.ts; these
// functions compute the same numbers from ClickHouse (the integration tests compare the two).
//
// A live answer takes a few small queries rather than one: ClickHouse merges the distinct-viewer
// sets (uniqExactMerge, and uniqExactMergeState to merge a pair's days once more for its
// support), and TypeScript combines the few hundred numbers that come back (cosine, lift,
// ordering). The second query's videos are a literal IN list: on 18.16 an `IN (subquery)` over
// the pair table costs tens of milliseconds more than the whole lookup. docs/sql.md has the
// same related-videos computation as one statement, for analysts. What the routes serve for
// the default read is materialized (api/related-refresher.ts).
//
// Every value reaches SQL through the `sql` tag (lib/clickhouse/sql.ts); everything used
// (uniqExact states, transform, IN lists) runs on ClickHouse 18.16 and on current releases.
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
} from '../../processors/semantics.js';
import { TABLES } from '../../schemas/tables.js';
import { DAY } from '../../lib/time.js';
import type { Db } from './db.js';

export { DEFAULT_READ, PRIVACY_MIN_VIEWERS } from '../../processors/semantics.js';

/**
 * A big creator's videos and their co-viewed videos make IN lists and transform() arrays of
 * thousands of ids: room for them beyond the server's default max_query_size (256 KiB).
 */
const LONG_LISTS = { max_query_size: 64 * 1024 * 1024 };

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

interface CatalogRow {
  video_id: string;
  creator_id: string;
  title: string;
  deleted: number | string;
}

/** The catalog entries of some videos (newest version), deleted ones marked. */
async function catalogOf(db: Db, ids: readonly string[]): Promise<Map<string, CatalogRow>> {
  if (ids.length === 0) return new Map();
  const rows = await queryRows<CatalogRow>(
    db.clickhouse,
    sql`SELECT video_id, argMax(creator_id, version) AS creator_id, argMax(title, version) AS title,
               argMax(deleted, version) AS deleted
        FROM ${v.table(db.database, TABLES.videos)}
        WHERE video_id IN ${v.inList(ids, 'String')}
        GROUP BY video_id`,
    LONG_LISTS,
  );
  return new Map(rows.map((r) => [r.video_id, r]));
}

/** Σ_d w(d) · distinct viewers on d, per key; `key` maps video_id to the key (a video, a creator). */
async function audiences(
  db: Db,
  o: ReadOptions,
  videoIds: readonly string[],
  key: SqlFragment = sql`video_id`,
): Promise<Map<string, number>> {
  if (videoIds.length === 0) return new Map();
  const { from, to, weight } = period(o);
  const rows = await queryRows<{ k: string; n: number }>(
    db.clickhouse,
    sql`SELECT k, sum(${weight} * n_d) AS n
        FROM (
          SELECT ${key} AS k, day, uniqExactMerge(viewers) AS n_d
          FROM ${v.table(db.database, TABLES.recommendationVideosDaily)}
          WHERE video_id IN ${v.inList(videoIds, 'String')} AND day >= ${from} AND day <= ${to}
          GROUP BY k, day)
        GROUP BY k`,
    LONG_LISTS,
  );
  return new Map(rows.map((r) => [r.k, Number(r.n)]));
}

/**
 * Co-viewers of `videoIds` with each related video, grouped by `key(related_id)`: the decayed
 * sum over days of the distinct co-viewers, and the distinct co-viewers over the whole period
 * (support), for the groups with support ≥ k.
 */
async function coViewers(
  db: Db,
  o: ReadOptions,
  videoIds: readonly string[],
  key: SqlFragment,
  where: SqlFragment,
): Promise<{ k: string; co: number; support: number }[]> {
  const { from, to, weight } = period(o);
  const rows = await queryRows<{ k: string; co: number; support: string }>(
    db.clickhouse,
    sql`SELECT k, sum(${weight} * co_d) AS co, uniqExactMerge(st) AS support
        FROM (
          SELECT ${key} AS k, day, uniqExactMerge(viewers) AS co_d, uniqExactMergeState(viewers) AS st
          FROM ${v.table(db.database, TABLES.recommendationPairsDaily)}
          WHERE video_id IN ${v.inList(videoIds, 'String')} AND day >= ${from} AND day <= ${to} AND ${where}
          GROUP BY k, day)
        GROUP BY k
        HAVING support >= ${v.uint(o.minViewers)}`,
    LONG_LISTS,
  );
  return rows.map((r) => ({ k: r.k, co: Number(r.co), support: Number(r.support) }));
}

/** The catalog entry of a video that may be recommended: in the catalog, not deleted, not the same creator's if so asked. */
function listed(
  catalog: ReadonlyMap<string, CatalogRow>,
  id: string,
  owner: string | undefined,
  excludeSameCreator: boolean | undefined,
): CatalogRow | undefined {
  const c = catalog.get(id);
  if (!c || Number(c.deleted) !== 0) return undefined;
  if (excludeSameCreator && owner !== undefined && c.creator_id === owner) return undefined;
  return c;
}

const byId = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The top related videos of `videoId` (processors/recommendations/score.ts has the maths):
 * the pairs with at least k co-viewers, then the decayed audiences of the video and its
 * candidates and their catalog entries, at once.
 */
export async function relatedVideos(
  db: Db,
  videoId: string,
  params: ReadParams & { excludeSameCreator?: boolean } = {},
  now: number = Date.now(),
): Promise<RelatedVideoRow[]> {
  const { excludeSameCreator, ...read } = params;
  const o = resolveRead(read, now);
  const pairs = await coViewers(db, o, [videoId], sql`related_id`, sql`related_id != ${v.string(videoId)}`);
  if (pairs.length === 0) return [];
  const ids = [videoId, ...pairs.map((p) => p.k)];
  const [n, catalog] = await Promise.all([audiences(db, o, ids), catalogOf(db, ids)]);
  const nx = n.get(videoId) ?? 0;
  const owner = catalog.get(videoId)?.creator_id;
  const out: RelatedVideoRow[] = [];
  for (const p of pairs) {
    const c = listed(catalog, p.k, owner, excludeSameCreator);
    if (!c) continue;
    out.push({
      video_id: p.k,
      creator_id: c.creator_id,
      title: c.title,
      // 12 decimals: the decayed co-view sums come out of ClickHouse in no fixed order, and the
      // noise in their last bits must not reorder videos of equal score
      score: Number((p.co / Math.sqrt(nx * (n.get(p.k) ?? 0))).toFixed(12)),
      support: p.support,
    });
  }
  out.sort((a, b) => b.score - a.score || b.support - a.support || byId(a.video_id, b.video_id));
  return out.slice(0, o.limit);
}

/**
 * Other creators whose videos `creatorId`'s viewers co-view, with share and lift: the
 * creator's catalog videos; the videos co-viewed with them and their owners; then per owner
 * the co-viewers (owners mapped in SQL with transform), the owners' audiences and everyone's.
 */
export async function alsoWatchedCreators(
  db: Db,
  creatorId: string,
  params: ReadParams & { sort?: 'share' | 'lift' } = {},
  now: number = Date.now(),
): Promise<RelatedCreatorRow[]> {
  const { sort, ...read } = params;
  const o = resolveRead(read, now);
  const { from, to, weight } = period(o);
  const videos = v.table(db.database, TABLES.videos);
  const owned = (creators: readonly string[]): Promise<{ video_id: string; creator_id: string }[]> =>
    queryRows(
      db.clickhouse,
      // every version of the videos any of them ever owned, so the newest decides
      sql`SELECT video_id, argMax(creator_id, version) AS creator_id FROM ${videos}
          WHERE video_id IN (SELECT video_id FROM ${videos} WHERE creator_id IN ${v.inList(creators, 'String')})
          GROUP BY video_id
          HAVING creator_id IN ${v.inList(creators, 'String')} AND argMax(deleted, version) = 0`,
      LONG_LISTS,
    );
  const own = (await owned([creatorId])).map((r) => r.video_id);
  if (own.length === 0) return [];
  const related = await queryRows<{ related_id: string }>(
    db.clickhouse,
    sql`SELECT DISTINCT related_id FROM ${v.table(db.database, TABLES.recommendationPairsDaily)}
        WHERE video_id IN ${v.inList(own, 'String')} AND day >= ${from} AND day <= ${to}`,
    LONG_LISTS,
  );
  const catalog = await catalogOf(
    db,
    related.map((r) => r.related_id),
  );
  const others = [...catalog.values()].filter((c) => Number(c.deleted) === 0 && c.creator_id !== creatorId);
  if (others.length === 0) return [];
  const ownerOf = (ids: readonly { video_id: string; creator_id: string }[]): SqlFragment =>
    sql`transform(video_id, ${v.array(
      ids.map((c) => c.video_id),
      'String',
    )}, ${v.array(
      ids.map((c) => c.creator_id),
      'String',
    )}, '')`;
  const relatedOwner = sql`transform(related_id, ${v.array(
    others.map((c) => c.video_id),
    'String',
  )}, ${v.array(
    others.map((c) => c.creator_id),
    'String',
  )}, '')`;
  const co = await coViewers(
    db,
    o,
    own,
    relatedOwner,
    sql`related_id IN ${v.inList(
      others.map((c) => c.video_id),
      'String',
    )}`,
  );
  if (co.length === 0) return [];
  const creators = [creatorId, ...co.map((c) => c.k)];
  const [all, totals] = await Promise.all([
    owned(creators),
    queryRows<{ n: number | null }>(
      db.clickhouse,
      sql`SELECT sum(${weight} * n_d) AS n FROM (
            SELECT day, uniqExactMerge(viewers) AS n_d FROM ${v.table(db.database, TABLES.recommendationViewersDaily)}
            WHERE day >= ${from} AND day <= ${to} GROUP BY day)`,
      LONG_LISTS,
    ),
  ]);
  const n = await audiences(
    db,
    o,
    all.map((r) => r.video_id),
    ownerOf(all),
  );
  const total = Number(totals[0]?.n ?? 0);
  const nx = n.get(creatorId) ?? 0;
  const out: RelatedCreatorRow[] = co.map((c) => {
    const share = c.co / nx;
    return { creator_id: c.k, share, lift: share / ((n.get(c.k) ?? 0) / total), co_viewers: c.co, support: c.support };
  });
  const key = sort === 'lift' ? 'lift' : 'share';
  out.sort((a, b) => b[key] - a[key] || b.support - a.support || byId(a.creator_id, b.creator_id));
  return out.slice(0, o.limit);
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
    LONG_LISTS,
  );
  return rows.map((r) => ({ video_id: r.video_id, viewers: Number(r.viewers) }));
}

// ---------------------------------------------------------------------------- materialized

/** Whether a read asks for what the refresher materializes: the default decay, lookback and minimum. */
const materializable = (o: ReadOptions, now: number): boolean =>
  o.asOf === today(now) &&
  o.halfLifeDays === DEFAULT_READ.halfLifeDays &&
  o.lookbackDays === DEFAULT_READ.lookbackDays &&
  o.minViewers === DEFAULT_READ.minViewers;

/**
 * The related videos the routes serve: the materialized row of the video (api/related-refresher.ts)
 * when the read is the default one and the row is of today — one row, then the catalog entries of
 * its videos (deleted and unknown ones and, if asked, the same creator's left out); otherwise
 * scored live. Two small reads: one query joining the row with the catalog cost ClickHouse
 * twice their time (bench:route-reads: 14 ms against 6–8 per request).
 */
export async function servedRelatedVideos(
  db: Db,
  videoId: string,
  params: ReadParams & { excludeSameCreator?: boolean } = {},
  now: number = Date.now(),
): Promise<RelatedVideoRow[]> {
  const { excludeSameCreator, ...read } = params;
  const o = resolveRead(read, now);
  if (!materializable(o, now)) return relatedVideos(db, videoId, params, now);
  const [row] = await queryRows<{ ids: string[]; scores: number[]; supports: Array<string | number> }>(
    db.clickhouse,
    sql`SELECT related_ids AS ids, scores, supports FROM ${v.table(db.database, TABLES.relatedVideos)} FINAL
        WHERE video_id = ${v.string(videoId)} AND as_of = toDate(${v.string(o.asOf)})`,
    LONG_LISTS,
  );
  if (!row) return relatedVideos(db, videoId, params, now);
  const catalog = await catalogOf(db, [videoId, ...row.ids]);
  const owner = catalog.get(videoId)?.creator_id;
  const out: RelatedVideoRow[] = [];
  row.ids.forEach((id, i) => {
    const c = listed(catalog, id, owner, excludeSameCreator);
    if (!c) return;
    out.push({
      video_id: id,
      creator_id: c.creator_id,
      title: c.title,
      score: Number(row.scores[i]),
      support: Number(row.supports[i]),
    });
  });
  return out.slice(0, o.limit);
}

/** "Also watched" the routes serve: the materialized row of the creator for the default read, re-sorted; else live. */
export async function servedAlsoWatched(
  db: Db,
  creatorId: string,
  params: ReadParams & { sort?: 'share' | 'lift' } = {},
  now: number = Date.now(),
): Promise<RelatedCreatorRow[]> {
  const { sort, ...read } = params;
  const o = resolveRead(read, now);
  if (!materializable(o, now)) return alsoWatchedCreators(db, creatorId, params, now);
  const [row] = await queryRows<{
    ids: string[];
    shares: number[];
    lifts: number[];
    co: number[];
    supports: Array<string | number>;
  }>(
    db.clickhouse,
    sql`SELECT creator_ids AS ids, shares, lifts, co_viewers AS co, supports
        FROM ${v.table(db.database, TABLES.relatedCreators)} FINAL
        WHERE creator_id = ${v.string(creatorId)} AND as_of = toDate(${v.string(o.asOf)})`,
    LONG_LISTS,
  );
  if (!row) return alsoWatchedCreators(db, creatorId, params, now);
  const out: RelatedCreatorRow[] = row.ids.map((id, i) => ({
    creator_id: id,
    share: Number(row.shares[i]),
    lift: Number(row.lifts[i]),
    co_viewers: Number(row.co[i]),
    support: Number(row.supports[i]),
  }));
  const key = sort === 'lift' ? 'lift' : 'share';
  out.sort((a, b) => b[key] - a[key] || b.support - a.support || byId(a.creator_id, b.creator_id));
  return out.slice(0, o.limit);
}
