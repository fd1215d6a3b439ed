// The rows the engagement processor writes: one full-value `sessions` row per playback
// session, and (video, creator, viewer, time) viewer observations.
import type { SessionEntry } from '../playback/state.js';
import { HOUR } from '../../lib/time.js';

/** One row of `sessions` (schemas/clickhouse/004_engagement.sql); times are epoch ms. */
export interface SessionRow {
  session_id: string;
  viewer_id: string;
  video_id: string;
  creator_id: string;
  first_seen_at: number;
  started_at: number;
  ended_at: number;
  events: number;
  plays: number;
  watch_ms: number;
  duration_ms: number;
  max_position_ms: number;
  completed: number;
  qualified: number;
  view_time: number;
  counted_view: number;
  /** Indexes (0..100) of the retention buckets the session watched, ascending. */
  covered: number[];
  device: string;
  os: string;
  country: string;
  traffic_source: string;
  referrer_video_id: string;
  startup_ms: number | null;
  rebuffer_ms: number;
  rebuffers: number;
  errors: number;
  /** 1 if the session left right after a stall (docs/semantics.md); whether it is a view is counted_view. */
  exit_after_stall: number;
  /** Percent bucket (0..100) of the last event's position; -1 without a duration. */
  exit_percent: number;
  closed: number;
  kafka_partition: number;
  version: number;
}

/**
 * Row versions: twice the offset of the record whose processing caused the write, plus one
 * when the session is closed. Offsets only grow within a partition, and a session is closed
 * after (never before) the last change that same record made to it, so every later write of
 * a session carries a higher version, and the closed row wins a tie.
 */
export const rowVersion = (offset: number, closed: boolean): number => offset * 2 + (closed ? 1 : 0);

/** What the engagement processor remembers of a session besides PlaybackState's entry. */
export interface SessionMeta {
  /** Event time of the first event applied to the session (fixes its ClickHouse partition). */
  firstSeenAt: number;
  /** Whether it counts as a view, as of its last change (kept when closeIdle forgets the group). */
  counted: boolean;
}

export function sessionRow(
  s: SessionEntry,
  meta: SessionMeta,
  partition: number,
  closed: boolean,
  version: number,
): SessionRow {
  const a = s.agg;
  const candidate = a.candidate;
  return {
    session_id: s.sessionId,
    viewer_id: s.viewerId,
    video_id: s.videoId,
    creator_id: s.creatorId,
    first_seen_at: meta.firstSeenAt,
    started_at: a.first!.t,
    ended_at: a.last!.t,
    events: a.events,
    plays: a.plays > 0 ? 1 : 0,
    watch_ms: a.watchMs,
    duration_ms: s.durationMs,
    max_position_ms: a.maxPositionMs,
    completed: a.completed ? 1 : 0,
    qualified: candidate !== null ? 1 : 0,
    view_time: candidate ?? 0,
    counted_view: meta.counted ? 1 : 0,
    covered: a.covered(),
    device: s.dims.device,
    os: s.dims.os,
    country: s.dims.country,
    traffic_source: s.dims.trafficSource,
    referrer_video_id: s.dims.trafficSource === 'suggested' ? (s.dims.referrerVideoId ?? '') : '',
    startup_ms: s.startupMs,
    rebuffer_ms: s.rebufferMs,
    rebuffers: s.rebuffers,
    errors: s.errors,
    exit_after_stall: a.leftAfterStall() ? 1 : 0,
    exit_percent: a.exitPercent(),
    closed: closed ? 1 : 0,
    kafka_partition: partition,
    version,
  };
}

/** One row of `viewer_observations`: a viewer had an accepted event of a video at a time. */
export interface ObservationRow {
  video_id: string;
  creator_id: string;
  viewer_id: string;
  event_time: number;
}

/** Where a holder keeps its last observation: a symbol, so JSON (the state) leaves it out. */
const LAST_OBSERVATION = Symbol('last observation');
type Holder = { [LAST_OBSERVATION]?: { row: ObservationRow; hour: number; drain: number } };

/**
 * Observations waiting for the next drain, at most one per (video, creator, viewer, hour):
 * the earliest. The Null table feeds uniqCombined and min states through materialized views,
 * which a repeated observation cannot change (a viewer seen twice is still one viewer, and the
 * minimum of a time and itself is that time). So the processor only thins them out within a
 * drain, and a replay after a crash, which observes the same events again, is harmless.
 */
export class ObservationBuffer {
  private readonly pending = new Map<string, ObservationRow>();
  /** drains so far: a holder's remembered row is pending only if it was found since the last one */
  private drains = 0;

  /**
   * The viewer observed the video at `eventTime`: one row per (video, creator, viewer, hour)
   * between two drains, holding the earliest time. `holder` (the event's session, in memory)
   * remembers the row its last event landed in, so the session's next events of the same hour
   * skip building and hashing the key — the same rows as without it.
   */
  add(videoId: string, creatorId: string, viewerId: string, eventTime: number, holder?: object): void {
    const hour = Math.floor(eventTime / HOUR);
    const last = holder && (holder as Holder)[LAST_OBSERVATION];
    if (
      last !== undefined &&
      last.drain === this.drains &&
      last.hour === hour &&
      last.row.video_id === videoId &&
      last.row.creator_id === creatorId &&
      last.row.viewer_id === viewerId
    ) {
      if (eventTime < last.row.event_time) last.row.event_time = eventTime;
      return;
    }
    const key = `${videoId}\u0000${creatorId}\u0000${viewerId}\u0000${hour}`;
    let row = this.pending.get(key);
    if (!row) {
      row = { video_id: videoId, creator_id: creatorId, viewer_id: viewerId, event_time: eventTime };
      this.pending.set(key, row);
    } else if (eventTime < row.event_time) {
      row.event_time = eventTime;
    }
    if (holder) (holder as Holder)[LAST_OBSERVATION] = { row, hour, drain: this.drains };
  }

  drain(): ObservationRow[] {
    const rows = [...this.pending.values()];
    this.pending.clear();
    this.drains++;
    return rows;
  }

  /** Observations not yet drained (normally none at a checkpoint: the runtime drains first). */
  toJSON(): ObservationRow[] {
    return [...this.pending.values()];
  }

  static fromJSON(rows: ObservationRow[] | undefined): ObservationBuffer {
    const buffer = new ObservationBuffer();
    for (const r of rows ?? []) buffer.add(r.video_id, r.creator_id, r.viewer_id, r.event_time);
    return buffer;
  }
}
