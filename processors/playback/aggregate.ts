// One playback session as running aggregates: O(1) amortized work per event and bounded
// memory, with the same numbers as the list functions of session.ts (docs/semantics.md),
// whatever the arrival order within the allowed lateness.
//
// Why this is exact. An event's watch-time contribution depends only on its predecessor in
// session order (event time, then event_id), and its watched segment on its own position and
// contribution. Inserting an event therefore changes two contributions: its own and its
// successor's. The session keeps
//   - a *tail*: its events of the last `latenessMs` of the partition's watermark, individually,
//     in session order, each with its contribution;
//   - a *folded prefix*: everything older, as sums (watch time, covered percent buckets) and its
//     last event (the anchor, the predecessor of the first tail event).
// An event arriving in order is appended (O(1)); one arriving out of order lands in the tail,
// whose sums are recomputed from the folded prefix (O(tail), and out-of-order events are rare).
// An event that would sort before the anchor cannot be placed any more: it is refused
// (`folded`), and the processors record it as a late event set aside. docs/semantics.md,
// "Allowed lateness", states the rule.
import type { EventType } from '../../schemas/types.js';
import { viewThreshold, bucketOf, minuteOf, STALL_EXIT_WINDOW_MS, type CompactEvent } from './session.js';

/** Minute → change of plays and watch time that one applied event caused. */
export interface MinuteDelta {
  minute: number;
  plays: number;
  watchMs: number;
}

interface TailEvent extends CompactEvent {
  /** Watch-time contribution: 0 for the first event of the session, else min(watched, gap). */
  c: number;
}

/** The 101 retention buckets as four 31-bit words (small integers in V8). */
export type Buckets = [number, number, number, number];

const emptyBuckets = (): Buckets => [0, 0, 0, 0];

function setRange(bits: Buckets, from: number, to: number): void {
  for (let b = from; b <= to; b++) bits[(b / 31) | 0]! |= 1 << (b % 31);
}

/** Indexes (0..100) of the set buckets, ascending. */
export function bucketList(bits: Buckets): number[] {
  const out: number[] = [];
  for (let b = 0; b <= 100; b++) if (bits[(b / 31) | 0]! & (1 << (b % 31))) out.push(b);
  return out;
}

const before = (a: { t: number; id: string }, b: { t: number; id: string }): boolean =>
  a.t < b.t || (a.t === b.t && a.id < b.id);

const contribution = (e: CompactEvent, prev: CompactEvent | null): number =>
  prev === null ? 0 : Math.max(0, Math.min(e.watched, e.t - prev.t));

/** The watched segment's end: seek_from for a seek (watching happened before the jump), else the position. */
const segmentEnd = (e: CompactEvent): number => (e.type === 'seek' && e.seekFrom !== null ? e.seekFrom : e.pos);

function cover(bits: Buckets, e: TailEvent, durationMs: number): void {
  if (e.c <= 0 || durationMs <= 0) return;
  const end = segmentEnd(e);
  setRange(bits, bucketOf(end - e.c, durationMs), bucketOf(end, durationMs));
}

export type AddResult = 'applied' | 'duplicate' | 'folded';

/** An event as a saved aggregate holds it: positional, [id, t, type, pos, watched, seekFrom]. */
type SavedEvent = [string, number, EventType, number, number, number | null];
/** ...and a tail event, with its watch-time contribution last. */
type SavedTailEvent = [string, number, EventType, number, number, number | null, number];

const savedEvent = (e: CompactEvent | null): SavedEvent | null =>
  e && [e.id, e.t, e.type, e.pos, e.watched, e.seekFrom];

/** A saved event back as an object; one saved by earlier versions is an object already. */
function restoredEvent(saved: SavedEvent | CompactEvent): CompactEvent {
  const e = Array.isArray(saved) ? saved : savedEvent(saved)!;
  return { id: e[0], t: e[1], type: e[2], pos: e[3], watched: e[4], seekFrom: e[5] };
}

function restoredTailEvent(e: SavedTailEvent | TailEvent): TailEvent {
  const out = restoredEvent(e as SavedEvent | CompactEvent) as TailEvent;
  out.c = Array.isArray(e) ? e[6] : e.c;
  return out;
}

/**
 * The JSON form of a session's aggregates (a checkpoint or changelog value). Its events are
 * positional (their field names were about a third of a session's bytes, and a live session
 * is written again at every checkpoint); the object form that earlier versions saved is read too.
 */
export interface AggregateJSON {
  d: number;
  n: number;
  plays: number;
  watch: number;
  first: SavedEvent | CompactEvent | null;
  last: SavedEvent | CompactEvent | null;
  maxPos: number;
  done: boolean;
  rebuf: { t: number; id: string; type: EventType } | null;
  cand: number | null;
  candId: string | null;
  candFolded: boolean;
  fWatch: number;
  fBits: Buckets;
  anchor: SavedEvent | CompactEvent | null;
  tail: (SavedTailEvent | TailEvent)[];
}

export class SessionAggregate {
  /** Applied events. */
  events = 0;
  /** play_start events. */
  plays = 0;
  watchMs = 0;
  /** First and last event in session order. */
  first: CompactEvent | null = null;
  last: CompactEvent | null = null;
  maxPositionMs = 0;
  completed = false;
  /** The latest rebuffer_start or rebuffer_end in session order (for "left after a stall"). */
  lastRebuffer: { t: number; id: string; type: EventType } | null = null;
  /** Candidate view time (Views rule 1), null while the session has not qualified. */
  candidate: number | null = null;
  private candidateId: string | null = null;
  /** Whether the qualifying event is folded (then the candidate is final). */
  private candidateFolded = false;
  /** Union of the watched segments' buckets, folded prefix and tail. */
  private bits: Buckets = emptyBuckets();
  private foldedWatchMs = 0;
  private foldedBits: Buckets = emptyBuckets();
  private anchor: CompactEvent | null = null;
  private tail: TailEvent[] = [];
  /** event_ids of the tail, for duplicates. */
  private ids = new Set<string>();

  /** min(the rule's view threshold, the video's length): what makes this session a view. */
  private readonly threshold: number;

  constructor(
    readonly durationMs: number,
    viewThresholdMs: number,
  ) {
    this.threshold = viewThreshold(durationMs, viewThresholdMs);
  }

  get tailLength(): number {
    return this.tail.length;
  }

  /** Event time of the oldest event not folded yet (null before the first). */
  get tailStart(): number | null {
    return this.tail.length ? this.tail[0]!.t : null;
  }

  /**
   * Applies one event (the aggregate keeps the object), pushing the minute deltas it causes onto `deltas`
   * (null: not wanted — only view-counts uses them, and building them is per-event garbage). Returns
   * 'duplicate' for an event_id already applied (within the tail), 'folded' for an event that
   * would sort before the folded prefix's last event.
   */
  add(e: CompactEvent, deltas: MinuteDelta[] | null): AddResult {
    if (this.ids.has(e.id) || (this.anchor !== null && this.anchor.id === e.id)) return 'duplicate';
    if (this.anchor !== null && !before(this.anchor, e)) return 'folded';
    const tail = this.tail;
    // Position in session order; in-order arrival lands at the end without a search.
    let i = tail.length;
    if (i > 0 && before(e, tail[i - 1]!)) {
      let lo = 0;
      let hi = i;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (before(tail[mid]!, e)) lo = mid + 1;
        else hi = mid;
      }
      i = lo;
    }
    const prev = i > 0 ? tail[i - 1]! : this.anchor;
    const next = i < tail.length ? tail[i]! : undefined;
    // The caller's event becomes the tail entry (it hands over a fresh object).
    const added = e as TailEvent;
    added.c = contribution(e, prev);
    const playDelta = e.type === 'play_start' ? 1 : 0;
    deltas?.push({ minute: minuteOf(e.t), plays: playDelta, watchMs: added.c });
    let nextDelta = 0;
    if (next) {
      const c = contribution(next, e);
      nextDelta = c - next.c;
      next.c = c;
      if (nextDelta !== 0) deltas?.push({ minute: minuteOf(next.t), plays: 0, watchMs: nextDelta });
    }
    if (i === tail.length) tail.push(added);
    else tail.splice(i, 0, added);
    this.ids.add(e.id);

    this.events += 1;
    this.plays += playDelta;
    this.watchMs += added.c + nextDelta;
    if (this.first === null || before(e, this.first)) this.first = e;
    if (this.last === null || before(this.last, e)) this.last = e;
    this.maxPositionMs = Math.max(this.maxPositionMs, e.pos, e.seekFrom ?? 0);
    if (e.type === 'complete') this.completed = true;
    if (
      (e.type === 'rebuffer_start' || e.type === 'rebuffer_end') &&
      (!this.lastRebuffer || before(this.lastRebuffer, e))
    )
      this.lastRebuffer = { t: e.t, id: e.id, type: e.type };

    if (next) {
      this.recomputeTail();
    } else {
      cover(this.bits, added, this.durationMs);
      if (this.candidate === null && (this.watchMs >= this.threshold || e.type === 'complete')) {
        this.candidate = e.t;
        this.candidateId = e.id;
      }
    }
    return 'applied';
  }

  /** Coverage and the candidate from the folded prefix and the tail (after an insert inside the tail). */
  private recomputeTail(): void {
    const bits: Buckets = [...this.foldedBits];
    for (const ev of this.tail) cover(bits, ev, this.durationMs);
    this.bits = bits;
    if (this.candidateFolded) return;
    const threshold = this.threshold;
    let sum = this.foldedWatchMs;
    this.candidate = null;
    this.candidateId = null;
    for (const ev of this.tail) {
      sum += ev.c;
      if (sum >= threshold || ev.type === 'complete') {
        this.candidate = ev.t;
        this.candidateId = ev.id;
        return;
      }
    }
  }

  /** Folds the tail events older than `beforeT` (event time) into the prefix sums; true if any. */
  fold(beforeT: number): boolean {
    const tail = this.tail;
    let k = 0;
    // The last event always stays in the tail: an in-order append needs nothing else.
    while (k < tail.length - 1 && tail[k]!.t < beforeT) {
      const ev = tail[k]!;
      this.foldedWatchMs += ev.c;
      cover(this.foldedBits, ev, this.durationMs);
      if (ev.id === this.candidateId) this.candidateFolded = true;
      this.ids.delete(ev.id);
      this.anchor = { id: ev.id, t: ev.t, type: ev.type, pos: ev.pos, watched: ev.watched, seekFrom: ev.seekFrom };
      k++;
    }
    if (k > 0) tail.splice(0, k);
    return k > 0;
  }

  /** Covered retention buckets (0..100), ascending; empty without a duration. */
  covered(): number[] {
    return bucketList(this.bits);
  }

  /** The covered buckets as words (a copy: the rollup keeps what a view contributed). */
  coveredBits(): Buckets {
    return [this.bits[0], this.bits[1], this.bits[2], this.bits[3]];
  }

  /** coveredBits() copied into `into` (no new array). */
  copyCoveredBits(into: Buckets): void {
    for (let w = 0; w < 4; w++) into[w] = this.bits[w]!;
  }

  /** "Left after a stall" (docs/semantics.md) from the last event and the last rebuffer event. */
  leftAfterStall(): boolean {
    const last = this.last;
    const r = this.lastRebuffer;
    if (!last || last.type === 'complete' || !r) return false;
    return r.type === 'rebuffer_start' || last.t - r.t <= STALL_EXIT_WINDOW_MS;
  }

  /** Exit point: the last event's position as a percent bucket; -1 without a duration. */
  exitPercent(): number {
    return this.last && this.durationMs > 0 ? bucketOf(this.last.pos, this.durationMs) : -1;
  }

  toJSON(): AggregateJSON {
    return {
      d: this.durationMs,
      n: this.events,
      plays: this.plays,
      watch: this.watchMs,
      first: savedEvent(this.first),
      last: savedEvent(this.last),
      maxPos: this.maxPositionMs,
      done: this.completed,
      rebuf: this.lastRebuffer,
      cand: this.candidate,
      candId: this.candidateId,
      candFolded: this.candidateFolded,
      fWatch: this.foldedWatchMs,
      fBits: this.foldedBits,
      anchor: savedEvent(this.anchor),
      tail: this.tail.map((e): SavedTailEvent => [e.id, e.t, e.type, e.pos, e.watched, e.seekFrom, e.c]),
    };
  }

  /** `viewThresholdMs` is the processor's rule, not stored (a changed rule rebuilds with `viewpulse replay`). */
  static fromJSON(j: AggregateJSON, viewThresholdMs: number): SessionAggregate {
    const a = new SessionAggregate(j.d, viewThresholdMs);
    a.events = j.n;
    a.plays = j.plays;
    a.watchMs = j.watch;
    a.first = j.first && restoredEvent(j.first);
    a.last = j.last && restoredEvent(j.last);
    a.maxPositionMs = j.maxPos;
    a.completed = j.done;
    a.lastRebuffer = j.rebuf;
    a.candidate = j.cand;
    a.candidateId = j.candId;
    a.candidateFolded = j.candFolded;
    a.foldedWatchMs = j.fWatch;
    a.foldedBits = [...j.fBits] as Buckets;
    a.anchor = j.anchor && restoredEvent(j.anchor);
    a.tail = j.tail.map(restoredTailEvent);
    // Live, first and last are the tail's own objects while they are in it; restored, too
    // (one copy of each event in memory, as before the restart).
    const head = a.tail[0];
    const end = a.tail[a.tail.length - 1];
    if (head && a.first?.id === head.id) a.first = head;
    if (end && a.last?.id === end.id) a.last = end;
    for (const e of a.tail) a.ids.add(e.id);
    a.bits = [...a.foldedBits] as Buckets;
    for (const ev of a.tail) cover(a.bits, ev, a.durationMs);
    return a;
  }
}
