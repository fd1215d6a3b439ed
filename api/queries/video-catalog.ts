// The catalog as the API reads it: the videos table with FINAL, deleted videos left out;
// who owns a video, whether a creator exists, titles.
import { type Db, num, rows, table } from './db.js';
import { sql, type SqlFragment, v } from '../../lib/clickhouse/sql.js';

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

/** How long a catalog lookup answers the requests after it (ApiDeps.catalogTtlMs). */
export const CATALOG_TTL_MS = 2_000;

/**
 * findVideo for the access check of every video route, remembered per video for `ttlMs` and
 * shared by the requests in between: one query and one round trip fewer per request on a
 * popular video, before the route's own reads can start. A catalog change (a video deleted or
 * moved to another creator) reaches the API at most `ttlMs` later than it reaches `videos`;
 * 0 looks every request up. Bounded: the oldest lookups go first.
 */
export class VideoLookups {
  private readonly recent = new Map<string, { at: number; value: Promise<VideoRecord | undefined> }>();

  constructor(
    private readonly db: Db,
    readonly ttlMs: number = CATALOG_TTL_MS,
    readonly maxEntries = 10_000,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  find(videoId: string): Promise<VideoRecord | undefined> {
    if (this.ttlMs <= 0) return findVideo(this.db, videoId);
    const now = this.clock();
    const last = this.recent.get(videoId);
    if (last && now - last.at < this.ttlMs) return last.value;
    this.recent.delete(videoId); // re-inserted last: the map's order is the lookups' age
    const entry = { at: now, value: findVideo(this.db, videoId) };
    this.recent.set(videoId, entry);
    entry.value.catch(() => {
      if (this.recent.get(videoId) === entry) this.recent.delete(videoId); // a failure is not remembered
    });
    if (this.recent.size > this.maxEntries) this.recent.delete(this.recent.keys().next().value!);
    return entry.value;
  }
}

/**
 * A creator's videos: the candidates of videos_by_creator (ordered by creator, so only the
 * creator's pairs are read) whose latest catalog row still names the creator and is not a
 * tombstone (FINAL by video_id: the index finds them). A video that moved to another creator
 * keeps its old pair there, which this check leaves out (migration 018). A condition on
 * `videos FINAL`.
 */
export const ownedBy = (db: Db, creatorId: string): SqlFragment =>
  sql`video_id IN (SELECT video_id FROM ${table(db, 'videosByCreator')} WHERE creator_id = ${v.string(creatorId)})
      AND creator_id = ${v.string(creatorId)} AND deleted = 0`;

/** Whether the catalog has at least one (not deleted) video of the creator. */
export async function creatorExists(db: Db, creatorId: string): Promise<boolean> {
  const r = await rows<{ n: string }>(
    db,
    sql`SELECT count() AS n FROM ${table(db, 'videos')} FINAL WHERE ${ownedBy(db, creatorId)}`,
  );
  return num(r[0]?.n) > 0;
}

/** The sub-query listing a creator's catalog videos, for `video_id IN (...)`. */
export const creatorVideoIds = (db: Db, creatorId: string): SqlFragment =>
  sql`(SELECT video_id FROM ${table(db, 'videos')} FINAL WHERE ${ownedBy(db, creatorId)})`;

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
