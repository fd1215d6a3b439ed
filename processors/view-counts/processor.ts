// The view-counts processor: plays, views and watch time per video and per creator, per
// minute (rolled up to hour and day), from play events. Pure: the runtime feeds it records
// and writes what it drains.
import type { PlayEvent } from '../../schemas/types.js';
import { TABLES } from '../../schemas/tables.js';
import { drop, ok, type Outcome } from '../outcome.js';
import { minuteOf } from '../playback/session.js';
import {
  PlaybackState,
  playbackOptions,
  type ApplyResult,
  type PlaybackOptions,
  type SessionEntry,
} from '../playback/state.js';
import type { Candidate } from '../playback/views.js';
import type { MinuteDelta } from '../playback/aggregate.js';
import {
  pushRows,
  type VideoLookup,
  type InputRecord,
  type OutputRows,
  type PartitionProcessor,
  type ProcessorDefinition,
  type TableSpec,
} from '../contract.js';
import { MINUTE } from '../../lib/time.js';
import { CountStore, type CountDelta } from './counts.js';
import { restoredState, type RestoredState, type StateEntries, stateOf } from '../keyed-state.js';
import { checkPlayEvent } from '../rules.js';
import { LATE_EVENTS_TABLE, lateEventRow, WATERMARKS_TABLE, watermarkRow } from '../rows.js';
import { VIEW_COUNTS } from '../semantics.js';
import { DEFAULT_RULE_PARAMETERS, validateRuleParameters, type RuleParameters } from '../parameters.js';

export const NAME = VIEW_COUNTS;

export const COUNTS_TABLE: TableSpec = {
  name: TABLES.counts,
  key: ['dim', 'id', 'grain', 'window_start', 'kafka_partition', 'seq'],
  version: 'version',
  times: ['window_start'],
};

export interface ViewCountsOptions {
  playback: PlaybackOptions;
  /** Windows accept changes in place this long after their end; later ones become delta rows. */
  windowGraceMs: number;
}

/** The options a set of rule parameters implies. */
export const viewCountsOptions = (rules: RuleParameters): ViewCountsOptions => ({
  playback: playbackOptions(rules),
  windowGraceMs: rules.windowGraceMs,
});

export const DEFAULT_VIEW_COUNTS: ViewCountsOptions = viewCountsOptions(DEFAULT_RULE_PARAMETERS);

function viewDiff(before: readonly Candidate[], after: readonly Candidate[]): Map<number, number> {
  const out = new Map<number, number>();
  for (const c of after) out.set(minuteOf(c.t), (out.get(minuteOf(c.t)) ?? 0) + 1);
  for (const c of before) out.set(minuteOf(c.t), (out.get(minuteOf(c.t)) ?? 0) - 1);
  return out;
}

export class ViewCountsPartition implements PartitionProcessor<PlayEvent> {
  private readonly playback: PlaybackState;
  private readonly counts: CountStore;
  private readonly out: OutputRows = new Map();
  private lastCloseMinute = Number.NEGATIVE_INFINITY;
  private lastOffset = -1;

  constructor(
    readonly partition: number,
    state: RestoredState,
    private readonly catalog: VideoLookup,
    private readonly options: ViewCountsOptions = DEFAULT_VIEW_COUNTS,
  ) {
    this.playback = PlaybackState.restore(options.playback, state);
    this.counts = CountStore.restore(partition, { graceMs: options.windowGraceMs }, state);
    // The watermark minute of the last close pass: restoring it keeps close points identical.
    this.lastCloseMinute =
      (state.get('v:meta') as { lastCloseMinute: number | null } | undefined)?.lastCloseMinute ??
      Number.NEGATIVE_INFINITY;
  }

  get watermark(): number {
    return this.playback.watermark.current;
  }

  process(record: InputRecord<PlayEvent>): Outcome {
    this.lastOffset = record.offset;
    const invalid = checkPlayEvent(record.value);
    if (invalid) return invalid;
    const e = record.value;
    this.deltas.length = 0;
    const result = this.playback.apply(e, this.catalog.get(e.video_id), this.deltas);
    const outcome = this.handle(record, result);
    // Closing is checked once per minute of watermark progress: cheap, and deterministic.
    const minute = Math.floor(this.watermark / MINUTE);
    if (minute > this.lastCloseMinute) {
      this.lastCloseMinute = minute;
      this.counts.closeWindows(this.watermark);
      this.playback.closeIdle();
    }
    return outcome;
  }

  /** One change of the session's video's (and creator's) counts in `minute`; true if it was late. */
  private count(
    s: SessionEntry,
    minute: number,
    plays: number,
    views: number,
    watchMs: number,
    at: number,
    wm: number,
  ): boolean {
    if (plays === 0 && views === 0 && watchMs === 0) return false;
    const d = this.scratch;
    d.plays = plays;
    d.views = views;
    d.watchMs = watchMs;
    const late = this.counts.add('video', s.videoId, minute, d, at, wm);
    if (s.creatorId) this.counts.add('creator', s.creatorId, minute, d, at, wm);
    return late;
  }

  /** The minute deltas of the record being processed (PlaybackState.apply fills it). */
  private readonly deltas: MinuteDelta[] = [];

  /** Reused for every count change (CountStore.add copies what it keeps). */
  private readonly scratch: CountDelta = { plays: 0, views: 0, watchMs: 0 };

  /** Turns the record's effect on its session into count deltas, versioned by its offset. */
  private handle(record: InputRecord<PlayEvent>, result: ApplyResult): Outcome {
    const wm = this.watermark;
    const at = record.offset;
    switch (result.kind) {
      case 'duplicate':
      case 'session_too_long':
        return drop(result.kind);
      case 'session_closed':
      case 'session_folded':
        this.late(record, false, result.kind);
        return drop(result.kind);
      case 'applied':
        break;
    }
    const s = result.session;
    let wasLate = false;
    for (const d of this.deltas) wasLate = this.count(s, d.minute, d.plays, 0, d.watchMs, at, wm) || wasLate;
    if (result.viewsAfter !== result.viewsBefore) {
      for (const [m, v] of viewDiff(result.viewsBefore, result.viewsAfter))
        wasLate = this.count(s, m, 0, v, 0, at, wm) || wasLate;
    }
    if (wasLate) this.late(record, true, 'window_closed');
    return ok;
  }

  /** A late_events row for the record (a method, not a closure per record: it is on the hot path). */
  private late(record: InputRecord<PlayEvent>, applied: boolean, reason: string): void {
    pushRows(this.out, TABLES.lateEvents, [lateEventRow(NAME, record, this.watermark, applied, reason)]);
  }

  drain(): OutputRows {
    pushRows(this.out, TABLES.counts, this.counts.drain());
    if (this.lastOffset >= 0)
      pushRows(this.out, TABLES.watermarks, [watermarkRow(NAME, this.partition, this.watermark, this.lastOffset)]);
    const rows = new Map(this.out);
    this.out.clear();
    return rows;
  }

  stateChanges(): StateEntries {
    return stateOf([this.playback, this.counts], [this.meta()], false);
  }

  snapshot(): StateEntries {
    return stateOf([this.playback, this.counts], [this.meta()], true);
  }

  private meta(): [string, unknown] {
    return ['v:meta', { lastCloseMinute: Number.isFinite(this.lastCloseMinute) ? this.lastCloseMinute : null }];
  }
}

/** The view-counts processor under `rules` (validated). */
export function viewCounts(rules: RuleParameters = DEFAULT_RULE_PARAMETERS): ProcessorDefinition<PlayEvent> {
  const checked = validateRuleParameters(rules);
  const options = viewCountsOptions(checked);
  return {
    name: NAME,
    rules: checked,
    tables: [COUNTS_TABLE, LATE_EVENTS_TABLE, WATERMARKS_TABLE],
    create: (partition, state, catalog) => new ViewCountsPartition(partition, restoredState(state), catalog, options),
  };
}
