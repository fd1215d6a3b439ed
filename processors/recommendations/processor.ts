// The recommendations processor: the item-to-item co-view graph. Per viewer (play events are
// keyed by viewer, so a viewer's events are all in one partition, in order), it cuts session
// windows with an inactivity gap (default 30 min) over QUALIFIED views and, when a window is
// closed, writes what it implies: one observation per video of the window and one per pair
// of its distinct videos (first `maxVideosPerWindow` by time). Pure: the runtime feeds it
// records and writes what it drains.
//
// Qualified views. A playback session qualifies at its candidate view time (docs/semantics.md,
// "Views", rule 1; PlaybackState computes it exactly as view-counts does). A session's
// candidate can still move or vanish while it is open (an out-of-order event changes the
// watch-time sums), so a view is used only once its session is CLOSED (PlaybackState.closeIdle:
// its last event + 30 min + 5 min behind the watermark) — then it is final. The 30-minute
// repeat cap (rule 2) is deliberately NOT applied: it only drops a second qualifying session
// of the same video less than 30 minutes after a counted one, which lies in the same co-view
// window anyway (gap = 30 min), where each video is kept once, at its earliest time. What the
// cap would change is only whether that re-watch keeps the viewer's window open — and it
// should: the viewer was active. Using the uncapped views also avoids the cap's flips
// (a late event can make an earlier session count instead), which would retract pairs.
//
// Closing a window. A viewer's window [first, last] closes once the watermark reaches
// last + gap + grace AND no open playback session of the viewer began before last + gap (that
// session's view could still land within the window's reach). Windows of one viewer close in
// time order; the processor remembers, per viewer, where its closed history ends
// (`closedThrough` = last + gap of the newest closed window) for as long as a session could
// still bring an older view (PlaybackState accepts events up to 24 h behind the watermark).
// A view that becomes final before `closedThrough` — possible only when a whole session
// arrives more than `grace` late — is set aside and recorded in late_events
// (applied = 0, reason coview_window_closed), keyed by the last record applied to its session.
//
// Effectively once. The rows are observations for Null tables whose materialized views fold
// them into uniqExact(viewer_id) states per day (schemas/clickhouse/006_recommendations.sql).
// A set cannot count a member twice, so rows written again after a crash — replayed from the
// last checkpoint by this deterministic processor, which re-derives exactly the same
// observations — or by a zombie instance change nothing: the union of what was written is the
// same set a clean run writes. No versions, no keys, no coordination needed; and the counts
// are exact (uniqExact), so crash and clean runs can be compared number for number.
import type { PlayEvent } from '../../schemas/types.js';
import { TABLES } from '../../schemas/tables.js';
import { drop, ok, type Outcome } from '../outcome.js';
import {
  CLOSED_MEMORY_MS,
  playbackOptions,
  PlaybackState,
  type ApplyResult,
  type PlaybackOptions,
} from '../playback/state.js';
import { checkPlayEvent } from '../rules.js';
import { LATE_EVENTS_TABLE, lateEventRow, lateRow, WATERMARKS_TABLE, watermarkRow } from '../rows.js';
import {
  pushRows,
  type VideoLookup,
  type InputRecord,
  type OutputRows,
  type PartitionProcessor,
  type ProcessorDefinition,
  type TableSpec,
} from '../contract.js';
import { SessionWindows } from '../windows.js';
import { ExpiryQueue } from '../expiry.js';
import { MINUTE } from '../../lib/time.js';
import {
  addView,
  windowObservations,
  type CoviewWindow,
  type PairObservation,
  type VideoObservation,
} from './coview.js';
import { RECOMMENDATIONS } from '../semantics.js';
import { DEFAULT_RULE_PARAMETERS, validateRuleParameters, type RuleParameters } from '../parameters.js';
import { restoredState, Tracked, type RestoredState, type StateEntries, stateOf } from '../keyed-state.js';

export const NAME = RECOMMENDATIONS;

/** Null tables: plain appends, no key — the uniqExact states downstream make repeats harmless. */
export const PAIR_OBSERVATIONS_TABLE: TableSpec = { name: TABLES.recommendationPairObservations };
export const VIDEO_OBSERVATIONS_TABLE: TableSpec = { name: TABLES.recommendationVideoObservations };

export interface RecommendationsOptions {
  playback: PlaybackOptions;
  /** Inactivity gap that ends a co-view window (DESIGN: 30 min). */
  gapMs: number;
  /** A window closes this long after last view + gap (watermark), if no open session can still reach it. */
  graceMs: number;
  /** Distinct videos per window that form pairs: the first N by view time. */
  maxVideosPerWindow: number;
}

/** Distinct videos per co-view window that form pairs (a bound on the pairs, not a rule parameter). */
export const MAX_VIDEOS_PER_WINDOW = 20;

/** The options a set of rule parameters implies: a co-view window is a session window of the viewer's views. */
export const recommendationsOptions = (rules: RuleParameters): RecommendationsOptions => ({
  playback: playbackOptions(rules),
  gapMs: rules.sessionGapMs,
  graceMs: rules.sessionGraceMs,
  maxVideosPerWindow: MAX_VIDEOS_PER_WINDOW,
});

export const DEFAULT_RECOMMENDATIONS: RecommendationsOptions = recommendationsOptions(DEFAULT_RULE_PARAMETERS);

/** What is not keyed: observations not drained yet (normally none: the runtime drains first) and the close point. */
interface Unkeyed {
  pairs: PairObservation[];
  videos: VideoObservation[];
  lastCloseMinute: number | null;
}

export class RecommendationsPartition implements PartitionProcessor<PlayEvent> {
  private readonly playback: PlaybackState;
  private readonly windows: SessionWindows;
  /** viewer → open co-view windows */
  private readonly open = new Tracked<CoviewWindow[]>('ro:');
  /** Insertion order = order of the last update, so the oldest are found first. */
  private readonly closedThrough = new Tracked<number>('rt:');
  /** open playback session → [offset, event_id] of the last record applied to it */
  private readonly lastRecord = new Tracked<[number, string]>('rl:');
  private readonly pairs = new Map<string, PairObservation>();
  private readonly videos = new Map<string, VideoObservation>();
  private readonly out: OutputRows = new Map();
  private lastCloseMinute = Number.NEGATIVE_INFINITY;
  private lastOffset = -1;
  /**
   * In memory only (rebuilt on restore): viewers with open co-view windows by the watermark at
   * which their oldest window closes, and each viewer's open playback sessions — so a close
   * visits the viewers whose oldest window came due and those whose sessions closed (the only
   * two things that let a window close), not every viewer and every open session each minute.
   */
  private readonly windowExpiry = new ExpiryQueue();
  private readonly openSessions = new Map<string, Set<string>>();

  constructor(
    readonly partition: number,
    state: RestoredState,
    private readonly catalog: VideoLookup,
    readonly options: RecommendationsOptions = DEFAULT_RECOMMENDATIONS,
  ) {
    if (!Number.isSafeInteger(options.maxVideosPerWindow) || options.maxVideosPerWindow < 2)
      throw new RangeError('maxVideosPerWindow must be a whole number ≥ 2');
    this.playback = PlaybackState.restore(options.playback, state);
    this.windows = SessionWindows.withInactivityGap(options.gapMs).grace(options.graceMs);
    this.open.restore(state, (v) => v as CoviewWindow[]);
    this.closedThrough.restore(state, (v) => v as number);
    this.lastRecord.restore(state, (v) => v as [number, string]);
    const rest = state.get('r:meta') as Unkeyed | undefined;
    for (const p of rest?.pairs ?? []) this.addPair(p);
    for (const v of rest?.videos ?? []) this.addVideo(v);
    if (rest?.lastCloseMinute != null) this.lastCloseMinute = rest.lastCloseMinute;
    for (const session of this.playback.sessions.values()) this.sessionOpen(session.viewerId, session.sessionId);
    for (const [viewer, ws] of this.open) this.queueWindows(viewer, ws);
  }

  private sessionOpen(viewer: string, sessionId: string): void {
    let ids = this.openSessions.get(viewer);
    if (!ids) this.openSessions.set(viewer, (ids = new Set()));
    ids.add(sessionId);
  }

  /** Due once the watermark reaches the close of the viewer's oldest open window. */
  private queueWindows(viewer: string, ws: readonly CoviewWindow[]): void {
    this.windowExpiry.add(this.windows.closesAt(ws[0]!.first, ws[0]!.last), viewer);
  }

  get watermark(): number {
    return this.playback.watermark.current;
  }

  /** Viewers with open co-view windows, and viewers whose closed history is remembered. */
  get stateSize(): { openViewers: number; closedViewers: number; openSessions: number } {
    return {
      openViewers: this.open.size,
      closedViewers: this.closedThrough.size,
      openSessions: this.playback.sessions.size,
    };
  }

  process(record: InputRecord<PlayEvent>): Outcome {
    this.lastOffset = record.offset;
    const invalid = checkPlayEvent(record.value);
    if (invalid) return invalid;
    const e = record.value;
    const result = this.playback.apply(e, this.catalog.get(e.video_id));
    const outcome = this.handle(record, result);
    // Closing is checked once per minute of watermark progress: cheap, and deterministic.
    const minute = Math.floor(this.watermark / MINUTE);
    if (minute > this.lastCloseMinute) {
      this.lastCloseMinute = minute;
      this.close(record.offset);
    }
    return outcome;
  }

  private handle(record: InputRecord<PlayEvent>, result: ApplyResult): Outcome {
    switch (result.kind) {
      case 'duplicate':
      case 'session_too_long':
        return drop(result.kind);
      case 'session_closed':
      case 'session_folded':
        pushRows(this.out, TABLES.lateEvents, [lateEventRow(NAME, record, this.watermark, false, result.kind)]);
        return drop(result.kind);
      case 'applied':
        this.lastRecord.set(record.value.session_id, [record.offset, record.value.event_id]);
        this.sessionOpen(record.value.viewer_id, record.value.session_id);
        return ok;
    }
  }

  private close(offset: number): void {
    const wm = this.watermark;
    // viewers whose windows may close now: their oldest came due, or a session of theirs closed
    const check = new Set<string>();
    // 1. Sessions closed now: their views are final.
    for (const s of this.playback.closeIdle()) {
      const ids = this.openSessions.get(s.viewerId);
      ids?.delete(s.sessionId);
      if (ids?.size === 0) this.openSessions.delete(s.viewerId);
      check.add(s.viewerId);
      const last = this.lastRecord.get(s.sessionId) ?? [offset, s.agg.last!.id];
      this.lastRecord.delete(s.sessionId);
      const t = s.agg.candidate;
      if (t === null) continue;
      const through = this.closedThrough.get(s.viewerId);
      if (through !== undefined && t < through) {
        const at = {
          partition: this.partition,
          offset: last[0],
          event_id: last[1],
          video_id: s.videoId,
          event_time: t,
        };
        pushRows(this.out, TABLES.lateEvents, [lateRow(NAME, at, wm, false, 'coview_window_closed')]);
        continue;
      }
      this.open.set(
        s.viewerId,
        addView(this.open.get(s.viewerId) ?? [], s.videoId, t, this.windows, this.options.maxVideosPerWindow),
      );
    }
    // 2. Close the windows nothing can reach any more, oldest first: closed by the watermark,
    //    and no open playback session of the viewer began before the window's reach (its view
    //    could still land there). A window held by a session is checked again when that closes.
    this.windowExpiry.due(wm + 1, (viewer) => {
      check.add(viewer);
      return false;
    });
    for (const viewer of check) this.closeWindowsOf(viewer, wm);
    // 3. Forget closed histories no view can reach: nothing open, and older than any event
    //    PlaybackState still accepts (so every later view is newer).
    for (const [viewer, through] of this.closedThrough) {
      if (through >= wm - CLOSED_MEMORY_MS) break;
      if (this.open.has(viewer) || this.openSessions.has(viewer)) continue;
      this.closedThrough.delete(viewer);
    }
  }

  private closeWindowsOf(viewer: string, wm: number): void {
    const ws = this.open.get(viewer);
    if (!ws) return;
    let blockedFrom = Number.POSITIVE_INFINITY;
    for (const id of this.openSessions.get(viewer) ?? []) {
      const first = this.playback.sessions.get(id)?.agg.first?.t;
      if (first !== undefined && first < blockedFrom) blockedFrom = first;
    }
    const gap = this.options.gapMs;
    let n = 0;
    for (const w of ws) {
      const reach = w.last + gap;
      if (!this.windows.isClosed(w.first, w.last, wm) || blockedFrom < reach) break;
      this.emit(viewer, w);
      const prev = this.closedThrough.get(viewer);
      this.closedThrough.reinsert(viewer, prev === undefined ? reach : Math.max(prev, reach));
      n++;
    }
    if (n === ws.length) {
      this.open.delete(viewer);
      return;
    }
    const rest = n > 0 ? ws.slice(n) : ws;
    if (n > 0) this.open.set(viewer, rest);
    // not closed by the watermark yet: due at its close; held by a session: checked when that closes
    if (!this.windows.isClosed(rest[0]!.first, rest[0]!.last, wm)) this.queueWindows(viewer, rest);
  }

  private emit(viewer: string, w: CoviewWindow): void {
    const { videos, pairs } = windowObservations(viewer, w);
    for (const v of videos) this.addVideo(v);
    for (const p of pairs) this.addPair(p);
  }

  /** Buffers an observation; a repeat within one drain is written once (it would change nothing anyway). */
  private addPair(p: PairObservation): void {
    this.pairs.set(`${p.day}\u0000${p.video_a}\u0000${p.video_b}\u0000${p.viewer_id}`, p);
  }

  private addVideo(v: VideoObservation): void {
    this.videos.set(`${v.day}\u0000${v.video_id}\u0000${v.viewer_id}`, v);
  }

  drain(): OutputRows {
    pushRows(this.out, TABLES.recommendationVideoObservations, [...this.videos.values()]);
    pushRows(this.out, TABLES.recommendationPairObservations, [...this.pairs.values()]);
    this.videos.clear();
    this.pairs.clear();
    if (this.lastOffset >= 0)
      pushRows(this.out, TABLES.watermarks, [watermarkRow(NAME, this.partition, this.watermark, this.lastOffset)]);
    const rows = new Map(this.out);
    this.out.clear();
    return rows;
  }

  stateChanges(): StateEntries {
    return stateOf([this.playback, this.open, this.closedThrough, this.lastRecord], [this.unkeyed()], false);
  }

  snapshot(): StateEntries {
    return stateOf([this.playback, this.open, this.closedThrough, this.lastRecord], [this.unkeyed()], true);
  }

  private unkeyed(): [string, Unkeyed] {
    return [
      'r:meta',
      {
        pairs: [...this.pairs.values()],
        videos: [...this.videos.values()],
        lastCloseMinute: Number.isFinite(this.lastCloseMinute) ? this.lastCloseMinute : null,
      },
    ];
  }
}

/** The recommendations processor under `rules` (validated). */
export function recommendations(rules: RuleParameters = DEFAULT_RULE_PARAMETERS): ProcessorDefinition<PlayEvent> {
  const checked = validateRuleParameters(rules);
  const options = recommendationsOptions(checked);
  return {
    name: NAME,
    rules: checked,
    // Videos before pairs: a reader never sees a pair whose videos are not counted yet.
    tables: [VIDEO_OBSERVATIONS_TABLE, PAIR_OBSERVATIONS_TABLE, LATE_EVENTS_TABLE, WATERMARKS_TABLE],
    create: (partition, state, catalog) =>
      new RecommendationsPartition(partition, restoredState(state), catalog, options),
  };
}
