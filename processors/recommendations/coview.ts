// Co-view windows: one viewer's session windows over qualified views, and the pairs they
// imply. Pure functions on small values; the recommendations processor keeps the state.
//
// A co-view window is a maximal run of one viewer's qualified views in which consecutive
// views are less than `gapMs` apart (SessionWindows with an inactivity gap, default 30 min).
// Its *videos* are the distinct videos viewed in it, each at its earliest view time, ordered
// by (time, video_id); only the first `cap` of them (default 20) take part, so a binge of
// hundreds of videos makes at most cap·(cap−1)/2 pairs. Views beyond the cap still extend
// the window (the viewer is still active), they just form no pairs.
//
// What a closed window contributes (docs/semantics.md, "Recommendations"):
//   - for each of its videos v at time t:             (day(t), v, viewer)
//   - for each two of its videos a < b (string order), at times ta, tb:
//                                                      (day(max(ta, tb)), a, b, viewer)
// ClickHouse folds these into distinct-viewer sets per day, so a viewer counts a pair at most
// once per day, however many windows (or replays) repeat it.
import { maxOf, minOf } from '../../lib/arrays.js';
import { SessionWindows } from '../windows.js';
import { DAY } from '../../lib/time.js';

export interface CoviewWindow {
  /** Earliest view time in the window (any view, kept or not). */
  first: number;
  /** Latest view time in the window. */
  last: number;
  /** Distinct videos at their earliest view time, ordered by (time, video id); at most `cap`. */
  videos: [videoId: string, t: number][];
}

export interface PairObservation {
  day: string;
  video_a: string;
  video_b: string;
  viewer_id: string;
}

export interface VideoObservation {
  day: string;
  video_id: string;
  viewer_id: string;
}

const before = (a: readonly [string, number], b: readonly [string, number]): number =>
  a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

/** The first `cap` distinct videos of a list of (video, time): earliest time per video, then by (time, id). */
export function firstDistinct(views: Iterable<readonly [string, number]>, cap: number): [string, number][] {
  const earliest = new Map<string, number>();
  for (const [id, t] of views) {
    const prev = earliest.get(id);
    if (prev === undefined || t < prev) earliest.set(id, t);
  }
  return [...earliest].sort(before).slice(0, cap);
}

/**
 * Adds a view to a viewer's open windows (sorted by `first`, disjoint) and returns the new
 * list. The view joins every window it is within `gap` of — it may bridge two, which then
 * merge. The first `cap` distinct videos of a merge are among the first `cap` of its parts,
 * so keeping only those per window loses nothing.
 */
export function addView(
  windows: readonly CoviewWindow[],
  videoId: string,
  t: number,
  session: SessionWindows,
  cap: number,
): CoviewWindow[] {
  const joined: CoviewWindow[] = [];
  const rest: CoviewWindow[] = [];
  for (const w of windows) (session.joins(t, w.first, w.last) ? joined : rest).push(w);
  const merged: CoviewWindow = {
    first: Math.min(t, minOf(joined.map((w) => w.first))),
    last: Math.max(t, maxOf(joined.map((w) => w.last))),
    videos: firstDistinct([[videoId, t], ...joined.flatMap((w) => w.videos)], cap),
  };
  const out = [...rest, merged];
  out.sort((a, b) => a.first - b.first);
  return out;
}

const dayCache = new Map<number, string>();

/** The UTC calendar day of an epoch-ms instant, as YYYY-MM-DD. */
export function dayOf(t: number): string {
  const n = Math.floor(t / DAY);
  let s = dayCache.get(n);
  if (s === undefined) {
    s = new Date(n * DAY).toISOString().slice(0, 10);
    if (dayCache.size > 10_000) dayCache.clear();
    dayCache.set(n, s);
  }
  return s;
}

/** What one closed window of one viewer contributes: its videos and its pairs (a < b). */
export function windowObservations(
  viewerId: string,
  w: CoviewWindow,
): { videos: VideoObservation[]; pairs: PairObservation[] } {
  const videos = w.videos.map(([id, t]) => ({ day: dayOf(t), video_id: id, viewer_id: viewerId }));
  const pairs: PairObservation[] = [];
  for (let i = 0; i < w.videos.length; i++) {
    for (let j = i + 1; j < w.videos.length; j++) {
      const [x, tx] = w.videos[i]!;
      const [y, ty] = w.videos[j]!;
      const [a, b] = x < y ? [x, y] : [y, x];
      pairs.push({ day: dayOf(Math.max(tx, ty)), video_a: a, video_b: b, viewer_id: viewerId });
    }
  }
  return { videos, pairs };
}
