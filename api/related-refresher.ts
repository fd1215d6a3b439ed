// Keeps the materialized recommendations (schemas/clickhouse/013_related.sql) up to date: every
// few seconds, the videos whose co-view pairs changed since they were last scored (or were
// scored on an earlier day: the decay moves with the day) are scored again with the functions
// the routes used to run per request, and their best related videos written as one row; then
// the creators owning them, for "also watched". Writing is idempotent (a higher version
// replaces a row), so two refreshers, or one killed and restarted, only repeat work.
import { queryRows, type ClickHouseClient } from '../lib/clickhouse/client.js';
import { sql, v } from '../lib/clickhouse/sql.js';
import type { Logger } from '../lib/logger.js';
import { TABLES } from '../schemas/tables.js';
import type { Db } from './queries/db.js';
import { alsoWatchedCreators, relatedVideos, today } from './queries/recommendations.js';

/** How many related videos (creators) a row keeps: enough for the largest page after filtering. */
export const STORED_RELATED = 200;
/** Every co-viewed creator (up to the read limit): "also watched" re-sorts them by share or lift. */
export const STORED_CREATORS = 1000;

export interface RefresherOptions {
  intervalMs?: number;
  /** videos scored per round at most */
  batch?: number;
  /** the clock that decides the day scored (versions are always the wall clock's) */
  now?: () => number;
  logger?: Logger;
}

export class RelatedRefresher {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private readonly now: () => number;

  constructor(
    private readonly db: Db,
    private readonly options: RefresherOptions = {},
  ) {
    this.now = options.now ?? Date.now;
  }

  private get ch(): ClickHouseClient {
    return this.db.clickhouse;
  }

  /** One round: the videos due (at most `batch`), then their creators. */
  async refreshOnce(): Promise<{ videos: number; creators: number }> {
    const started = this.now();
    const day = today(started);
    // Versions are the wall clock at the start of the scoring, a second early: a change that
    // lands while we score (changed_at, the server's clock, has whole seconds) makes the video
    // due again.
    const version = Date.now() - 1000;
    const t = (k: keyof typeof TABLES) => v.table(this.db.database, TABLES[k]);
    const due = await queryRows<{ video_id: string }>(
      this.ch,
      sql`SELECT c.video_id AS video_id
          FROM (SELECT video_id, max(changed_at) AS changed FROM ${t('recommendationChanges')} GROUP BY video_id) AS c
          ANY LEFT JOIN (SELECT video_id, max(version) AS scored, argMax(as_of, version) AS as_of
                         FROM ${t('relatedVideos')} GROUP BY video_id) AS r USING video_id
          WHERE toUInt64(changed) * 1000 >= scored OR as_of != toDate(${v.string(day)})
          ORDER BY video_id
          LIMIT ${v.uint(this.options.batch ?? 500, 'UInt32')}`,
    );
    if (due.length === 0) return { videos: 0, creators: 0 };
    // A stopped round gives up between two scorings and writes nothing: its videos stay due.
    const rows = [];
    for (const { video_id } of due) {
      if (this.stopped) return { videos: 0, creators: 0 };
      const related = await relatedVideos(this.db, video_id, { limit: STORED_RELATED, asOf: day }, started);
      rows.push({
        video_id,
        as_of: day,
        version,
        related_ids: related.map((r) => r.video_id),
        scores: related.map((r) => r.score),
        supports: related.map((r) => r.support),
      });
    }
    // their owners (in chunks: a long IN list would pass the server's max_query_size)
    const owners = new Set<string>();
    for (let i = 0; i < due.length; i += 2000) {
      const chunk = due.slice(i, i + 2000).map((d) => d.video_id);
      const found = await queryRows<{ creator_id: string }>(
        this.ch,
        sql`SELECT argMax(creator_id, version) AS creator_id FROM ${t('videos')}
            WHERE video_id IN ${v.inList(chunk, 'String')} GROUP BY video_id`,
      );
      for (const r of found) if (r.creator_id !== '') owners.add(r.creator_id);
    }
    const creatorRows = [];
    for (const creator_id of owners) {
      if (this.stopped) return { videos: 0, creators: 0 };
      // one creator that cannot be scored (its route scores it live meanwhile) stops no other
      const also = await alsoWatchedCreators(this.db, creator_id, { limit: STORED_CREATORS, asOf: day }, started).catch(
        (err: Error) => {
          this.options.logger?.warn({ creator_id, err: err.message }, 'could not score also-watched creators');
          return undefined;
        },
      );
      if (!also) continue;
      creatorRows.push({
        creator_id,
        as_of: day,
        version,
        creator_ids: also.map((c) => c.creator_id),
        shares: also.map((c) => c.share),
        lifts: also.map((c) => c.lift),
        co_viewers: also.map((c) => c.co_viewers),
        supports: also.map((c) => c.support),
      });
    }
    // Creators first: the videos' rows are what marks them scored, so a crash between the two
    // inserts leaves the videos due, and the next round scores their creators again.
    if (creatorRows.length)
      await this.ch.insert({
        table: `${this.db.database}.${TABLES.relatedCreators}`,
        values: creatorRows,
        format: 'JSONEachRow',
      });
    await this.ch.insert({ table: `${this.db.database}.${TABLES.relatedVideos}`, values: rows, format: 'JSONEachRow' });
    return { videos: rows.length, creators: creatorRows.length };
  }

  /**
   * Rounds until stop(): back to back while videos are due, else every intervalMs. stop()
   * waits only for the query in flight, not for the round (hundreds of scorings on a large
   * co-view graph), so a processor's SIGTERM is not held up by it.
   */
  start(): void {
    const round = async (): Promise<void> => {
      let again = false;
      try {
        const r = await this.refreshOnce();
        again = r.videos >= (this.options.batch ?? 500);
        if (r.videos) this.options.logger?.debug(r, 'recommendations refreshed');
      } catch (err) {
        this.options.logger?.warn({ err: (err as Error).message }, 'could not refresh the recommendations');
      }
      if (this.stopped) return;
      this.timer = setTimeout(() => (this.running = round()), again ? 0 : (this.options.intervalMs ?? 5000));
    };
    this.running = round();
  }

  private stopped = false;

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }
}
