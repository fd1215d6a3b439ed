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

/**
 * A creator's videos: the candidates of videos_by_creator (ordered by creator, so only the
 * creator's pairs are read) whose latest catalog row still names the creator and is not a
 * tombstone (FINAL by video_id: the index finds them). A video that moved to another creator
 * keeps its old pair there, which this check leaves out (migration 018).
 */
const ownedBy = (db: Db, creatorId: string): SqlFragment =>
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
