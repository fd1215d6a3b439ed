// Shared by the recommendations tests and `npm run bench:recommendations`:
//  - the quality evaluation on ClickHouse: recall@10 of same-cluster videos (the definition is
//    in processors/recommendations/quality.ts) for the videos with at least
//    MIN_VIEWERS_FOR_RECALL distinct viewers, next to the "most popular videos" baseline;
//  - waiting for the processor by its checkpoints in ClickHouse (what a restart trusts; a
//    Kafka commit can lag behind a checkpoint when a process is killed between the two).
import { relatedVideos, videoAudiences, type ReadParams } from '../api/queries/recommendations.js';
import type { Db } from '../api/queries/db.js';
import { queryRows } from '../lib/clickhouse/client.js';
import { sql, v } from '../lib/clickhouse/sql.js';
import { NAME } from '../processors/recommendations/processor.js';
import { TABLES } from '../schemas/tables.js';
import { clusterSizes, popularBaseline, recallAtK } from '../processors/recommendations/quality.js';

/** "Enough views": a video is scored when at least this many distinct viewers had it in a co-view window. */
export const MIN_VIEWERS_FOR_RECALL = 30;

export interface Quality {
  recall_at_10: number;
  baseline_recall_at_10: number;
  /** recall_at_10 / baseline_recall_at_10 */
  ratio: number;
  eligible_videos: number;
  min_viewers_for_eligibility: number;
  /** mean recommendations shown per eligible video (≤ 10; fewer pass the k threshold) */
  mean_recommendations_shown: number;
  /** median time of one related-videos query while evaluating, ms */
  query_ms_p50: number;
  as_of: string;
}

export async function evaluateQuality(
  db: Db,
  clusters: Record<string, number>,
  read: ReadParams & { asOf: string },
  minViewers = MIN_VIEWERS_FOR_RECALL,
): Promise<Quality> {
  const audiences = await videoAudiences(db, read);
  const eligible = audiences.filter((a) => a.viewers >= minViewers).map((a) => a.video_id);
  const recs = new Map<string, string[]>();
  const times: number[] = [];
  for (const id of eligible) {
    const t0 = performance.now();
    const related = await relatedVideos(db, id, { ...read, limit: 10 });
    times.push(performance.now() - t0);
    recs.set(
      id,
      related.map((r) => r.video_id),
    );
  }
  const common = { eligible, clusterOf: (v: string) => clusters[v], clusterSizes: clusterSizes(clusters) };
  const ours = recallAtK({ ...common, recommendations: (v) => recs.get(v) ?? [] });
  const baseline = recallAtK({ ...common, recommendations: popularBaseline(audiences.map((a) => a.video_id)) });
  times.sort((a, b) => a - b);
  return {
    recall_at_10: ours.recall,
    baseline_recall_at_10: baseline.recall,
    ratio: baseline.recall > 0 ? ours.recall / baseline.recall : Number.POSITIVE_INFINITY,
    eligible_videos: ours.videos,
    min_viewers_for_eligibility: minViewers,
    mean_recommendations_shown: ours.meanShown,
    query_ms_p50: times.length ? times[Math.floor(times.length / 2)]! : 0,
    as_of: read.asOf,
  };
}

/** Records covered by the processor's checkpoints (per partition: last offset covered + 1), summed. */
export async function checkpointed(db: Db): Promise<number> {
  const rows = await queryRows<{ n: string }>(
    db.clickhouse,
    sql`SELECT max(kafka_offset) + 1 AS n FROM ${v.table(db.database, TABLES.checkpoints)}
        WHERE processor = ${v.string(NAME)} GROUP BY kafka_partition`,
  );
  return rows.reduce((n, r) => n + Number(r.n), 0);
}

/** Waits until the checkpoints cover `total` records. */
export async function waitForCheckpoints(db: Db, total: number, timeoutMs = 400_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await checkpointed(db)) < total) {
    if (Date.now() > deadline) throw new Error(`checkpoints in ${db.database} did not reach ${total} records`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
