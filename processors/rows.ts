// Rows every processor writes the same way: late events and watermarks.
import type { PlayEvent } from '../schemas/types.js';
import { TABLES } from '../schemas/tables.js';
import type { InputRecord, TableSpec } from './contract.js';

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

/** Where a late event came from and what it was about. */
export interface LateAt {
  partition: number;
  offset: number;
  event_id: string;
  video_id: string;
  event_time: number;
}

/** A late event: applied as a delta (window already closed) or set aside (session closed). */
export function lateRow(
  processor: string,
  at: LateAt,
  watermark: number,
  applied: boolean,
  reason: string,
): Record<string, unknown> {
  return {
    processor,
    kafka_partition: at.partition,
    kafka_offset: at.offset,
    event_id: at.event_id,
    video_id: at.video_id,
    event_time: at.event_time,
    watermark: Number.isFinite(watermark) ? watermark : 0,
    lateness_ms: Number.isFinite(watermark) ? Math.max(0, watermark - at.event_time) : 0,
    applied: applied ? 1 : 0,
    reason,
  };
}

/** lateRow for the input record itself. */
export function lateEventRow(
  processor: string,
  r: InputRecord<PlayEvent>,
  watermark: number,
  applied: boolean,
  reason: string,
): Record<string, unknown> {
  const { event_id, video_id, event_time } = r.value;
  return lateRow(
    processor,
    { partition: r.partition, offset: r.offset, event_id, video_id, event_time },
    watermark,
    applied,
    reason,
  );
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
