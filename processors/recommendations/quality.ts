// How good the recommendations are on traffic with planted taste clusters (generator/): the
// one definition the benchmark and the integration test share.
//
// recall@10 of a video v with cluster C(v):
//   hits(v)      = |top-10 recommendations of v ∩ (C(v) \ {v})|
//   recall@10(v) = hits(v) / min(10, |C(v) \ {v}|)
// i.e. the share of the best possible hits that the top 10 achieves. Fewer than 10
// recommendations (the k-viewer threshold hides the rest) count as misses. The figure is the
// mean over the ELIGIBLE videos: those with at least `minViewers` distinct viewers in the
// period read (state the threshold with the figure).
//
// The baseline recommends the same to everyone: the 10 most popular videos (most distinct
// viewers in the same period), v itself left out — scored the same way.

export interface RecallInput {
  /** The videos scored. */
  eligible: readonly string[];
  /** video → its recommendations, best first. */
  recommendations: (videoId: string) => readonly string[];
  clusterOf: (videoId: string) => number | undefined;
  /** cluster → how many videos it has */
  clusterSizes: ReadonlyMap<number, number>;
  k?: number;
}

export interface RecallResult {
  recall: number;
  videos: number;
  /** mean number of recommendations available (≤ k) */
  meanShown: number;
}

export function recallAtK(input: RecallInput): RecallResult {
  const k = input.k ?? 10;
  let sum = 0;
  let shown = 0;
  let n = 0;
  for (const v of input.eligible) {
    const c = input.clusterOf(v);
    if (c === undefined) continue;
    const others = (input.clusterSizes.get(c) ?? 1) - 1;
    if (others <= 0) continue;
    const top = input.recommendations(v).slice(0, k);
    const hits = top.filter((x) => x !== v && input.clusterOf(x) === c).length;
    sum += hits / Math.min(k, others);
    shown += top.length;
    n++;
  }
  return { recall: n ? sum / n : 0, videos: n, meanShown: n ? shown / n : 0 };
}

/** The "most popular videos" baseline: the k most popular videos other than v. */
export function popularBaseline(byPopularity: readonly string[], k = 10): (videoId: string) => string[] {
  const head = byPopularity.slice(0, k + 1);
  return (v) => head.filter((x) => x !== v).slice(0, k);
}

/** cluster → number of videos, from video → cluster. */
export function clusterSizes(clusters: Record<string, number>): Map<number, number> {
  const out = new Map<number, number>();
  for (const c of Object.values(clusters)) out.set(c, (out.get(c) ?? 0) + 1);
  return out;
}
