// The processors' view of the catalog: video → creator and length, read from the `videos`
// table that the catalog loader keeps. Lookups are synchronous (processors are pure); the
// runtime calls `ensure()` with a batch's video ids before processing it, so one query
// fetches whatever is missing.
import type { VideoInfo } from '../processors/playback/state.js';
import type { VideoLookup } from '../processors/contract.js';
import { TABLES } from '../schemas/tables.js';
import { queryRows, type ClickHouseClient } from '../lib/clickhouse/client.js';
import { sql, v } from '../lib/clickhouse/sql.js';

interface Row {
  video_id: string;
  creator_id: string;
  duration_ms: string | number;
}

export class CatalogCache implements VideoLookup {
  private readonly known = new Map<string, VideoInfo>();
  /** Unknown ids and when they were last looked up, so a miss is not asked again at once. */
  private readonly missing = new Map<string, number>();

  constructor(
    private readonly ch: ClickHouseClient,
    private readonly database: string,
    private readonly missTtlMs = 5_000,
    private readonly now: () => number = Date.now,
  ) {}

  get(videoId: string): VideoInfo | undefined {
    return this.known.get(videoId);
  }

  get size(): number {
    return this.known.size;
  }

  async loadAll(): Promise<void> {
    this.add(await queryRows<Row>(this.ch, this.query(null)));
  }

  async ensure(videoIds: Iterable<string>): Promise<void> {
    const t = this.now();
    const ask = [...new Set(videoIds)].filter(
      (id) => !this.known.has(id) && t - (this.missing.get(id) ?? -Infinity) > this.missTtlMs,
    );
    if (ask.length === 0) return;
    for (const id of ask) this.missing.set(id, t);
    this.add(await queryRows<Row>(this.ch, this.query(ask)));
  }

  private query(ids: string[] | null) {
    const where = ids ? sql`AND video_id IN ${v.inList(ids, 'String')}` : sql``;
    return sql`SELECT video_id, argMax(creator_id, version) AS creator_id, argMax(duration_ms, version) AS duration_ms
               FROM ${v.table(this.database, TABLES.videos)}
               WHERE 1 ${where}
               GROUP BY video_id HAVING argMax(deleted, version) = 0`;
  }

  private add(rows: Row[]): void {
    for (const r of rows) {
      this.known.set(r.video_id, { creatorId: r.creator_id, durationMs: Number(r.duration_ms) });
      this.missing.delete(r.video_id);
    }
  }
}
