// Who is watching a creator now: per creator, the sessions of this partition with an event in
// the last LIVE_MS of the partition's watermark, and each one's viewer and latest event time.
// The engagement processor writes it as one full-value row per (creator, partition) whenever
// the creator's sessions moved (`creator_live`, replaced by a higher version), so the realtime
// route reads a row per partition — as many entries as viewers are live — and filters them by
// its own clock, instead of scanning the creator's sessions.
//
// The index is not checkpointed: it is what the open sessions say (their latest event times),
// rebuilt from the playback state on restore. A row is a snapshot at the record it was written
// after; entries older than LIVE_MS behind the watermark may linger until the next prune, and
// the read's "event in the last 60 s" filter makes them irrelevant.
import type { SessionEntry } from '../playback/state.js';

/** How far behind the watermark a session still counts as live here (the read asks for 60 s). */
export const LIVE_MS = 120_000;

interface LiveSession {
  viewer: string;
  /** latest event time, epoch ms */
  t: number;
}

/** One row of `creator_live` (schemas/clickhouse/011_creator_live.sql). */
export interface LiveRow {
  creator_id: string;
  kafka_partition: number;
  version: number;
  session_ids: string[];
  viewer_ids: string[];
  /** epoch seconds (DateTime), one per session */
  last_event_at: number[];
}

export class LiveIndex {
  private readonly byCreator = new Map<string, Map<string, LiveSession>>();
  private readonly dirty = new Set<string>();

  constructor(readonly partition: number) {}

  /** A session of `s.creatorId` had an event (its latest event time may have moved). */
  touch(s: SessionEntry): void {
    if (s.creatorId === '' || !s.agg.last) return;
    let sessions = this.byCreator.get(s.creatorId);
    if (!sessions) this.byCreator.set(s.creatorId, (sessions = new Map()));
    const t = s.agg.last.t;
    const prev = sessions.get(s.sessionId);
    if (prev && prev.t >= t) return;
    sessions.set(s.sessionId, { viewer: s.viewerId, t });
    this.dirty.add(s.creatorId);
  }

  /** Forgets sessions older than LIVE_MS behind the watermark (their creators are rewritten). */
  prune(watermark: number): void {
    const cut = watermark - LIVE_MS;
    for (const [creator, sessions] of this.byCreator) {
      for (const [id, x] of sessions) {
        if (x.t >= cut) continue;
        sessions.delete(id);
        this.dirty.add(creator);
      }
    }
  }

  /** The rows of the creators that changed since the last drain, at `version`. */
  drain(watermark: number, version: number): LiveRow[] {
    const out: LiveRow[] = [];
    const cut = watermark - LIVE_MS;
    for (const creator of this.dirty) {
      const sessions = this.byCreator.get(creator) ?? new Map<string, LiveSession>();
      const row: LiveRow = {
        creator_id: creator,
        kafka_partition: this.partition,
        version,
        session_ids: [],
        viewer_ids: [],
        last_event_at: [],
      };
      for (const [id, x] of sessions) {
        if (x.t < cut) {
          sessions.delete(id);
          continue;
        }
        row.session_ids.push(id);
        row.viewer_ids.push(x.viewer);
        row.last_event_at.push(Math.floor(x.t / 1000));
      }
      if (sessions.size === 0) this.byCreator.delete(creator);
      out.push(row);
    }
    this.dirty.clear();
    return out;
  }

  /** The index the open sessions imply (after a restore); nothing is dirty. */
  static rebuild(partition: number, sessions: Iterable<SessionEntry>, watermark: number): LiveIndex {
    const index = new LiveIndex(partition);
    const cut = watermark - LIVE_MS;
    for (const s of sessions) if (s.agg.last && s.agg.last.t >= cut) index.touch(s);
    index.dirty.clear();
    return index;
  }
}
