// The rules of docs/semantics.md for one playback session, as functions of its whole event
// list in session order (event time, then event_id): the plain statement of each rule, which
// the running aggregates the processors keep (aggregate.ts) are tested against, and the
// constants and small helpers both share. The view threshold is a rule parameter
// (processors/parameters.ts), passed in. Pure: no I/O, no clocks.
import { MINUTE } from '../../lib/time.js';
import type { EventType } from '../../schemas/types.js';

/** What a session needs to remember of one event. */
export interface CompactEvent {
  id: string;
  t: number;
  type: EventType;
  pos: number;
  watched: number;
  seekFrom: number | null;
}

export const RETENTION_BUCKETS = 101;

const before = (a: CompactEvent, b: CompactEvent): boolean => a.t < b.t || (a.t === b.t && a.id < b.id);

/** Session order: event time, ties by event_id. */
export function insertSorted(events: CompactEvent[], e: CompactEvent): boolean {
  let lo = 0;
  let hi = events.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (before(events[mid]!, e)) lo = mid + 1;
    else hi = mid;
  }
  if (events[lo]?.id === e.id) return false;
  // An equal id can also sit elsewhere if a duplicate carried another time: check all.
  if (events.some((x) => x.id === e.id)) return false;
  events.splice(lo, 0, e);
  return true;
}

/** Watch-time contribution of each event: the first 0, then min(watched, gap since previous). */
export function contributions(events: readonly CompactEvent[]): number[] {
  return events.map((e, i) => (i === 0 ? 0 : Math.max(0, Math.min(e.watched, e.t - events[i - 1]!.t))));
}

/**
 * The view threshold of a video: min(rule, video length); the rule's `viewThresholdMs`
 * (30 s by default) when the length is unknown.
 */
export const viewThreshold = (durationMs: number, viewThresholdMs: number): number =>
  durationMs > 0 ? Math.min(viewThresholdMs, durationMs) : viewThresholdMs;

/**
 * The time the session qualifies as a view: the first event at which the running watch time
 * reaches the threshold, or the first `complete`, whichever comes first. null if neither.
 */
export function qualifyingTime(
  events: readonly CompactEvent[],
  contribs: readonly number[],
  durationMs: number,
  viewThresholdMs: number,
): number | null {
  const threshold = viewThreshold(durationMs, viewThresholdMs);
  let sum = 0;
  for (let i = 0; i < events.length; i++) {
    sum += contribs[i]!;
    if (sum >= threshold || events[i]!.type === 'complete') return events[i]!.t;
  }
  return null;
}

/** Percent bucket of a playhead position: min(100, floor(100 x / duration)), at least 0. */
export const bucketOf = (positionMs: number, durationMs: number): number =>
  Math.max(0, Math.min(100, Math.floor((100 * positionMs) / durationMs)));

/**
 * Which of the 101 retention buckets the session watched: for each event with a
 * contribution c > 0 the segment [end - c, end], where end is seek_from for a seek (the
 * watching happened before the jump) and the position otherwise.
 */
export function coveredBuckets(
  events: readonly CompactEvent[],
  contribs: readonly number[],
  durationMs: number,
): Uint8Array {
  const covered = new Uint8Array(RETENTION_BUCKETS);
  if (durationMs <= 0) return covered;
  events.forEach((e, i) => {
    const c = contribs[i]!;
    if (c <= 0) return;
    const end = e.type === 'seek' && e.seekFrom !== null ? e.seekFrom : e.pos;
    const from = bucketOf(end - c, durationMs);
    const to = bucketOf(end, durationMs);
    for (let b = from; b <= to; b++) covered[b] = 1;
  });
  return covered;
}

/** A session "left after a stall" when its last event comes this soon after a rebuffer_end. */
export const STALL_EXIT_WINDOW_MS = 10_000;

/**
 * Whether the session left right after a stall (docs/semantics.md, "Left after a stall"): its
 * last event is not `complete`, and either a `rebuffer_start` has no later `rebuffer_end` (it
 * ended stalled) or the last event is at most 10 s of event time after the last `rebuffer_end`.
 */
export function leftAfterStall(events: readonly CompactEvent[]): boolean {
  const last = events[events.length - 1];
  if (!last || last.type === 'complete') return false;
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i]!;
    if (e.type === 'rebuffer_start') return true;
    if (e.type === 'rebuffer_end') return last.t - e.t <= STALL_EXIT_WINDOW_MS;
  }
  return false;
}

/** Exit point: the last event's position as a percent bucket (bucketOf); -1 without a duration. */
export function exitPercent(events: readonly CompactEvent[], durationMs: number): number {
  const last = events[events.length - 1];
  return last && durationMs > 0 ? bucketOf(last.pos, durationMs) : -1;
}

export const minuteOf = (t: number): number => Math.floor(t / MINUTE) * MINUTE;

/** Everything the counts need from one session. */
export interface SessionTotals {
  /** minute start → plays (play_start events) in that minute */
  plays: Map<number, number>;
  /** minute start → watch time contributed in that minute */
  watch: Map<number, number>;
  watchMs: number;
  /** Candidate view time, or null while the session has not qualified. */
  candidate: number | null;
}

export function totals(events: readonly CompactEvent[], durationMs: number, viewThresholdMs: number): SessionTotals {
  const contribs = contributions(events);
  const plays = new Map<number, number>();
  const watch = new Map<number, number>();
  let watchMs = 0;
  events.forEach((e, i) => {
    const m = minuteOf(e.t);
    if (e.type === 'play_start') plays.set(m, (plays.get(m) ?? 0) + 1);
    const c = contribs[i]!;
    if (c > 0) {
      watch.set(m, (watch.get(m) ?? 0) + c);
      watchMs += c;
    }
  });
  return { plays, watch, watchMs, candidate: qualifyingTime(events, contribs, durationMs, viewThresholdMs) };
}
