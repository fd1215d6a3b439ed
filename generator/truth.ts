// The generator's own implementation of docs/semantics.md: from the events the system
// accepts, the exact numbers it must report. The stream processors implement the same rules
// independently; integration tests compare the two, so this file follows the document rule
// by rule and says which rule each function is.
//
// It is incremental: `TruthAccumulator.addSession` takes one playback session at a time and
// keeps only what later sessions can still change — the per-minute and per-day tables, view
// candidates that a later session could still precede, and each (viewer, video)'s last
// counted view for the last 30 minutes (the repeat cap). The view threshold and the repeat
// cap are rule parameters (docs/semantics.md, "Rule parameters"): `TruthRules`, today's values
// by default; the processors take the same names (processors/parameters.ts), and this file
// does not import them. Sessions must arrive roughly in
// order of their first event time (within `ORDER_SLACK_MS`), which the generator guarantees
// and `truthFromEvents` arranges for arbitrary event lists.
import { DAY, MINUTE } from '../lib/time.js';
import { MinHeap } from '../lib/min-heap.js';

/** Views: the watched time that makes a view, unless the video is shorter (the default rule). */
export const VIEW_THRESHOLD_MS = 30_000;
/** Views: a viewer's views of one video count at most once per this long (the default rule). */
export const REPEAT_CAP_MS = 1_800_000;

/**
 * The rule parameters the truth depends on, named as in docs/semantics.md's "Rule parameters"
 * (a RuleParameters or config.rules can be passed as it is). The session gap and the graces
 * decide only when processors close windows and sessions, never a number of an input whose
 * events are all placed (the generator's lateness stays within them): the truth has no use for them.
 */
export interface TruthRules {
  /** Views rule 1: min(this, duration) of watched time makes a view. */
  readonly viewThresholdMs: number;
  /** Views rule 2: at most one counted view per (viewer, video) per this long; 0 = no cap. */
  readonly repeatCapMs: number;
}

export const DEFAULT_TRUTH_RULES: TruthRules = Object.freeze({
  viewThresholdMs: VIEW_THRESHOLD_MS,
  repeatCapMs: REPEAT_CAP_MS,
});

/** The two rules of `rules` (extra fields dropped), checked: whole ms, threshold > 0, cap >= 0. */
export function truthRules(rules: TruthRules = DEFAULT_TRUTH_RULES): TruthRules {
  const { viewThresholdMs, repeatCapMs } = rules;
  if (!Number.isSafeInteger(viewThresholdMs) || viewThresholdMs <= 0)
    throw new RangeError(`viewThresholdMs must be a positive whole number of ms, got ${viewThresholdMs}`);
  if (!Number.isSafeInteger(repeatCapMs) || repeatCapMs < 0)
    throw new RangeError(`repeatCapMs must be a whole number of ms >= 0, got ${repeatCapMs}`);
  return Object.freeze({ viewThresholdMs, repeatCapMs });
}
/** Rule 3: a request's skew is corrected only from this size on. */
export const SKEW_THRESHOLD_MS = 2_000;
/** Rule 3: events further than this in the future (after correction) are rejected. */
export const MAX_FUTURE_MS = 24 * 3_600_000;
/** Rule 3: events further than this in the future (but not rejected) are clamped to received_at. */
export const CLAMP_FUTURE_MS = 5_000;
/** Rule 3: the default horizon (VIEWPULSE_EVENT_HORIZON_HOURS = 168). */
export const DEFAULT_HORIZON_MS = 7 * DAY;
/** Sessions may reach the accumulator this much out of first-event-time order. */
export const ORDER_SLACK_MS = 60_000;

/** Minute windows: [floor(t / 60000) * 60000, +60000). */
export const minuteOf = (t: number): number => Math.floor(t / MINUTE) * MINUTE;
/** UTC calendar day start. */
export const dayOf = (t: number): number => Math.floor(t / DAY) * DAY;
/** YYYY-MM-DD of a UTC day. */
export const dayLabel = (t: number): string => new Date(dayOf(t)).toISOString().slice(0, 10);

// ---------------------------------------------------------------------------------------
// Which events count — rule 3 (event time). Rules 1 and 2 are applied by the callers:
// rejected events are never passed in, and duplicates are dropped by event_id.

/**
 * Rule 3: the correction added to every event_time of a request: 0 when |skew| < 2 s,
 * otherwise the skew rounded to whole seconds, halves away from zero (symmetric in sign:
 * +2500 → +3000, -2500 → -3000).
 */
export function skewCorrection(sentAt: number, receivedAt: number): number {
  const skew = receivedAt - sentAt;
  if (Math.abs(skew) < SKEW_THRESHOLD_MS) return 0;
  return Math.sign(skew) * Math.round(Math.abs(skew) / 1000) * 1000;
}

export type Admission =
  | { accepted: true; event_time: number; clamped: boolean }
  | { accepted: false; reason: 'future_event_time' | 'event_too_old' };

/**
 * Rule 3 for one event of a request sent at `sentAt` (client clock) and received at
 * `receivedAt`: skew correction, then rejection (more than 24 h ahead, older than the
 * horizon) or clamping (more than 5 s ahead → received_at).
 */
export function admitEventTime(
  eventTime: number,
  sentAt: number,
  receivedAt: number,
  horizonMs: number = DEFAULT_HORIZON_MS,
): Admission {
  const t = eventTime + skewCorrection(sentAt, receivedAt);
  if (t - receivedAt > MAX_FUTURE_MS) return { accepted: false, reason: 'future_event_time' };
  if (receivedAt - t > horizonMs) return { accepted: false, reason: 'event_too_old' };
  if (t - receivedAt > CLAMP_FUTURE_MS) return { accepted: true, event_time: receivedAt, clamped: true };
  return { accepted: true, event_time: t, clamped: false };
}

// ---------------------------------------------------------------------------------------
// One session.

/** The fields of an accepted play event the numbers depend on (event_time already corrected). */
export interface TruthEvent {
  event_id: string;
  event_type: string;
  event_time: number;
  session_id: string;
  viewer_id: string;
  video_id: string;
  position_ms: number;
  watched_ms: number;
  seek_from_ms?: number | null;
}

/** What the catalog says about a video. */
export interface CatalogFacts {
  duration_ms: number;
  creator_id: string;
}
export type CatalogLookup = (videoId: string) => CatalogFacts | undefined;

/** Rule 4: session order is event-time order, ties broken by event_id (string order). */
export function sessionOrder(a: Pick<TruthEvent, 'event_time' | 'event_id'>, b: typeof a): number {
  if (a.event_time !== b.event_time) return a.event_time - b.event_time;
  return a.event_id < b.event_id ? -1 : a.event_id > b.event_id ? 1 : 0;
}

/**
 * Watch time: per event in session order, the first contributes 0 and every later one
 * min(watched_ms, event_time - previous.event_time), never negative.
 */
export function contributions(sorted: readonly TruthEvent[]): number[] {
  const out = new Array<number>(sorted.length);
  for (let i = 0; i < sorted.length; i++) {
    if (i === 0) out[i] = 0;
    else {
      const gap = sorted[i]!.event_time - sorted[i - 1]!.event_time;
      out[i] = Math.max(0, Math.min(sorted[i]!.watched_ms, gap));
    }
  }
  return out;
}

/** Views rule 1: min(rule, duration) (30 s by default); the rule's own for a video the catalog does not know. */
export function viewThreshold(durationMs: number | undefined, thresholdMs: number = VIEW_THRESHOLD_MS): number {
  return durationMs === undefined ? thresholdMs : Math.min(thresholdMs, durationMs);
}

/**
 * Views rule 1: the index of the event at which the session qualifies — the first where the
 * running sum of contributions reaches the threshold, or whose type is `complete` — or -1.
 */
export function qualifyingIndex(
  sorted: readonly TruthEvent[],
  contribs: readonly number[],
  durationMs: number | undefined,
  thresholdMs: number = VIEW_THRESHOLD_MS,
): number {
  const threshold = viewThreshold(durationMs, thresholdMs);
  let sum = 0;
  for (let i = 0; i < sorted.length; i++) {
    sum += contribs[i]!;
    if (sum >= threshold || sorted[i]!.event_type === 'complete') return i;
  }
  return -1;
}

/** Views rule 2: may a candidate at `t` count, given the (viewer, video)'s last counted view? */
export function repeatCapAllows(lastCounted: number | undefined, t: number, capMs: number = REPEAT_CAP_MS): boolean {
  return lastCounted === undefined || t - lastCounted >= capMs;
}

/** Retention: the percent bucket of position x, min(100, floor(100 x / duration)), at least 0. */
export function percentBucket(x: number, durationMs: number): number {
  return Math.max(0, Math.min(100, Math.floor((100 * x) / durationMs)));
}

/**
 * Retention: a session's watched segments — for every event with contribution c > 0,
 * [end - c, end], where end is seek_from_ms for a seek (the watching happened before the
 * jump; position_ms if a client left it out) and position_ms otherwise.
 */
export function watchedSegments(sorted: readonly TruthEvent[], contribs: readonly number[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < sorted.length; i++) {
    const c = contribs[i]!;
    if (c <= 0) continue;
    const e = sorted[i]!;
    const end = e.event_type === 'seek' ? (e.seek_from_ms ?? e.position_ms) : e.position_ms;
    out.push([end - c, end]);
  }
  return out;
}

/** Retention: the buckets 0..100 a view covers (1 = covered), each at most once per view. */
export function coveredBuckets(segments: ReadonlyArray<[number, number]>, durationMs: number): Uint8Array {
  const covered = new Uint8Array(101);
  for (const [s, e] of segments) {
    const from = percentBucket(s, durationMs);
    const to = percentBucket(e, durationMs);
    for (let p = from; p <= to; p++) covered[p] = 1;
  }
  return covered;
}

// ---------------------------------------------------------------------------------------
// Tables.

export interface MinuteRow {
  video_id: string;
  /** Window start, epoch ms. */
  minute: number;
  plays: number;
  views: number;
  watch_ms: number;
}

export interface DailyUniquesRow {
  video_id: string;
  day: string;
  day_start: number;
  viewers: number;
}

export interface CreatorDailyUniquesRow {
  creator_id: string;
  day: string;
  day_start: number;
  viewers: number;
}

export interface RetentionRow {
  video_id: string;
  duration_ms: number;
  /** Counted views of the video. */
  views: number;
  /** covering[p] = how many of those views cover percent p (0..100). */
  covering: number[];
}

export interface TruthTotals {
  sessions: number;
  /** Distinct accepted events. */
  events: number;
  plays: number;
  /** Sessions that qualified (before the repeat cap). */
  view_candidates: number;
  /** Counted views. */
  views: number;
  /** Candidates the repeat cap did not count. */
  views_capped: number;
  watch_ms: number;
}

export interface TruthTables {
  totals: TruthTotals;
  /** Per video per minute; rows where all three are 0 are left out. Sorted by video_id, minute. */
  minutes: MinuteRow[];
  daily_uniques: DailyUniquesRow[];
  creator_daily_uniques: CreatorDailyUniquesRow[];
  /** Videos with at least one counted view and a known duration. Sorted by video_id. */
  retention: RetentionRow[];
}

interface MinuteCell {
  plays: number;
  views: number;
  watch_ms: number;
}

interface Candidate {
  time: number;
  session_id: string;
  viewer_id: string;
  video_id: string;
  covered: Uint8Array | undefined;
}

const candidateBefore = (a: Candidate, b: Candidate): boolean =>
  a.time !== b.time ? a.time < b.time : a.session_id < b.session_id;

const SEP = '\u0000';

export class TruthAccumulator {
  private readonly minutes = new Map<string, MinuteCell>();
  private readonly uniques = new Map<string, Set<string>>();
  private readonly creatorUniques = new Map<string, Set<string>>();
  private readonly retention = new Map<string, { duration: number; views: number; covering: Uint32Array }>();
  private readonly pending = new MinHeap<Candidate>(candidateBefore);
  private readonly lastCounted = new Map<string, number>();
  private latestFirst = -Infinity;
  private releasedUpTo = -Infinity;
  private releases = 0;
  private finished = false;
  readonly totals: TruthTotals = {
    sessions: 0,
    events: 0,
    plays: 0,
    view_candidates: 0,
    views: 0,
    views_capped: 0,
    watch_ms: 0,
  };

  readonly rules: TruthRules;

  constructor(
    private readonly catalog: CatalogLookup,
    rules: TruthRules = DEFAULT_TRUTH_RULES,
  ) {
    this.rules = truthRules(rules);
  }

  /**
   * Adds one playback session: its accepted events (any order; copies with an event_id seen
   * earlier in the list are dropped). Sessions must come in order of their first event time,
   * give or take ORDER_SLACK_MS.
   */
  addSession(events: readonly TruthEvent[]): void {
    if (this.finished) throw new Error('TruthAccumulator: addSession after finish');
    const seen = new Set<string>();
    const sorted: TruthEvent[] = [];
    for (const e of events) {
      if (seen.has(e.event_id)) continue;
      seen.add(e.event_id);
      sorted.push(e);
    }
    if (sorted.length === 0) return;
    sorted.sort(sessionOrder);
    const first = sorted[0]!.event_time;
    if (first < this.latestFirst - ORDER_SLACK_MS) {
      throw new Error(
        `TruthAccumulator: session ${sorted[0]!.session_id} starts at ${first}, more than ` +
          `${ORDER_SLACK_MS} ms before an earlier session (${this.latestFirst})`,
      );
    }
    this.latestFirst = Math.max(this.latestFirst, first);
    this.release(this.latestFirst - ORDER_SLACK_MS);

    this.totals.sessions++;
    this.totals.events += sorted.length;
    const contribs = contributions(sorted);
    for (let i = 0; i < sorted.length; i++) {
      const e = sorted[i]!;
      const c = contribs[i]!;
      const isPlay = e.event_type === 'play_start';
      if (isPlay || c > 0) {
        const cell = this.cell(e.video_id, e.event_time);
        if (isPlay) {
          cell.plays++;
          this.totals.plays++;
        }
        cell.watch_ms += c;
        this.totals.watch_ms += c;
      }
      const day = dayOf(e.event_time);
      addTo(this.uniques, `${e.video_id}${SEP}${day}`, e.viewer_id);
      const facts = this.catalog(e.video_id);
      if (facts) addTo(this.creatorUniques, `${facts.creator_id}${SEP}${day}`, e.viewer_id);
    }

    const head = sorted[0]!;
    const facts = this.catalog(head.video_id);
    const q = qualifyingIndex(sorted, contribs, facts?.duration_ms, this.rules.viewThresholdMs);
    if (q < 0) return;
    this.totals.view_candidates++;
    this.pending.push({
      time: sorted[q]!.event_time,
      session_id: head.session_id,
      viewer_id: head.viewer_id,
      video_id: head.video_id,
      covered: facts ? coveredBuckets(watchedSegments(sorted, contribs), facts.duration_ms) : undefined,
    });
  }

  /** Applies the repeat cap to every candidate earlier than `before`: they can no longer be preceded. */
  private release(before: number): void {
    for (;;) {
      const c = this.pending.peek();
      if (!c || c.time >= before) break;
      this.pending.pop();
      this.releasedUpTo = c.time;
      const key = `${c.viewer_id}${SEP}${c.video_id}`;
      if (!repeatCapAllows(this.lastCounted.get(key), c.time, this.rules.repeatCapMs)) {
        this.totals.views_capped++;
        continue;
      }
      this.lastCounted.set(key, c.time);
      this.totals.views++;
      this.cell(c.video_id, c.time).views++;
      if (c.covered) {
        let r = this.retention.get(c.video_id);
        if (!r) {
          r = { duration: this.catalog(c.video_id)!.duration_ms, views: 0, covering: new Uint32Array(101) };
          this.retention.set(c.video_id, r);
        }
        r.views++;
        for (let p = 0; p <= 100; p++) r.covering[p]! += c.covered[p]!;
      }
      if (++this.releases % 4096 === 0) this.forgetOldViews();
    }
  }

  /** Drops last-counted times that can no longer cap anything (all later candidates are ≥ the cap after). */
  private forgetOldViews(): void {
    for (const [key, t] of this.lastCounted) {
      if (this.releasedUpTo - t >= this.rules.repeatCapMs) this.lastCounted.delete(key);
    }
  }

  private cell(videoId: string, t: number): MinuteCell {
    const key = `${videoId}${SEP}${minuteOf(t)}`;
    let cell = this.minutes.get(key);
    if (!cell) {
      cell = { plays: 0, views: 0, watch_ms: 0 };
      this.minutes.set(key, cell);
    }
    return cell;
  }

  /** Rough count of what is held in memory, for the generator's own checks. */
  get held(): { minuteCells: number; uniqueSets: number; pendingCandidates: number; capEntries: number } {
    return {
      minuteCells: this.minutes.size,
      uniqueSets: this.uniques.size + this.creatorUniques.size,
      pendingCandidates: this.pending.size,
      capEntries: this.lastCounted.size,
    };
  }

  /** Settles every pending candidate and returns the tables. Call once, after the last session. */
  finish(): TruthTables {
    if (!this.finished) {
      this.release(Infinity);
      this.finished = true;
    }
    const split = (key: string): [string, number] => {
      const i = key.lastIndexOf(SEP);
      return [key.slice(0, i), Number(key.slice(i + 1))];
    };
    const minutes: MinuteRow[] = [];
    for (const [key, cell] of this.minutes) {
      if (cell.plays === 0 && cell.views === 0 && cell.watch_ms === 0) continue;
      const [video_id, minute] = split(key);
      minutes.push({ video_id, minute, ...cell });
    }
    minutes.sort((a, b) => cmp(a.video_id, b.video_id) || a.minute - b.minute);
    const daily = (
      map: Map<string, Set<string>>,
    ): Array<{ id: string; day: string; day_start: number; viewers: number }> =>
      [...map]
        .map(([key, set]) => {
          const [id, dayStart] = split(key);
          return { id, day: dayLabel(dayStart), day_start: dayStart, viewers: set.size };
        })
        .sort((a, b) => cmp(a.id, b.id) || a.day_start - b.day_start);
    const retention: RetentionRow[] = [...this.retention]
      .map(([video_id, r]) => ({ video_id, duration_ms: r.duration, views: r.views, covering: [...r.covering] }))
      .sort((a, b) => cmp(a.video_id, b.video_id));
    return {
      totals: { ...this.totals },
      minutes,
      daily_uniques: daily(this.uniques).map(({ id, ...rest }) => ({ video_id: id, ...rest })),
      creator_daily_uniques: daily(this.creatorUniques).map(({ id, ...rest }) => ({ creator_id: id, ...rest })),
      retention,
    };
  }
}

function addTo(map: Map<string, Set<string>>, key: string, value: string): void {
  let set = map.get(key);
  if (!set) {
    set = new Set();
    map.set(key, set);
  }
  set.add(value);
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The truth of an arbitrary list of accepted events (already skew-corrected): deduplicated
 * by event_id (the first copy in the list wins), grouped by session, sessions fed in order
 * of their first event. The reference the tests use; the generator feeds its accumulator
 * session by session instead.
 */
export function truthFromEvents(
  events: readonly TruthEvent[],
  catalog: CatalogLookup,
  rules: TruthRules = DEFAULT_TRUTH_RULES,
): TruthTables {
  const seen = new Set<string>();
  const sessions = new Map<string, TruthEvent[]>();
  for (const e of events) {
    if (seen.has(e.event_id)) continue;
    seen.add(e.event_id);
    let list = sessions.get(e.session_id);
    if (!list) {
      list = [];
      sessions.set(e.session_id, list);
    }
    list.push(e);
  }
  const ordered = [...sessions.values()]
    .map((list) => ({
      list,
      first: list.reduce((m, e) => Math.min(m, e.event_time), Infinity),
      id: list[0]!.session_id,
    }))
    .sort((a, b) => a.first - b.first || cmp(a.id, b.id));
  const acc = new TruthAccumulator(catalog, rules);
  for (const s of ordered) acc.addSession(s.list);
  return acc.finish();
}
