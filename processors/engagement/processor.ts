// The engagement processor: one full-value `sessions` row per playback session (watch time,
// percent viewed, completion, retention buckets, breakdown dimensions, QoE, whether it counts
// as a view), and viewer observations for unique and new-versus-returning viewers. Pure: the
// runtime feeds it records and writes what it drains.
//
// How a session row reaches ClickHouse exactly once, whatever crashes: `sessions` is a
// ReplacingMergeTree keyed by (video_id, session_id) with version = offset * 2 +
// closed (rows.ts). A session is rewritten, with its full current value,
//  - after every record that changed it, versioned by that record's offset;
//  - when the repeat cap flips whether it counts as a view because ANOTHER session of the same
//    viewer and video changed (a late event can make an earlier session qualify first), at the
//    offset of the record that caused the flip — also when it is closed already: a closed
//    session's last row is kept for as long as PlaybackState still holds its view candidate
//    (PlaybackState.isCandidate), i.e. exactly as long as its status can still flip;
//  - a last time with closed = 1 when PlaybackState.closeIdle() closes it.
// Every write's (key, version) and values are functions of the checkpointed state and the
// records after it — closing is checked at the same records after a restore, since the minute
// of the last check is part of the snapshot — so a replay rewrites identical rows, and the row
// with the highest version is the same whether or not the processor crashed.
import type { PlayEvent } from '../../schemas/types.js';
import { pushAll } from '../../lib/arrays.js';
import { TABLES } from '../../schemas/tables.js';
import { drop, ok, type Outcome } from '../outcome.js';
import {
  groupKey,
  PlaybackState,
  playbackOptions,
  type ApplyResult,
  type PlaybackOptions,
  type SessionEntry,
  type VideoInfo,
} from '../playback/state.js';
import { checkPlayEvent } from '../rules.js';
import { LATE_EVENTS_TABLE, lateEventRow, WATERMARKS_TABLE, watermarkRow } from '../rows.js';
import {
  pushRows,
  type VideoLookup,
  type InputRecord,
  type OutputRows,
  type PartitionProcessor,
  type ProcessorDefinition,
  type TableSpec,
} from '../contract.js';
import { TimeWindows } from '../windows.js';
import { MINUTE } from '../../lib/time.js';
import {
  ObservationBuffer,
  rowVersion,
  sessionRow,
  type ObservationRow,
  type SessionMeta,
  type SessionRow,
} from './rows.js';
import { ENGAGEMENT } from '../semantics.js';
import { DEFAULT_RULE_PARAMETERS, validateRuleParameters, type RuleParameters } from '../parameters.js';
import { restoredState, Tracked, type RestoredState, type StateEntries, stateOf } from '../keyed-state.js';
import {
  playOfSession,
  refreshPlay,
  refreshView,
  RollupStore,
  sameTargets,
  sameViewTargets,
  viewOfRow,
  viewOfSession,
  type PlayContribution,
  type ViewContribution,
} from './rollup.js';
import { LiveIndex } from './live.js';
import { AudienceBuffer, type AudienceRow } from './audience.js';

export const NAME = ENGAGEMENT;

export const SESSIONS_TABLE: TableSpec = {
  name: TABLES.sessions,
  key: ['video_id', 'session_id'],
  version: 'version',
  times: ['first_seen_at', 'started_at', 'ended_at', 'view_time'],
};

/** Views summed per window, video, creator and breakdown value (rollup.ts). */
export const ROLLUP_TABLE: TableSpec = {
  name: TABLES.engagementRollup,
  key: ['dim', 'id', 'grain', 'window_start', 'value', 'kafka_partition', 'seq'],
  version: 'version',
  times: ['window_start'],
};

/** Per creator and partition, the sessions with an event in the last 2 minutes (live.ts). */
export const LIVE_TABLE: TableSpec = {
  name: TABLES.creatorLive,
  key: ['creator_id', 'kafka_partition'],
  version: 'version',
};

/** Counted views' viewers by creator, country and device: a Null table feeding uniq states. */
export const AUDIENCE_TABLE: TableSpec = {
  name: TABLES.audienceObservations,
  times: ['view_time'],
};

/** A Null table feeding uniq / min states: plain appends, no key. */
export const OBSERVATIONS_TABLE: TableSpec = {
  name: TABLES.viewerObservations,
  times: ['event_time'],
};

export interface EngagementOptions {
  playback: PlaybackOptions;
  /**
   * An event whose minute window the watermark passed more than this long ago is recorded as
   * late (applied: its session row is rewritten with a higher version), as view-counts does.
   */
  windowGraceMs: number;
}

/** The options a set of rule parameters implies. */
export const engagementOptions = (rules: RuleParameters): EngagementOptions => ({
  playback: playbackOptions(rules),
  windowGraceMs: rules.windowGraceMs,
});

export const DEFAULT_ENGAGEMENT: EngagementOptions = engagementOptions(DEFAULT_RULE_PARAMETERS);

/** What is not keyed: writes not drained yet (normally none: the runtime drains first) and the close point. */
interface Unkeyed {
  dirty: [string, number][];
  pending: SessionRow[];
  observations: ObservationRow[];
  audience?: AudienceRow[];
  lastCloseMinute: number | null;
}

/** Whether `sessionId` is among the counted views (a short list: a loop, no Set per event). */
function counts(views: readonly { sessionId: string }[], sessionId: string): boolean {
  for (const c of views) if (c.sessionId === sessionId) return true;
  return false;
}

/**
 * Defers an open contribution's change to the next flush: a new one as of `s`, or — a
 * heartbeat again before that flush — the one already deferred, updated in place.
 */
function defer<C>(
  deferred: Map<string, [C, number]>,
  s: SessionEntry,
  offset: number,
  of: (s: SessionEntry, open: boolean) => C,
  refresh: (c: C, s: SessionEntry) => void,
): void {
  const d = deferred.get(s.sessionId);
  if (d === undefined) deferred.set(s.sessionId, [of(s, true), offset]);
  else {
    refresh(d[0], s);
    d[1] = offset;
  }
}

export class EngagementPartition implements PartitionProcessor<PlayEvent> {
  private readonly playback: PlaybackState;
  private readonly meta = new Tracked<SessionMeta>('em:');
  /** Closed sessions whose counted status can still flip → their last row. */
  private readonly retained = new Tracked<SessionRow>('er:');
  /**
   * The retained sessions by group (viewer and video), in memory only: a group's candidates
   * are forgotten only when its last open session closes, so a close checks the retained
   * sessions of the groups it closed sessions of, not every retained session.
   */
  private readonly retainedByGroup = new Map<string, Set<string>>();
  /** Open sessions changed since the last drain → offset of the last change. */
  private readonly dirty = new Map<string, number>();
  /** Rows of closed sessions to write at the next drain. */
  private readonly pending = new Map<string, SessionRow>();
  private readonly observations: ObservationBuffer;
  /** What each counted view (open, or closed and still able to flip) contributes to the rollup. */
  private readonly views = new Tracked<ViewContribution>('ev:');
  /** What each open session with a play_start contributes to the rollup's QoE sums. */
  private readonly plays = new Tracked<PlayContribution>('ep:');
  private readonly rollup: RollupStore;
  /**
   * Open counted views and open plays whose rollup contribution changed without moving (the
   * same rows) → the contribution as of the last record that changed it, and that record's
   * offset: applied to the rollup at the next flush (flushRollup) instead of at every record,
   * so the ~30 window rows of a view are updated once per drain, not once per heartbeat. In
   * memory only, always empty at a drain and at a checkpoint.
   */
  private readonly deferredViews = new Map<string, [ViewContribution, number]>();
  private readonly deferredPlays = new Map<string, [PlayContribution, number]>();
  private readonly live: LiveIndex;
  private readonly audience: AudienceBuffer;
  private readonly out: OutputRows = new Map();
  private readonly minutes: TimeWindows;
  private lastCloseMinute = Number.NEGATIVE_INFINITY;
  private lastOffset = -1;

  constructor(
    readonly partition: number,
    state: RestoredState,
    private readonly catalog: VideoLookup,
    readonly options: EngagementOptions = DEFAULT_ENGAGEMENT,
  ) {
    this.playback = PlaybackState.restore(options.playback, state);
    this.minutes = TimeWindows.tumbling(MINUTE).grace(options.windowGraceMs);
    this.meta.restore(state, (v) => ({ ...(v as SessionMeta) }));
    this.retained.restore(state, (v) => v as SessionRow);
    for (const [id, row] of this.retained) this.indexRetained(groupKey(row.viewer_id, row.video_id), id);
    this.views.restore(state, (v) => {
      const c = v as ViewContribution;
      return { ...c, bits: [...c.bits] as ViewContribution['bits'] };
    });
    this.plays.restore(state, (v) => ({ ...(v as PlayContribution) }));
    this.rollup = RollupStore.restore(partition, { graceMs: options.windowGraceMs }, state);
    const rest = state.get('e:meta') as Unkeyed | undefined;
    for (const [id, offset] of rest?.dirty ?? []) this.dirty.set(id, offset);
    for (const row of rest?.pending ?? []) this.pending.set(row.session_id, row);
    this.observations = ObservationBuffer.fromJSON(rest?.observations);
    this.audience = AudienceBuffer.fromJSON(rest?.audience);
    this.live = LiveIndex.rebuild(partition, this.playback.sessions.values(), this.watermark);
    if (rest?.lastCloseMinute != null) this.lastCloseMinute = rest.lastCloseMinute;
  }

  get watermark(): number {
    return this.playback.watermark.current;
  }

  process(record: InputRecord<PlayEvent>): Outcome {
    this.lastOffset = record.offset;
    const invalid = checkPlayEvent(record.value);
    if (invalid) return invalid;
    const e = record.value;
    const video = this.catalog.get(e.video_id);
    const result = this.playback.apply(e, video);
    const outcome = this.handle(record, video, result);
    // Closing is checked once per minute of watermark progress: cheap, and deterministic.
    const minute = Math.floor(this.watermark / MINUTE);
    if (minute > this.lastCloseMinute) {
      this.lastCloseMinute = minute;
      this.closeIdle(record.offset);
    }
    return outcome;
  }

  /** The record's effect: its observation, its session's row (versioned by its offset), late rows. */
  private handle(record: InputRecord<PlayEvent>, video: VideoInfo | undefined, result: ApplyResult): Outcome {
    const e = record.value;
    if (result.kind === 'duplicate') return drop('duplicate');
    // Every accepted event is an observation of its viewer, even one set aside below.
    const session = result.kind === 'applied' ? result.session : undefined;
    this.observations.add(e.video_id, video?.creatorId ?? '', e.viewer_id, e.event_time, session);
    if (result.kind === 'session_too_long') return drop('session_too_long');
    if (result.kind === 'session_closed' || result.kind === 'session_folded') {
      this.late(record, false, result.kind);
      return drop(result.kind);
    }
    this.applied(result, e, record.offset);
    if (this.minutes.isClosed(this.minutes.windowFor(e.event_time), this.watermark))
      this.late(record, true, 'window_closed');
    return ok;
  }

  /** A late_events row for the record (a method, not a closure per record: it is on the hot path). */
  private late(record: InputRecord<PlayEvent>, applied: boolean, reason: string): void {
    pushRows(this.out, TABLES.lateEvents, [lateEventRow(NAME, record, this.watermark, applied, reason)]);
  }

  private applied(result: Extract<ApplyResult, { kind: 'applied' }>, e: PlayEvent, offset: number): void {
    const s = result.session;
    const isCounted = counts(result.viewsAfter, s.sessionId);
    const meta = this.meta.get(s.sessionId);
    if (meta) {
      if (meta.counted !== isCounted) {
        meta.counted = isCounted;
        this.meta.touch(s.sessionId);
      }
    } else this.meta.set(s.sessionId, { firstSeenAt: e.event_time, counted: isCounted });
    this.dirty.set(s.sessionId, offset);
    const view = this.views.get(s.sessionId);
    if (isCounted && view !== undefined && view.open === 1 && sameViewTargets(view, s))
      defer(this.deferredViews, s, offset, viewOfSession, refreshView);
    else this.changeView(s.sessionId, isCounted ? viewOfSession(s, true) : null, offset);
    this.live.touch(s);
    const play = this.plays.get(s.sessionId);
    if (play !== undefined && s.agg.plays > 0 && play.open === 1 && play.t === s.agg.first!.t)
      defer(this.deferredPlays, s, offset, playOfSession, refreshPlay);
    else if (s.agg.plays > 0 || play !== undefined) {
      this.flushPlay(s.sessionId);
      const next = s.agg.plays > 0 ? playOfSession(s, true) : null;
      this.rollup.changePlay(this.plays.get(s.sessionId) ?? null, next, offset, this.watermark);
      if (next) this.plays.set(s.sessionId, next);
      else this.plays.delete(s.sessionId);
    }
    if (result.viewsAfter === result.viewsBefore) return;
    // The repeat cap may have flipped other sessions of this viewer and video.
    const counted = new Set(result.viewsAfter.map((c) => c.sessionId));
    const before = new Set(result.viewsBefore.map((c) => c.sessionId));
    const flipped = [...before].filter((id) => !counted.has(id));
    for (const id of counted) if (!before.has(id)) flipped.push(id);
    for (const id of flipped) {
      if (id === s.sessionId) continue;
      const other = this.meta.get(id);
      if (other) {
        const c = counted.has(id);
        if (other.counted !== c) {
          other.counted = c;
          this.meta.touch(id);
        }
        this.dirty.set(id, offset);
        this.changeView(id, c ? viewOfSession(this.playback.sessions.get(id)!, true) : null, offset);
        continue;
      }
      const last = this.retained.get(id);
      // A closed session is a candidate (so it can flip) exactly while it is retained.
      if (!last) continue;
      const row = { ...last, counted_view: counted.has(id) ? 1 : 0, version: rowVersion(offset, true) };
      this.retained.set(id, row);
      this.pending.set(id, row);
      this.changeView(id, row.counted_view ? viewOfRow(row) : null, offset);
    }
  }

  /** The viewer of a session this partition holds (open, or closed and retained). */
  private viewerOf(id: string): string {
    return this.playback.sessions.get(id)?.viewerId ?? this.retained.get(id)?.viewer_id ?? '';
  }

  /** A view's contribution to the rollup becomes `next` (null: it does not count) at `offset`. */
  private changeView(id: string, next: ViewContribution | null, offset: number): void {
    this.flushView(id);
    const prev = this.views.get(id) ?? null;
    if (prev === null && next === null) return;
    this.rollup.change(prev, next, offset, this.watermark);
    if (next && (prev === null || !sameTargets(prev, next))) this.audience.add(next, this.viewerOf(id));
    if (next) this.views.set(id, next);
    else this.views.delete(id);
  }

  /** Applies a deferred change of an open view (before anything else changes it). */
  private flushView(id: string): void {
    const deferred = this.deferredViews.get(id);
    if (deferred === undefined) return;
    this.deferredViews.delete(id);
    const [next, offset] = deferred;
    this.rollup.change(this.views.get(id)!, next, offset, this.watermark);
    this.views.set(id, next);
  }

  private flushPlay(id: string): void {
    const deferred = this.deferredPlays.get(id);
    if (deferred === undefined) return;
    this.deferredPlays.delete(id);
    const [next, offset] = deferred;
    this.rollup.changePlay(this.plays.get(id)!, next, offset, this.watermark);
    this.plays.set(id, next);
  }

  /**
   * Every deferred change, before the rollup drains or is checkpointed. A close needs only the
   * closing sessions' own: a deferred change keeps its view or play open in the same rows, so
   * no window it feeds can close, and sums added later are the same sums.
   */
  private flushRollup(): void {
    for (const id of this.deferredViews.keys()) this.flushView(id);
    for (const id of this.deferredPlays.keys()) this.flushPlay(id);
  }

  /** Final rows for the sessions the watermark closed; forgets rows that can no longer flip. */
  private closeIdle(offset: number): void {
    const closed: SessionEntry[] = this.playback.closeIdle();
    for (const s of closed) {
      this.flushView(s.sessionId);
      this.flushPlay(s.sessionId);
      const meta = this.meta.get(s.sessionId)!;
      const row = sessionRow(s, meta, this.partition, true, rowVersion(offset, true));
      this.pending.set(s.sessionId, row);
      this.dirty.delete(s.sessionId);
      this.meta.delete(s.sessionId);
      const keep = this.playback.isCandidate(s.viewerId, s.videoId, s.sessionId);
      if (keep) {
        this.retained.set(s.sessionId, row);
        this.indexRetained(s.group, s.sessionId);
      }
      // The view's windows may close now; its contribution is kept while it can still flip.
      const view = this.views.get(s.sessionId);
      if (view) {
        const closedView = { ...view, open: 0 };
        this.rollup.change(view, closedView, offset, this.watermark);
        if (keep) this.views.set(s.sessionId, closedView);
        else this.views.delete(s.sessionId);
      }
      // A closed play is final.
      const play = this.plays.get(s.sessionId);
      if (play) {
        this.rollup.changePlay(play, { ...play, open: 0 }, offset, this.watermark);
        this.plays.delete(s.sessionId);
      }
    }
    for (const s of closed) this.forgetSettled(s.group);
    this.rollup.closeWindows(this.watermark);
    this.live.prune(this.watermark);
  }

  private indexRetained(group: string, id: string): void {
    let ids = this.retainedByGroup.get(group);
    if (!ids) this.retainedByGroup.set(group, (ids = new Set()));
    ids.add(id);
  }

  /** Forgets the group's retained sessions that are no longer candidates (their status can no longer flip). */
  private forgetSettled(group: string): void {
    const ids = this.retainedByGroup.get(group);
    if (!ids) return;
    for (const id of ids) {
      const row = this.retained.get(id)!;
      if (this.playback.isCandidate(row.viewer_id, row.video_id, id)) continue;
      ids.delete(id);
      this.retained.delete(id);
      this.views.delete(id);
    }
    if (ids.size === 0) this.retainedByGroup.delete(group);
  }

  drain(): OutputRows {
    this.flushRollup();
    const sessions: SessionRow[] = [];
    for (const [id, offset] of this.dirty) {
      const s = this.playback.sessions.get(id)!;
      sessions.push(sessionRow(s, this.meta.get(id)!, this.partition, false, rowVersion(offset, false)));
    }
    this.dirty.clear();
    pushAll(sessions, this.pending.values());
    this.pending.clear();
    pushRows(this.out, TABLES.sessions, sessions);
    pushRows(this.out, TABLES.engagementRollup, this.rollup.drain());
    if (this.lastOffset >= 0) pushRows(this.out, TABLES.creatorLive, this.live.drain(this.watermark, this.lastOffset));
    pushRows(this.out, TABLES.viewerObservations, this.observations.drain());
    pushRows(this.out, TABLES.audienceObservations, this.audience.drain());
    if (this.lastOffset >= 0)
      pushRows(this.out, TABLES.watermarks, [watermarkRow(NAME, this.partition, this.watermark, this.lastOffset)]);
    const rows = new Map(this.out);
    this.out.clear();
    return rows;
  }

  /** Closed sessions whose last row is kept because the repeat cap can still flip them. */
  get retainedSessions(): number {
    return this.retained.size;
  }

  stateChanges(): StateEntries {
    this.flushRollup();
    return stateOf(
      [this.playback, this.meta, this.retained, this.views, this.plays, this.rollup],
      [this.unkeyed()],
      false,
    );
  }

  snapshot(): StateEntries {
    this.flushRollup();
    return stateOf(
      [this.playback, this.meta, this.retained, this.views, this.plays, this.rollup],
      [this.unkeyed()],
      true,
    );
  }

  private unkeyed(): [string, Unkeyed] {
    return [
      'e:meta',
      {
        dirty: [...this.dirty],
        pending: [...this.pending.values()],
        observations: this.observations.toJSON(),
        audience: this.audience.toJSON(),
        lastCloseMinute: Number.isFinite(this.lastCloseMinute) ? this.lastCloseMinute : null,
      },
    ];
  }
}

/** The engagement processor under `rules` (validated). */
export function engagement(rules: RuleParameters = DEFAULT_RULE_PARAMETERS): ProcessorDefinition<PlayEvent> {
  const checked = validateRuleParameters(rules);
  const options = engagementOptions(checked);
  return {
    name: NAME,
    rules: checked,
    tables: [
      SESSIONS_TABLE,
      ROLLUP_TABLE,
      LIVE_TABLE,
      OBSERVATIONS_TABLE,
      AUDIENCE_TABLE,
      LATE_EVENTS_TABLE,
      WATERMARKS_TABLE,
    ],
    create: (partition, state, catalog) => new EngagementPartition(partition, restoredState(state), catalog, options),
  };
}
