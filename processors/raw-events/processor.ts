// The raw-events processor: every accepted play event becomes one `play_events` row, for
// ad-hoc SQL. Pure: the runtime feeds it records and writes what it drains.
//
// Effectively once: a row is a function of the record alone (plus the catalog's creator of the
// video), keyed like the table's ORDER BY (video, event time, event id). A replay after
// a crash rewrites identical rows, which the ReplacingMergeTree collapses. Duplicate copies of
// an event_id within the dedup horizon are dropped here; older ones collapse in ClickHouse
// (see event-id-horizon.ts).
import { restoredState, type RestoredState, type StateEntries, stateOf } from '../keyed-state.js';
import type { PlayEvent } from '../../schemas/types.js';
import { TABLES } from '../../schemas/tables.js';
import { drop, ok, type Outcome } from '../outcome.js';
import { WATERMARKS_TABLE, watermarkRow } from '../rows.js';
import {
  pushRows,
  type VideoLookup,
  type InputRecord,
  type OutputRows,
  type PartitionProcessor,
  type ProcessorDefinition,
  type TableSpec,
} from '../contract.js';
import { Watermark } from '../watermark.js';
import { checkPlayEvent } from '../rules.js';
import { EventIdHorizon, type EventIdHorizonOptions } from './event-id-horizon.js';
import { RAW_EVENTS } from '../semantics.js';
import { DEFAULT_RULE_PARAMETERS, validateRuleParameters, type RuleParameters } from '../parameters.js';

export const NAME = RAW_EVENTS;

export const PLAY_EVENTS_TABLE: TableSpec = {
  name: TABLES.playEvents,
  key: ['video_id', 'event_time', 'event_id'],
  times: ['event_time', 'received_at'],
};

export interface RawEventsOptions {
  dedup: EventIdHorizonOptions;
  /** Allowed out-of-orderness of the partition watermark written to processor_watermarks. */
  outOfOrdernessMs: number;
}

/**
 * Two hours of event ids, at most 250 000 per partition. Copies from client and producer
 * retries arrive within seconds to minutes (offline phones: up to ~15 min), so a busy partition
 * that hits the count bound (at ~35 events/s) still remembers far more than it needs, and its
 * state stays around 10 MB of JSON at worst (written incrementally: one minute's bucket at a time).
 */
export const rawEventsOptions = (rules: RuleParameters): RawEventsOptions => ({
  dedup: { horizonMs: 2 * 3_600_000, maxIds: 250_000 },
  outOfOrdernessMs: rules.outOfOrdernessMs,
});

export const DEFAULT_RAW_EVENTS: RawEventsOptions = rawEventsOptions(DEFAULT_RULE_PARAMETERS);

/** One row of play_events; times are epoch ms (the writer turns `times` columns into DateTime). */
export interface PlayEventRow {
  event_id: string;
  event_type: PlayEvent['event_type'];
  event_time: number;
  event_time_ms: number;
  received_at: number;
  session_id: string;
  viewer_id: string;
  video_id: string;
  creator_id: string;
  position_ms: number;
  watched_ms: number;
  device: string;
  os: string;
  country: string;
  traffic_source: PlayEvent['traffic_source'];
  referrer_video_id: string | null;
  seek_from_ms: number | null;
  startup_ms: number | null;
  rebuffer_ms: number | null;
  error_code: string | null;
  sdk_version: string;
  kafka_partition: number;
  kafka_offset: number;
}

export function playEventRow(r: InputRecord<PlayEvent>, creatorId: string): PlayEventRow {
  const e = r.value;
  return {
    event_id: e.event_id,
    event_type: e.event_type,
    event_time: e.event_time,
    event_time_ms: e.event_time,
    received_at: e.received_at,
    session_id: e.session_id,
    viewer_id: e.viewer_id,
    video_id: e.video_id,
    creator_id: creatorId,
    position_ms: e.position_ms,
    watched_ms: e.watched_ms,
    device: e.device,
    os: e.os,
    country: e.country,
    traffic_source: e.traffic_source,
    referrer_video_id: e.referrer_video_id ?? null,
    seek_from_ms: e.seek_from_ms ?? null,
    startup_ms: e.startup_ms ?? null,
    rebuffer_ms: e.rebuffer_ms ?? null,
    error_code: e.error_code ?? null,
    sdk_version: e.sdk_version,
    kafka_partition: r.partition,
    kafka_offset: r.offset,
  };
}

export class RawEventsPartition implements PartitionProcessor<PlayEvent> {
  private readonly seen: EventIdHorizon;
  private readonly clock: Watermark;
  private rows: PlayEventRow[] = [];
  private lastOffset = -1;

  constructor(
    readonly partition: number,
    state: RestoredState,
    private readonly catalog: VideoLookup,
    readonly options: RawEventsOptions = DEFAULT_RAW_EVENTS,
  ) {
    this.seen = EventIdHorizon.restore(options.dedup, state);
    this.clock = Watermark.fromJSON(
      options.outOfOrdernessMs,
      state.get('raw:watermark') as { maxEventTime: number | null } | undefined,
    );
  }

  get watermark(): number {
    return this.clock.current;
  }

  /** How many event ids the partition remembers (for tests and metrics). */
  get rememberedIds(): number {
    return this.seen.size;
  }

  process(record: InputRecord<PlayEvent>): Outcome {
    this.lastOffset = record.offset;
    const invalid = checkPlayEvent(record.value);
    if (invalid) return invalid;
    const e = record.value;
    this.clock.observe(e.event_time);
    if (this.seen.admit(e.event_id, e.event_time) === 'duplicate') return drop('duplicate');
    this.rows.push(playEventRow(record, this.catalog.get(e.video_id)?.creatorId ?? ''));
    return ok;
  }

  drain(): OutputRows {
    const out: OutputRows = new Map();
    pushRows(out, TABLES.playEvents, this.rows);
    this.rows = [];
    if (this.lastOffset >= 0)
      pushRows(out, TABLES.watermarks, [watermarkRow(NAME, this.partition, this.watermark, this.lastOffset)]);
    return out;
  }

  stateChanges(): StateEntries {
    return stateOf([this.seen], [['raw:watermark', this.clock.toJSON()]], false);
  }

  snapshot(): StateEntries {
    return stateOf([this.seen], [['raw:watermark', this.clock.toJSON()]], true);
  }
}

/** The raw-events processor under `rules` (validated; only the out-of-orderness of its watermark applies). */
export function rawEvents(rules: RuleParameters = DEFAULT_RULE_PARAMETERS): ProcessorDefinition<PlayEvent> {
  const checked = validateRuleParameters(rules);
  const options = rawEventsOptions(checked);
  return {
    name: NAME,
    rules: checked,
    tables: [PLAY_EVENTS_TABLE, WATERMARKS_TABLE],
    create: (partition, state, catalog) => new RawEventsPartition(partition, restoredState(state), catalog, options),
  };
}
