// The synthetic catalog: creators, each with a home taste cluster, and their videos.
//
// - Durations are log-normal: 10 % short clips (median 30 s, 5..60 s, so the "shorter than
//   30 s" view threshold happens) and long-form videos (median 7 min, 1 min..2 h).
// - Popularity is Zipf: a random permutation gives every video a global rank r, and its
//   weight is 1 / r^s (s = `zipf`, default 1). Viewers pick within their cluster with the
//   same weights, so each cluster has its own head and tail.
// - A video's cluster is its creator's (95 %) or another one (creators stray a little).
// Ids carry the seed (`s42-v00017`), so runs with different seeds never overwrite each
// other's catalog entries in the compacted topic.
import type { Video } from '../schemas/types.js';
import { clamp, Rng, WeightedTable, zipfWeight } from './rng.js';
import type { CatalogLookup } from './truth.js';

export const CLUSTER_NAMES = [
  'gaming',
  'music',
  'cooking',
  'science',
  'sports',
  'travel',
  'comedy',
  'tech',
  'fitness',
  'film',
  'news',
  'education',
  'fashion',
  'diy',
  'animals',
  'finance',
] as const;

const TOPICS: Record<string, readonly string[]> = {
  gaming: ['Speedrun', 'Boss Fight', 'Let’s Play', 'Patch Notes', 'Tier List'],
  music: ['Live Session', 'Cover', 'Music Video', 'Studio Vlog', 'Chord Breakdown'],
  cooking: ['Sourdough', 'Ramen', 'Meal Prep', 'Knife Skills', 'Street Food'],
  science: ['Black Holes', 'CRISPR', 'Quantum Basics', 'Lab Tour', 'Rocket Engines'],
  sports: ['Highlights', 'Tactics Board', 'Training Day', 'Post-match', 'Top 10 Goals'],
  travel: ['Hidden Beaches', 'Night Train', 'City Guide', 'Van Life', 'Mountain Hut'],
  comedy: ['Sketch', 'Stand-up Set', 'Prank', 'Parody', 'Bloopers'],
  tech: ['Unboxing', 'Benchmark', 'Teardown', 'Home Lab', 'Keyboard Build'],
  fitness: ['HIIT', 'Mobility', 'Marathon Prep', 'Yoga Flow', 'Leg Day'],
  film: ['Trailer Breakdown', 'Director Interview', 'Short Film', 'Scene Analysis', 'Review'],
  news: ['Morning Brief', 'Explainer', 'Interview', 'Live Report', 'Fact Check'],
  education: ['Calculus', 'World History', 'Grammar', 'Chemistry', 'Study Tips'],
  fashion: ['Lookbook', 'Thrift Haul', 'Runway Recap', 'Capsule Wardrobe', 'Styling Tips'],
  diy: ['Woodworking', 'Home Repair', 'Upcycling', '3D Printing', 'Garden Build'],
  animals: ['Rescue Story', 'Cat Compilation', 'Safari', 'Dog Training', 'Aquarium Setup'],
  finance: ['Budgeting', 'Index Funds', 'Market Recap', 'Tax Basics', 'Side Hustles'],
};
const ADJECTIVES = ['Ultimate', 'Quick', 'Honest', 'Complete', 'Beginner’s', 'Advanced', 'Weekly', 'Unexpected'];

export interface CatalogOptions {
  seed: number;
  videos: number;
  creators: number;
  clusters: number;
  /** Zipf exponent of video popularity. */
  zipf: number;
  /** Every video is published before this time (epoch ms). */
  publishedBefore: number;
}

export interface Creator {
  creator_id: string;
  cluster: number;
}

export interface CatalogVideo {
  video: Video;
  index: number;
  cluster: number;
  /** Global popularity rank, 1 = most popular. */
  rank: number;
}

export interface GeneratedCatalog {
  tag: string;
  clusterNames: string[];
  creators: Creator[];
  videos: CatalogVideo[];
  byId: Map<string, CatalogVideo>;
  /** Pick any video by global popularity. */
  global: WeightedTable<CatalogVideo>;
  /** Pick a video of cluster c by popularity. */
  byCluster: Array<WeightedTable<CatalogVideo>>;
  lookup: CatalogLookup;
}

/** The id prefix of a run: `s42`. */
export const idTag = (seed: number): string => `s${seed}`;

export function clusterName(c: number): string {
  return CLUSTER_NAMES[c] ?? `cluster-${c + 1}`;
}

/** Log-normal durations: 10 % short clips, the rest long-form. */
export function sampleDurationMs(rng: Rng): number {
  if (rng.chance(0.1)) return Math.round(clamp(rng.lognormal(30_000, 0.45), 5_000, 60_000));
  return Math.round(clamp(rng.lognormal(420_000, 0.8), 61_000, 7_200_000));
}

export function validateCatalogOptions(o: CatalogOptions): void {
  const int = (name: string, v: number, min: number, max: number): void => {
    if (!Number.isInteger(v) || v < min || v > max)
      throw new RangeError(`${name} must be an integer in ${min}..${max}`);
  };
  int('clusters', o.clusters, 1, 1000);
  int('creators', o.creators, o.clusters, 100_000);
  int('videos', o.videos, o.creators, 1_000_000);
  if (!(o.zipf >= 0 && o.zipf <= 5)) throw new RangeError('zipf must be in 0..5');
}

export function buildCatalog(o: CatalogOptions): GeneratedCatalog {
  validateCatalogOptions(o);
  const rng = Rng.for(o.seed, 'catalog');
  const tag = idTag(o.seed);
  const clusterNames = Array.from({ length: o.clusters }, (_, c) => clusterName(c));

  const creators: Creator[] = [];
  const productivity: number[] = [];
  for (let i = 0; i < o.creators; i++) {
    creators.push({ creator_id: `${tag}-c${String(i + 1).padStart(4, '0')}`, cluster: i % o.clusters });
    productivity.push(rng.lognormal(1, 0.8));
  }
  const creatorTable = new WeightedTable(creators, productivity);

  const ranks = rng.shuffle(Array.from({ length: o.videos }, (_, i) => i + 1));
  const videos: CatalogVideo[] = [];
  for (let i = 0; i < o.videos; i++) {
    // Every creator gets at least one video, then the prolific ones get more.
    const creator = i < creators.length ? creators[i]! : creatorTable.pick(rng);
    // A creator's first video is always on its home cluster, so no cluster is empty.
    const cluster =
      i >= creators.length && o.clusters > 1 && rng.chance(0.05)
        ? (creator.cluster + 1 + rng.int(o.clusters - 1)) % o.clusters
        : creator.cluster;
    const name = clusterNames[cluster]!;
    const topics = TOPICS[name] ?? ['Episode', 'Special', 'Highlights'];
    const title = `${rng.pick(ADJECTIVES)} ${rng.pick(topics)} #${i + 1}`;
    const ageMs = clamp(rng.lognormal(45 * 86_400_000, 1.2), 3_600_000, 3 * 365 * 86_400_000);
    videos.push({
      index: i,
      cluster,
      rank: ranks[i]!,
      video: {
        video_id: `${tag}-v${String(i + 1).padStart(5, '0')}`,
        creator_id: creator.creator_id,
        title,
        duration_ms: sampleDurationMs(rng),
        published_at: Math.round(o.publishedBefore - ageMs),
        category: name,
      },
    });
  }

  const weightOf = (v: CatalogVideo): number => zipfWeight(v.rank, o.zipf);
  const byCluster = clusterNames.map((_, c) => {
    const members = videos.filter((v) => v.cluster === c);
    return new WeightedTable(members, members.map(weightOf));
  });
  const byId = new Map(videos.map((v) => [v.video.video_id, v]));
  return {
    tag,
    clusterNames,
    creators,
    videos,
    byId,
    global: new WeightedTable(videos, videos.map(weightOf)),
    byCluster,
    lookup: (id) => {
      const v = byId.get(id);
      return v ? { duration_ms: v.video.duration_ms, creator_id: v.video.creator_id } : undefined;
    },
  };
}
