// Shared by the recommendations tests and `npm run bench:recommendations`:
//  - the quality evaluation on ClickHouse: recall@10 of same-cluster videos (the definition is
//    in processors/recommendations/quality.ts) for the videos with at least
//    MIN_VIEWERS_FOR_RECALL distinct viewers, next to the "most popular videos" baseline;
//  (waiting for the processor by its group's committed offsets: lib/kafka/topics-admin.ts).
import { relatedVideos, videoAudiences, type ReadParams } from '../api/queries/recommendations.js';
import type { Db } from '../api/queries/db.js';
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
