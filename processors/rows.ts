// Rows every processor writes the same way: late events and watermarks.
import type { PlayEvent } from '../schemas/types.js';
import { TABLES } from '../schemas/tables.js';
import type { InputRecord, TableSpec } from './topology.js';

export const LATE_EVENTS_TABLE: TableSpec = {
  name: TABLES.lateEvents,
  key: ['processor', 'kafka_partition', 'kafka_offset'],
  times: ['event_time', 'watermark'],
};
export const WATERMARKS_TABLE: TableSpec = {
  name: TABLES.watermarks,
  key: ['processor', 'kafka_partition'],
  version: 'version',
  times: ['watermark'],
};

/** A late event: applied as a delta (window already closed) or set aside (session closed). */
export function lateEventRow(
  processor: string,
  r: InputRecord<PlayEvent>,
  watermark: number,
  applied: boolean,
  reason: string,
): Record<string, unknown> {
  return {
    processor,
    kafka_partition: r.partition,
    kafka_offset: r.offset,
    event_id: r.value.event_id,
    video_id: r.value.video_id,
    event_time: r.value.event_time,
    watermark: Number.isFinite(watermark) ? watermark : 0,
    lateness_ms: Number.isFinite(watermark) ? Math.max(0, watermark - r.value.event_time) : 0,
    applied: applied ? 1 : 0,
    reason,
  };
}

/** How far a partition's results are final: the watermark, versioned by offset. */
export function watermarkRow(
  processor: string,
  partition: number,
  watermark: number,
  offset: number,
): Record<string, unknown> {
  return {
    processor,
    kafka_partition: partition,
    watermark: Number.isFinite(watermark) ? Math.max(0, watermark) : 0,
    version: offset,
  };
}
