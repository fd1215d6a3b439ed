// The engagement rollup: what the insights routes need of counted views and of plays, summed
// per window (minute, hour, day) for each video, each creator and each value of the breakdown
// dimensions — so a route reads rows in proportion to the windows of its range, never to the
// sessions behind them. Written by the engagement processor beside `sessions`.
//
// Every counted view contributes its current numbers (watch time, percent viewed, completion,
// covered retention buckets, stall exit, whether its session is still open) to the windows of
// its view time; every play (a session with a play_start) its QoE numbers (startup time,
// stalls, failure, watch time) to the windows of its start (docs/semantics.md "Quality of
// experience"). When a record changes a view or a play — a heartbeat adds watch time, a late
// event moves the view time, the repeat cap flips whether it counts — the processor adds the
// difference between the new and the old contribution: at that record when the view moves
// (other rows), and for an open view that only grows in place (a heartbeat), once per drain,
// with the offset of the last record that changed it (the processor's deferredViews). So at
// every drain the sums are those of the sessions' latest numbers, as `sessions FINAL` would
// give them, and a window's row is versioned by the last record that changed it.
//
// How a sum reaches ClickHouse exactly once: the view_counts scheme (view-counts/counts.ts).
// Rows are keyed by (dim, id, grain, window_start, value, kafka_partition, seq); an open window
// holds its full value for the partition and is written with seq = 0 and a higher version on
// each change. A window closes once the watermark passed its end + grace AND no open session
// contributes to it, so the heartbeats of a long view keep landing in one open row. A view of
// an open session that reaches a closed window (a late event qualified it) opens it again with
// seq = the offset of that record: a new full-value row, closed in turn once its views close.
// A change of a closed session to a closed window (a repeat-cap flip) is a delta row with
// seq = the offset of the record that made it. Every change is made at a record, from checkpointed state and input, so
// a replay after a crash writes the same keys with the same values.
import { TimeWindows } from '../windows.js';
import { DueQueue } from '../expiry.js';
import { DAY, HOUR, MINUTE } from '../../lib/time.js';
import { Tracked, type RestoredState, type StateEntries, type StatePart } from '../keyed-state.js';
import type { Buckets } from '../playback/aggregate.js';
import type { SessionEntry } from '../playback/state.js';
import type { SessionRow } from './rows.js';
import { PERCENT_SCALE, startupBucket } from '../semantics.js';

/** The row sets of the rollup: totals per video and creator, and per breakdown value of a video. */
export const ROLLUP_DIMS = [
  'video',
  'creator',
  'country',
  'device',
  'os',
  'traffic_source',
  'referrer',
  'creator_country',
  'creator_device',
] as const;
export type RollupDim = (typeof ROLLUP_DIMS)[number];
export type RollupGrain = 'minute' | 'hour' | 'day';

/** What one counted view adds to the windows of its view time. */
export interface ViewContribution {
  /** view time (epoch ms) */
  t: number;
  video: string;
  creator: string;
  watch: number;
  /** min(1, watch / duration) in millionths; 0 without a duration */
  pct: number;
  /** 1 when the video's duration is known (the view counts in percent viewed) */
  measured: number;
  completed: number;
  /** covered retention buckets */
  bits: Buckets;
  /** the stall-exit bucket (docs/semantics.md "Left after a stall"), -1 if none */
  exit: number;
  /** 1 while the session is open */
  open: number;
  country: string;
  device: string;
  os: string;
  source: string;
  /** the suggesting video when source = suggested, else '' */
  referrer: string;
}

const percentMicros = (watch: number, duration: number): number =>
  duration > 0 ? Math.round(PERCENT_SCALE * Math.min(1, watch / duration)) : 0;

/** The suggesting video a view counts under: its referrer when the traffic source is suggested, else ''. */
const referrerOf = (d: SessionEntry['dims']): string =>
  d.trafficSource === 'suggested' ? (d.referrerVideoId ?? '') : '';

/** A counted view's contribution as its session stands (the session must have qualified). */
export function viewOfSession(s: SessionEntry, open: boolean): ViewContribution {
  const a = s.agg;
  return {
    t: a.candidate!,
    video: s.videoId,
    creator: s.creatorId,
    watch: a.watchMs,
    pct: percentMicros(a.watchMs, s.durationMs),
    measured: s.durationMs > 0 ? 1 : 0,
    completed: a.completed ? 1 : 0,
    bits: a.coveredBits(),
    exit: a.leftAfterStall() ? a.exitPercent() : -1,
    open: open ? 1 : 0,
    country: s.dims.country,
    device: s.dims.device,
    os: s.dims.os,
    source: s.dims.trafficSource,
    referrer: referrerOf(s.dims),
  };
}

/**
 * `c` (a contribution of `s` with the same targets, see sameViewTargets, not yet handed to the
 * rollup) brought up to date in place: what a heartbeat changes, without a new object.
 */
export function refreshView(c: ViewContribution, s: SessionEntry): void {
  const a = s.agg;
  c.watch = a.watchMs;
  c.pct = percentMicros(a.watchMs, s.durationMs);
  c.measured = s.durationMs > 0 ? 1 : 0;
  c.completed = a.completed ? 1 : 0;
  a.copyCoveredBits(c.bits);
  c.exit = a.leftAfterStall() ? a.exitPercent() : -1;
}

/** The same for a play (same start, video and creator). */
export function refreshPlay(c: PlayContribution, s: SessionEntry): void {
  c.startup = s.startupMs;
  c.rebufferMs = s.rebufferMs;
  c.watch = s.agg.watchMs;
  c.rebuffers = s.rebuffers;
  c.failed = s.errors > 0 ? 1 : 0;
}

/** Whether an open view's contribution would count in the same rows (targets and time) as the session now stands. */
export function sameViewTargets(c: ViewContribution, s: SessionEntry): boolean {
  const d = s.dims;
  return (
    c.t === s.agg.candidate &&
    c.video === s.videoId &&
    c.creator === s.creatorId &&
    c.country === d.country &&
    c.device === d.device &&
    c.os === d.os &&
    c.source === d.trafficSource &&
    c.referrer === referrerOf(d)
  );
}

/** The same from a closed session's last row (what the processor keeps of a closed candidate). */
export function viewOfRow(r: SessionRow): ViewContribution {
  const bits: Buckets = [0, 0, 0, 0];
  for (const b of r.covered) bits[(b / 31) | 0]! |= 1 << (b % 31);
  return {
    t: r.view_time,
    video: r.video_id,
    creator: r.creator_id,
    watch: r.watch_ms,
    pct: percentMicros(r.watch_ms, r.duration_ms),
    measured: r.duration_ms > 0 ? 1 : 0,
    completed: r.completed,
    bits,
    exit: r.exit_after_stall === 1 && r.exit_percent >= 0 ? r.exit_percent : -1,
    open: r.closed ? 0 : 1,
    country: r.country,
    device: r.device,
    os: r.os,
    source: r.traffic_source,
    referrer: r.referrer_video_id,
  };
}

/** What one play (a session with a play_start) adds to the windows of its start. */
export interface PlayContribution {
  /** started_at: the session's first event time (epoch ms) */
  t: number;
  video: string;
  creator: string;
  /** startup_ms of its play_start, null when not reported */
  startup: number | null;
  rebufferMs: number;
  watch: number;
  rebuffers: number;
  /** 1 when the play had an error event */
  failed: number;
  open: number;
}

/** A play's contribution as its session stands (the session must have a play_start). */
export function playOfSession(s: SessionEntry, open: boolean): PlayContribution {
  return {
    t: s.agg.first!.t,
    video: s.videoId,
    creator: s.creatorId,
    startup: s.startupMs,
    rebufferMs: s.rebufferMs,
    watch: s.agg.watchMs,
    rebuffers: s.rebuffers,
    failed: s.errors > 0 ? 1 : 0,
    open: open ? 1 : 0,
  };
}

/** The numbers a window sums, as totals (Entry) or as the change one record makes (Delta). */
interface Sums {
  views: number;
  watch: number;
  pct: number;
  measured: number;
  completions: number;
  open: number;
  plays: number;
  startupMeasured: number;
  rebufferMs: number;
  playWatch: number;
  rebuffers: number;
  stalled: number;
  failures: number;
  openPlays: number;
  /** startup bucket and count (a change: ±1), ascending by bucket in an Entry */
  startup: [number, number][];
}

/** The change of a window's sums that a change of one view or one play makes. */
interface Delta extends Sums {
  /** [bucket, ±1] changes of the retention counters */
  ret: [number, number][];
  /** [bucket, ±1] changes of the stall-exit counters */
  exits: [number, number][];
}

const NO_PLAY = {
  plays: 0,
  startupMeasured: 0,
  rebufferMs: 0,
  playWatch: 0,
  rebuffers: 0,
  stalled: 0,
  failures: 0,
  openPlays: 0,
  startup: [] as [number, number][],
};

const bitOf = (bits: Buckets, b: number): number => (bits[(b / 31) | 0]! >>> (b % 31)) & 1;

function bucketChanges(from: Buckets | null, to: Buckets | null): [number, number][] {
  const out: [number, number][] = [];
  for (let w = 0; w < 4; w++) {
    const x = (from ? from[w]! : 0) ^ (to ? to[w]! : 0);
    if (x === 0) continue;
    for (let i = 0; i < 31; i++) {
      if (!((x >>> i) & 1)) continue;
      const b = w * 31 + i;
      out.push([b, to && bitOf(to, b) ? 1 : -1]);
    }
  }
  return out;
}

function exitChanges(from: number, to: number): [number, number][] {
  if (from === to) return [];
  const out: [number, number][] = [];
  if (from >= 0) out.push([from, -1]);
  if (to >= 0) out.push([to, 1]);
  return out;
}

/** old → new of one view whose windows and dimension values are the same (either may be absent). */
function deltaOf(o: ViewContribution | null, n: ViewContribution | null): Delta {
  return {
    views: (n ? 1 : 0) - (o ? 1 : 0),
    watch: (n?.watch ?? 0) - (o?.watch ?? 0),
    pct: (n?.pct ?? 0) - (o?.pct ?? 0),
    measured: (n?.measured ?? 0) - (o?.measured ?? 0),
    completions: (n?.completed ?? 0) - (o?.completed ?? 0),
    open: (n?.open ?? 0) - (o?.open ?? 0),
    ret: bucketChanges(o?.bits ?? null, n?.bits ?? null),
    exits: exitChanges(o?.exit ?? -1, n?.exit ?? -1),
    ...NO_PLAY,
  };
}

function startupChanges(o: PlayContribution | null, n: PlayContribution | null): [number, number][] {
  const from = o?.startup == null ? -1 : startupBucket(o.startup);
  const to = n?.startup == null ? -1 : startupBucket(n.startup);
  return exitChanges(from, to);
}

/** old → new of one play whose windows are the same (either may be absent). */
function playDeltaOf(o: PlayContribution | null, n: PlayContribution | null): Delta {
  const measured = (c: PlayContribution | null): number => (c && c.startup !== null ? 1 : 0);
  return {
    views: 0,
    watch: 0,
    pct: 0,
    measured: 0,
    completions: 0,
    open: 0,
    ret: [],
    exits: [],
    plays: (n ? 1 : 0) - (o ? 1 : 0),
    startupMeasured: measured(n) - measured(o),
    rebufferMs: (n?.rebufferMs ?? 0) - (o?.rebufferMs ?? 0),
    playWatch: (n?.watch ?? 0) - (o?.watch ?? 0),
    rebuffers: (n?.rebuffers ?? 0) - (o?.rebuffers ?? 0),
    stalled: (n && n.rebuffers > 0 ? 1 : 0) - (o && o.rebuffers > 0 ? 1 : 0),
    failures: (n?.failed ?? 0) - (o?.failed ?? 0),
    openPlays: (n?.open ?? 0) - (o?.open ?? 0),
    startup: startupChanges(o, n),
  };
}

const isZero = (d: Delta): boolean =>
  d.views === 0 &&
  d.watch === 0 &&
  d.pct === 0 &&
  d.measured === 0 &&
  d.completions === 0 &&
  d.open === 0 &&
  d.ret.length === 0 &&
  d.exits.length === 0 &&
  d.plays === 0 &&
  d.startupMeasured === 0 &&
  d.rebufferMs === 0 &&
  d.playWatch === 0 &&
  d.rebuffers === 0 &&
  d.stalled === 0 &&
  d.failures === 0 &&
  d.openPlays === 0 &&
  d.startup.length === 0;

export const sameTargets = (a: ViewContribution, b: ViewContribution): boolean =>
  a.t === b.t &&
  a.video === b.video &&
  a.creator === b.creator &&
  a.country === b.country &&
  a.device === b.device &&
  a.os === b.os &&
  a.source === b.source &&
  a.referrer === b.referrer;

/** A row set a view or play counts in: (dim, id, value). */
type Target = [RollupDim, string, string];

/** A contribution's targets, and the window key of each per grain (grain-major). */
interface Keys {
  targets: Target[];
  keys: string[];
  /** per grain, the start of the contribution's window and the watermark that closes it */
  starts: number[];
  closeAt: number[];
  /** the open entry each key was last found at (re-read once it is `gone`) */
  entries: (Entry | undefined)[];
}

/**
 * Where a contribution keeps its Keys: a symbol, so JSON (the state) leaves it out. A copy
 * made by spreading carries it along — make one only when the targets and the time stay.
 */
const KEYS = Symbol('rollup keys');
type Keyed = { [KEYS]?: Keys };

/** The (dim, id, value) row sets a play counts in: its video and its creator. */
function playTargetsOf(c: PlayContribution): Target[] {
  const out: Target[] = [['video', c.video, '']];
  if (c.creator !== '') out.push(['creator', c.creator, '']);
  return out;
}

/** The (dim, id, value) row sets a view counts in. */
function targetsOf(c: ViewContribution): Target[] {
  const out: Target[] = [['video', c.video, '']];
  if (c.creator !== '') out.push(['creator', c.creator, '']);
  out.push(['country', c.video, c.country], ['device', c.video, c.device], ['os', c.video, c.os]);
  out.push(['traffic_source', c.video, c.source]);
  if (c.source === 'suggested') out.push(['referrer', c.video, c.referrer]);
  if (c.creator !== '') out.push(['creator_country', c.creator, c.country], ['creator_device', c.creator, c.device]);
  return out;
}

/** One row of `engagement_rollup` (schemas/clickhouse/010_engagement_rollup.sql); times are epoch ms. */
export interface RollupRow {
  dim: RollupDim;
  id: string;
  value: string;
  grain: RollupGrain;
  window_start: number;
  kafka_partition: number;
  seq: number;
  version: number;
  views: number;
  watch_ms: number;
  percent_viewed_micros: number;
  percent_measured_views: number;
  completions: number;
  open_views: number;
  /** per percent 0..100 the views covering it (video rows; empty otherwise) */
  retention: number[];
  /** per percent 0..100 the views that left there after a stall (video rows; empty otherwise) */
  stall_exits: number[];
  /** plays (sessions with a play_start) whose first event lies in the window */
  plays: number;
  startup_measured: number;
  rebuffer_ms: number;
  play_watch_ms: number;
  rebuffers: number;
  plays_with_rebuffer: number;
  failures: number;
  open_plays: number;
  /** startup-time histogram: bucket keys ascending (startupBucket) and their counts; summed with sumMap */
  startup_buckets: number[];
  startup_counts: number[];
  is_final: number;
}

interface Entry extends Sums {
  dim: RollupDim;
  id: string;
  value: string;
  grain: RollupGrain;
  start: number;
  /** the retention and stall-exit counters (video rows), null otherwise */
  ret: number[] | null;
  exits: number[] | null;
  /** 0, or the offset of the record that opened the window again after it had closed */
  seq: number;
  /** offset of the last change */
  offset: number;
  /** set (in memory) once the window closed and the entry left the state */
  gone?: true;
  /** in memory: the drain it was last listed for (a symbol: not part of the state) */
  [DRAINED]?: number;
}

const DRAINED = Symbol('drain listed');

export interface RollupOptions {
  /** How long after its end a window with no open session still accepts changes in place. */
  graceMs: number;
}

const GRAINS: readonly [RollupGrain, TimeWindows][] = [
  ['minute', TimeWindows.tumbling(MINUTE)],
  ['hour', TimeWindows.tumbling(HOUR)],
  ['day', TimeWindows.tumbling(DAY)],
];

/** Versions: twice the offset, plus one for the final write, so "final" wins a tie. */
const version = (offset: number, final: boolean): number => offset * 2 + (final ? 1 : 0);

/**
 * What a row holds for an empty array (most rows' retention, stall exits and startup
 * histogram): one shared, frozen array instead of four fresh ones per row.
 */
const EMPTY: number[] = Object.freeze([]) as unknown as number[];

/** An entry's sums in the order a saved entry holds them (after dim, id, value, grain, start, seq, offset). */
const SAVED_SUMS = [
  'views',
  'watch',
  'pct',
  'measured',
  'completions',
  'open',
  'plays',
  'startupMeasured',
  'rebufferMs',
  'playWatch',
  'rebuffers',
  'stalled',
  'failures',
  'openPlays',
] as const satisfies readonly (keyof Sums)[];
const SAVED_AT = 7; // where the sums start
// Every sum is saved: a field of Sums missing from SAVED_SUMS does not compile.
const ALL_SUMS_SAVED: Exclude<keyof Sums, (typeof SAVED_SUMS)[number] | 'startup'> extends never ? true : false = true;
void ALL_SUMS_SAVED;
type Saved = [RollupDim, string, string, RollupGrain, number, number, number, ...unknown[]];

/**
 * An entry as the changelog holds it: positional (field names were half its bytes), and its
 * 101 retention and stall-exit counters without their trailing zeros (a short view covers
 * only the first percents; exits are mostly all zero). `restoredEntry` reads it back, and the
 * object form that earlier versions saved too.
 */
function savedEntry(e: Entry): unknown {
  const out: unknown[] = [e.dim, e.id, e.value, e.grain, e.start, e.seq, e.offset];
  for (const k of SAVED_SUMS) out.push(e[k]);
  out.push(e.startup, e.ret && trimmedCopy(e.ret), e.exits && trimmedCopy(e.exits));
  return out;
}

function restoredEntry(saved: unknown): Entry {
  // one saved as an object (before the positional form) has an entry's fields: made positional
  const v = Array.isArray(saved) ? saved : (savedEntry(saved as Entry) as unknown[]);
  const [dim, id, value, grain, start, seq, offset] = v as Saved;
  const e = newEntry(dim, id, value, grain, start, seq, offset);
  SAVED_SUMS.forEach((k, i) => (e[k] = v[SAVED_AT + i] as number));
  const rest = SAVED_AT + SAVED_SUMS.length;
  const [startup, ret, exits] = v.slice(rest) as [[number, number][], number[] | null, number[] | null];
  e.startup = startup.map(([k, c]): [number, number] => [k, c]);
  // copies: a state handed over in memory (not through JSON) may hold the shared EMPTY
  e.ret = ret && [...ret];
  e.exits = exits && [...exits];
  return e;
}

/**
 * A copy without trailing zeros: what a row holds of its 101 counters. sumForEach sums arrays
 * of any lengths element by element (a missing element adds nothing), so the sums are the same;
 * a short view covers only the first percents, and most windows saw no stall exit, so a video
 * row's text shrank from 400 bytes of counters to what its views covered.
 */
function trimmedCopy(xs: readonly number[]): number[] {
  let n = xs.length;
  while (n > 0 && xs[n - 1] === 0) n--;
  return n === 0 ? EMPTY : xs.slice(0, n);
}

function newEntry(
  dim: RollupDim,
  id: string,
  value: string,
  grain: RollupGrain,
  start: number,
  seq: number,
  offset: number,
): Entry {
  const withBuckets = dim === 'video';
  return {
    dim,
    id,
    value,
    grain,
    start,
    views: 0,
    watch: 0,
    pct: 0,
    measured: 0,
    completions: 0,
    open: 0,
    // grown as views cover later percents (addBuckets): most never reach 100 %, and most
    // windows see no stall exit, so 101 zeros per counter were most of an entry's bytes
    ret: withBuckets ? [] : null,
    exits: withBuckets ? [] : null,
    plays: 0,
    startupMeasured: 0,
    rebufferMs: 0,
    playWatch: 0,
    rebuffers: 0,
    stalled: 0,
    failures: 0,
    openPlays: 0,
    startup: [],
    seq,
    offset,
  };
}

function addTo(x: Entry, d: Delta): void {
  x.views += d.views;
  x.watch += d.watch;
  x.pct += d.pct;
  x.measured += d.measured;
  x.completions += d.completions;
  x.open += d.open;
  x.plays += d.plays;
  x.startupMeasured += d.startupMeasured;
  x.rebufferMs += d.rebufferMs;
  x.playWatch += d.playWatch;
  x.rebuffers += d.rebuffers;
  x.stalled += d.stalled;
  x.failures += d.failures;
  x.openPlays += d.openPlays;
  if (d.startup.length) addPairs(x.startup, d.startup);
  if (x.ret) addBuckets(x.ret, d.ret);
  if (x.exits) addBuckets(x.exits, d.exits);
}

/**
 * Adds changes to [key, count] pairs in place, keeping them ascending by key with zero counts
 * left out (a handful of startup buckets: a scan, no map and no sort per change).
 */
function addPairs(pairs: [number, number][], changes: readonly [number, number][]): void {
  for (const [k, c] of changes) {
    let i = 0;
    while (i < pairs.length && pairs[i]![0] < k) i++;
    const at = pairs[i];
    if (at !== undefined && at[0] === k) {
      at[1] += c;
      if (at[1] === 0) pairs.splice(i, 1);
    } else if (c !== 0) pairs.splice(i, 0, [k, c]);
  }
}

/** Adds [bucket, ±1] changes to counters that hold the buckets below their length (the rest are 0). */
function addBuckets(into: number[], changes: readonly [number, number][]): void {
  for (const [b, s] of changes) {
    while (into.length <= b) into.push(0);
    into[b]! += s;
  }
}

/** The rollup of one partition: open windows (keyed state), and rows for the next drain. */
export class RollupStore implements StatePart {
  private readonly open = new Tracked<Entry>('eg:', savedEntry);
  /** open windows changed since the last drain, each listed once (marked with the drain's number) */
  private changed: Entry[] = [];
  private drains = 0;
  private readonly rows: RollupRow[] = [];
  /** late deltas since the last drain, by window key and offset (written as final rows with seq = offset) */
  private readonly lateRows = new Map<string, Entry>();
  private readonly grains: readonly [RollupGrain, TimeWindows][];
  /**
   * In memory only (rebuilt on restore): the open windows' keys by the watermark that closes
   * them, so closeWindows() visits the windows that are due (and those an open session still
   * holds open), not every window held.
   */
  private readonly closing = new DueQueue<Entry>();
  /**
   * Windows past their close that an open view or play holds, out of `closing` until the last
   * of those closes (an add that brings its open counts to zero queues it again) — so a close
   * does not re-check them every minute the session stays open. In memory only: after a
   * restore, the first close finds them again.
   */
  private readonly held = new WeakSet<Entry>();

  constructor(
    readonly partition: number,
    options: RollupOptions,
  ) {
    this.grains = GRAINS.map(([g, w]) => [g, w.grace(options.graceMs)] as [RollupGrain, TimeWindows]);
  }

  /** Open windows held (a gauge of the state's size). */
  get size(): number {
    return this.open.size;
  }

  /**
   * The rows a contribution counts in — its targets, and per grain and target the window key —
   * built once per view or play, not per event: a contribution that changes without moving
   * (the same targets and time) inherits its predecessor's. Profiled, building and hashing
   * fresh keys for every event was the engagement processor's largest cost.
   */
  private keysOf<C extends { t: number }>(c: C, targetsOf: (c: C) => Target[]): Keys {
    const keyed = c as Keyed;
    let k = keyed[KEYS];
    if (!k) {
      const list = targetsOf(c);
      const keys: string[] = [];
      const starts: number[] = [];
      const closeAt: number[] = [];
      for (const [grain, windows] of this.grains) {
        const w = windows.windowFor(c.t);
        starts.push(w.start);
        closeAt.push(windows.closesAt(w));
        for (const [dim, id, value] of list) keys.push(`${dim}\u0000${id}\u0000${value}\u0000${grain}\u0000${w.start}`);
      }
      keyed[KEYS] = k = { targets: list, keys, starts, closeAt, entries: [] };
    }
    return k;
  }

  /** `after` counts in the same rows as `before`: it shares its keys. */
  private inherit(before: object, after: object): void {
    const b = before as Keyed;
    const a = after as Keyed;
    if (a[KEYS] === undefined && b[KEYS] !== undefined) a[KEYS] = b[KEYS];
  }

  /**
   * A view changed from `before` to `after` (null: it did not count, or no longer does) at the
   * record at `offset`. Returns true when a window it changed was closed already (a late change).
   */
  change(before: ViewContribution | null, after: ViewContribution | null, offset: number, watermark: number): boolean {
    if (before === null && after === null) return false;
    if (before !== null && after !== null && sameTargets(before, after)) {
      this.inherit(before, after);
      return this.add(after, this.keysOf(after, targetsOf), deltaOf(before, after), offset, watermark);
    }
    let late = false;
    if (before !== null)
      late = this.add(before, this.keysOf(before, targetsOf), deltaOf(before, null), offset, watermark) || late;
    if (after !== null)
      late = this.add(after, this.keysOf(after, targetsOf), deltaOf(null, after), offset, watermark) || late;
    return late;
  }

  /** The same for a play (null: the session has no play_start). */
  changePlay(
    before: PlayContribution | null,
    after: PlayContribution | null,
    offset: number,
    watermark: number,
  ): boolean {
    if (before === null && after === null) return false;
    const same =
      before !== null &&
      after !== null &&
      before.t === after.t &&
      before.video === after.video &&
      before.creator === after.creator;
    if (same) {
      this.inherit(before, after);
      return this.add(after, this.keysOf(after, playTargetsOf), playDeltaOf(before, after), offset, watermark);
    }
    let late = false;
    if (before !== null)
      late = this.add(before, this.keysOf(before, playTargetsOf), playDeltaOf(before, null), offset, watermark) || late;
    if (after !== null)
      late = this.add(after, this.keysOf(after, playTargetsOf), playDeltaOf(null, after), offset, watermark) || late;
    return late;
  }

  private add(
    c: { open: number },
    { targets, keys, starts, closeAt, entries }: Keys,
    d: Delta,
    offset: number,
    watermark: number,
  ): boolean {
    if (isZero(d)) return false;
    let late = false;
    let k = 0;
    for (let g = 0; g < this.grains.length; g++) {
      const grain = this.grains[g]![0];
      const start = starts[g]!;
      for (const [dim, id, value] of targets) {
        const i = k++;
        const key = keys[i]!;
        let entry = entries[i];
        if (entry === undefined || entry.gone) entries[i] = entry = this.open.get(key);
        const closed = !entry && watermark >= closeAt[g]!;
        // An open view always lives in an open row: one that closed is opened again.
        if (!entry && (!closed || c.open === 1)) {
          entry = newEntry(dim, id, value, grain, start, closed ? offset : 0, offset);
          this.open.set(key, entry);
          this.closing.add(closeAt[g]!, key, entry);
          entries[i] = entry;
        }
        if (entry) {
          addTo(entry, d);
          // changes deferred to a flush arrive in session order, not offset order
          if (offset > entry.offset) entry.offset = offset;
          this.open.touchValue(key, entry);
          if (entry[DRAINED] !== this.drains) {
            entry[DRAINED] = this.drains;
            this.changed.push(entry);
          }
          // the last open view or play of a held window closed: due at the next close
          if ((d.open < 0 || d.openPlays < 0) && entry.open === 0 && entry.openPlays === 0 && this.held.has(entry)) {
            this.held.delete(entry);
            this.closing.add(closeAt[g]!, key, entry);
          }
          continue;
        }
        // A closed session's change to a closed window: a delta row of its own, keyed by the record.
        late = true;
        const lateKey = `${key}\u0000${offset}`;
        let delta = this.lateRows.get(lateKey);
        if (!delta) this.lateRows.set(lateKey, (delta = newEntry(dim, id, value, grain, start, offset, offset)));
        addTo(delta, d);
      }
    }
    return late;
  }

  /** Writes a final row for every window the watermark closed and no open session feeds, and forgets it. */
  closeWindows(watermark: number): void {
    this.closing.takeDue(watermark, (key, e) => {
      if (e.open !== 0 || e.openPlays !== 0) {
        this.held.add(e); // queued again once they close
        return;
      }
      this.rows.push(this.row(e, true));
      this.open.delete(key);
      e.gone = true; // so the drain leaves it out: its final row is written
    });
  }

  /** Rows since the last drain: late deltas, closed windows, and open windows that changed. */
  drain(): RollupRow[] {
    for (const e of this.lateRows.values()) this.rows.push(this.row(e, true));
    for (const e of this.changed) if (!e.gone) this.rows.push(this.row(e, false));
    this.changed = [];
    this.drains++;
    this.lateRows.clear();
    return this.rows.splice(0, this.rows.length);
  }

  private row(e: Entry, final: boolean): RollupRow {
    return {
      dim: e.dim,
      id: e.id,
      value: e.value,
      grain: e.grain,
      window_start: e.start,
      kafka_partition: this.partition,
      seq: e.seq,
      version: version(e.offset, final),
      views: e.views,
      watch_ms: e.watch,
      percent_viewed_micros: e.pct,
      percent_measured_views: e.measured,
      completions: e.completions,
      open_views: e.open,
      retention: e.ret ? trimmedCopy(e.ret) : EMPTY,
      stall_exits: e.exits ? trimmedCopy(e.exits) : EMPTY,
      plays: e.plays,
      startup_measured: e.startupMeasured,
      rebuffer_ms: e.rebufferMs,
      play_watch_ms: e.playWatch,
      rebuffers: e.rebuffers,
      plays_with_rebuffer: e.stalled,
      failures: e.failures,
      open_plays: e.openPlays,
      startup_buckets: e.startup.length === 0 ? EMPTY : e.startup.map((x) => x[0]),
      startup_counts: e.startup.length === 0 ? EMPTY : e.startup.map((x) => x[1]),
      is_final: final ? 1 : 0,
    };
  }

  collect(out: StateEntries): void {
    this.open.collect(out);
  }

  all(out: StateEntries): void {
    this.open.all(out);
  }

  static restore(partition: number, options: RollupOptions, state: RestoredState): RollupStore {
    const store = new RollupStore(partition, options);
    store.open.restore(state, restoredEntry);
    const windowsOf = new Map(store.grains);
    for (const [key, e] of store.open) {
      const windows = windowsOf.get(e.grain)!;
      store.closing.add(windows.closesAt({ start: e.start, end: e.start + windows.sizeMs }), key, e);
    }
    return store;
  }
}
