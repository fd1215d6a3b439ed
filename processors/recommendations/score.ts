// How recommendations are scored at read time, as a pure in-memory reference. The serving SQL
// (api/queries/recommendations.ts) computes exactly this from the uniqExact states in
// ClickHouse; unit tests run it over the observation rows the processor writes, and the
// integration tests check that the SQL agrees with it.
//
// Days. Every number is kept per UTC day, so any period is the merge of its days. A read
// looks at the `lookbackDays` days up to and including `asOf` and weights day d by the time
// decay w(d) = 0.5 ^ ((asOf − d) / halfLifeDays): yesterday's co-views count almost fully,
// those of `halfLifeDays` ago half.
//
// Related videos of video x, for each other video y co-viewed with it:
//   co(x, y)   = Σ_d w(d) · |viewers who co-viewed x and y on d|
//   n(v)       = Σ_d w(d) · |viewers with v in a co-view window on d|
//   score      = co(x, y) / sqrt(n(x) · n(y))        (cosine of the decayed viewer vectors)
//   support    = distinct viewers who co-viewed x and y in the period (no decay)
// A pair is shown only when support ≥ k (k ≥ 5: privacy — no pair that fewer than five people
// made can be seen, and it is the minimum support too). Ordered by score, then support, then id.
//
// Creators whose videos creator X's viewers also watch, for each other creator Y:
//   co(X, Y)   = Σ_d w(d) · |viewers who co-viewed a video of X with a video of Y on d|
//   share      = co(X, Y) / N(X)                     N(C) = Σ_d w(d) · |viewers of C's videos on d|
//   lift       = share / (N(Y) / N(all))             how much likelier than an average viewer
//   support    = distinct co-viewers of X and Y in the period ≥ k
// Ownership comes from the catalog at read time, never from what was written.
import {
  dayNumber,
  decayWeight,
  validateReadOptions,
  type ReadOptions,
  type RelatedCreator,
  type RelatedVideo,
} from '../semantics.js';
import type { PairObservation, VideoObservation } from './coview.js';

type DaySets = Map<number, Set<string>>;

const addTo = <K>(m: Map<K, DaySets>, key: K, day: number, viewer: string): void => {
  let days = m.get(key);
  if (!days) m.set(key, (days = new Map()));
  let s = days.get(day);
  if (!s) days.set(day, (s = new Set()));
  s.add(viewer);
};

/**
 * The co-view graph as ClickHouse holds it — distinct viewers per (day, video, related) in both
 * directions, per (day, video), per day — built from observation rows.
 */
export class CoviewIndex {
  readonly pairs = new Map<string, Map<string, DaySets>>();
  readonly videos = new Map<string, DaySets>();
  readonly viewers: DaySets = new Map();

  static from(pairs: Iterable<PairObservation>, videos: Iterable<VideoObservation>): CoviewIndex {
    const index = new CoviewIndex();
    for (const p of pairs) {
      const day = dayNumber(p.day);
      for (const [x, y] of [
        [p.video_a, p.video_b],
        [p.video_b, p.video_a],
      ] as const) {
        let related = index.pairs.get(x);
        if (!related) index.pairs.set(x, (related = new Map()));
        addTo(related, y, day, p.viewer_id);
      }
    }
    for (const v of videos) {
      const day = dayNumber(v.day);
      addTo(index.videos, v.video_id, day, v.viewer_id);
      let s = index.viewers.get(day);
      if (!s) index.viewers.set(day, (s = new Set()));
      s.add(v.viewer_id);
    }
    return index;
  }

  /** Distinct viewers of a video in the period (no decay). */
  videoViewers(videoId: string, o: Pick<ReadOptions, 'asOf' | 'lookbackDays'>): number {
    const all = new Set<string>();
    for (const [, s] of this.inRange(this.videos.get(videoId), o)) for (const v of s) all.add(v);
    return all.size;
  }

  related(videoId: string, o: ReadOptions, exclude: (videoId: string) => boolean = () => false): RelatedVideo[] {
    validateReadOptions(o);
    const asOf = dayNumber(o.asOf);
    const nx = this.weighted(this.videos.get(videoId), o);
    const out: RelatedVideo[] = [];
    for (const [y, days] of this.pairs.get(videoId) ?? []) {
      if (y === videoId || exclude(y)) continue;
      let co = 0;
      const everyone = new Set<string>();
      for (const [d, s] of this.inRange(days, o)) {
        co += decayWeight(asOf - d, o.halfLifeDays) * s.size;
        for (const v of s) everyone.add(v);
      }
      if (everyone.size < o.minViewers) continue;
      const ny = this.weighted(this.videos.get(y), o);
      out.push({ video_id: y, score: co / Math.sqrt(nx * ny), support: everyone.size });
    }
    return out.sort(byScore).slice(0, o.limit);
  }

  /** Other creators co-viewed with `creatorId`'s videos; `creatorOf` is the catalog. */
  alsoWatched(
    creatorId: string,
    creatorOf: (videoId: string) => string | undefined,
    o: ReadOptions,
    sort: 'share' | 'lift' = 'share',
  ): RelatedCreator[] {
    validateReadOptions(o);
    const asOf = dayNumber(o.asOf);
    const w = (d: number): number => decayWeight(asOf - d, o.halfLifeDays);
    // per creator: day → distinct viewers of its videos
    const creatorDays = new Map<string, Map<number, Set<string>>>();
    for (const [video, days] of this.videos) {
      const c = creatorOf(video);
      if (!c) continue;
      for (const [d, s] of this.inRange(days, o)) for (const v of s) addTo(creatorDays, c, d, v);
    }
    const weightedOf = (c: string): number => {
      let n = 0;
      for (const [d, s] of creatorDays.get(c) ?? []) n += w(d) * s.size;
      return n;
    };
    let total = 0;
    for (const [d, s] of this.inRange(this.viewers, o)) total += w(d) * s.size;
    // other creator → day → distinct co-viewers
    const co = new Map<string, Map<number, Set<string>>>();
    for (const [video, related] of this.pairs) {
      if (creatorOf(video) !== creatorId) continue;
      for (const [y, days] of related) {
        const c = creatorOf(y);
        if (!c || c === creatorId) continue;
        for (const [d, s] of this.inRange(days, o)) for (const v of s) addTo(co, c, d, v);
      }
    }
    const nx = weightedOf(creatorId);
    const out: RelatedCreator[] = [];
    for (const [c, days] of co) {
      let cw = 0;
      const everyone = new Set<string>();
      for (const [d, s] of days) {
        cw += w(d) * s.size;
        for (const v of s) everyone.add(v);
      }
      if (everyone.size < o.minViewers) continue;
      const share = cw / nx;
      out.push({ creator_id: c, share, lift: share / (weightedOf(c) / total), support: everyone.size });
    }
    const key = sort === 'lift' ? 'lift' : 'share';
    out.sort(
      (a, b) =>
        b[key] - a[key] ||
        b.support - a.support ||
        (a.creator_id < b.creator_id ? -1 : a.creator_id > b.creator_id ? 1 : 0),
    );
    return out.slice(0, o.limit);
  }

  private *inRange(
    days: DaySets | undefined,
    o: Pick<ReadOptions, 'asOf' | 'lookbackDays'>,
  ): IterableIterator<[number, Set<string>]> {
    if (!days) return;
    const last = dayNumber(o.asOf);
    const first = last - o.lookbackDays + 1;
    for (const [d, s] of days) if (d >= first && d <= last) yield [d, s];
  }

  private weighted(days: DaySets | undefined, o: ReadOptions): number {
    const asOf = dayNumber(o.asOf);
    let n = 0;
    for (const [d, s] of this.inRange(days, o)) n += decayWeight(asOf - d, o.halfLifeDays) * s.size;
    return n;
  }
}

const byScore = (a: RelatedVideo, b: RelatedVideo): number =>
  b.score - a.score || b.support - a.support || (a.video_id < b.video_id ? -1 : a.video_id > b.video_id ? 1 : 0);
