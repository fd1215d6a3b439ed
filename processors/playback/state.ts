// Per-partition playback state shared by the view-counts and engagement processors: open
// sessions (each with its events in session order), the qualifying sessions of each
// (viewer, video) for the repeat cap, and the partition's watermark. Applying an event
// returns what changed, so a processor can turn the difference into output rows.
//
// Deterministic: the result depends only on the snapshot and the events applied, in
// order — never on wall-clock time — so replaying from a checkpoint reproduces it.
import type { PlayEvent } from '../../schemas/types.js';
import { SessionWindows } from '../windows.js';
import { Watermark } from '../watermark.js';
import { insertSorted, totals, type CompactEvent, type SessionTotals } from './session.js';
import { countedViews, REPEAT_CAP_MS, type Candidate } from './views.js';

export interface VideoInfo {
  creatorId: string;
  durationMs: number;
}

/** Attributes a session takes from its first event (what the player reported at start). */
export interface SessionDims {
  device: string;
  os: string;
  country: string;
  trafficSource: string;
  referrerVideoId: string | null;
}

export interface SessionEntry {
  sessionId: string;
  viewerId: string;
  videoId: string;
  creatorId: string;
  durationMs: number;
  dims: SessionDims;
  events: CompactEvent[];
  startupMs: number | null;
  rebufferMs: number;
  rebuffers: number;
  errors: number;
  totals: SessionTotals;
}

interface Group {
  /** sessionId → candidate view time, for every qualifying session still remembered */
  candidates: Map<string, number>;
  /** last counted view among candidates already forgotten */
  lastCountedBefore: number | null;
  counted: Candidate[];
}

export interface PlaybackOptions {
  /** A session closes after this much event-time inactivity (DESIGN: 30 min). */
  sessionGapMs: number;
  /** Extra time a closed-looking session still accepts late events. */
  sessionGraceMs: number;
  /** Allowed out-of-orderness of the watermark. */
  outOfOrdernessMs: number;
  /** Longest session kept, in events; longer ones are refused (bounded memory). */
  maxEventsPerSession: number;
}

/** How long closed sessions are remembered, in event time. */
export const CLOSED_MEMORY_MS = 24 * 3_600_000;

export const DEFAULT_PLAYBACK: PlaybackOptions = {
  sessionGapMs: 30 * 60_000,
  sessionGraceMs: 5 * 60_000,
  outOfOrdernessMs: 10_000,
  maxEventsPerSession: 5_000,
};

export type ApplyResult =
  | { kind: 'duplicate' }
  | { kind: 'session_closed' }
  | { kind: 'session_too_long' }
  | {
      kind: 'applied';
      session: SessionEntry;
      before: SessionTotals | null;
      viewsBefore: Candidate[];
      viewsAfter: Candidate[];
    };

const groupKey = (viewerId: string, videoId: string): string => `${viewerId}\u0000${videoId}`;

export const toCompact = (e: PlayEvent): CompactEvent => ({
  id: e.event_id,
  t: e.event_time,
  type: e.event_type,
  pos: e.position_ms,
  watched: e.watched_ms,
  seekFrom: e.seek_from_ms,
});

export class PlaybackState {
  readonly watermark: Watermark;
  readonly sessions = new Map<string, SessionEntry>();
  private readonly groups = new Map<string, Group>();
  /** Closed session ids → their close time, so a straggler is recognised as too late. */
  private readonly closed = new Map<string, number>();
  private readonly windows: SessionWindows;

  constructor(readonly options: PlaybackOptions = DEFAULT_PLAYBACK) {
    this.watermark = new Watermark(options.outOfOrdernessMs);
    this.windows = SessionWindows.withInactivityGap(options.sessionGapMs).grace(options.sessionGraceMs);
  }

  apply(e: PlayEvent, video: VideoInfo | undefined): ApplyResult {
    this.watermark.observe(e.event_time);
    if (this.closed.has(e.session_id)) return { kind: 'session_closed' };
    // Closed sessions are remembered for CLOSED_MEMORY_MS; anything older could belong to a
    // session already forgotten, so it is set aside rather than counted as a new session.
    if (e.event_time < this.watermark.current - CLOSED_MEMORY_MS) return { kind: 'session_closed' };
    let session = this.sessions.get(e.session_id);
    const before = session ? session.totals : null;
    if (!session) {
      session = {
        sessionId: e.session_id,
        viewerId: e.viewer_id,
        videoId: e.video_id,
        creatorId: video?.creatorId ?? '',
        durationMs: video?.durationMs ?? 0,
        dims: {
          device: e.device,
          os: e.os,
          country: e.country,
          trafficSource: e.traffic_source,
          referrerVideoId: e.referrer_video_id,
        },
        events: [],
        startupMs: null,
        rebufferMs: 0,
        rebuffers: 0,
        errors: 0,
        totals: { plays: new Map(), watch: new Map(), watchMs: 0, candidate: null },
      };
    } else if (session.events.length >= this.options.maxEventsPerSession) {
      return { kind: 'session_too_long' };
    }
    if (!insertSorted(session.events, toCompact(e))) return { kind: 'duplicate' };
    this.sessions.set(e.session_id, session);
    if (e.event_type === 'play_start') {
      // The first event of a session sets its dimensions; play_start is authoritative.
      session.dims = {
        device: e.device,
        os: e.os,
        country: e.country,
        trafficSource: e.traffic_source,
        referrerVideoId: e.referrer_video_id,
      };
      if (e.startup_ms !== null) session.startupMs = e.startup_ms;
    }
    if (e.event_type === 'rebuffer_end') {
      session.rebuffers += 1;
      session.rebufferMs += e.rebuffer_ms ?? 0;
    }
    if (e.event_type === 'error') session.errors += 1;
    session.totals = totals(session.events, session.durationMs);

    const key = groupKey(session.viewerId, session.videoId);
    const group = this.groups.get(key);
    const viewsBefore = group ? group.counted : [];
    let viewsAfter = viewsBefore;
    const oldCandidate = before?.candidate ?? null;
    const newCandidate = session.totals.candidate;
    if (oldCandidate !== newCandidate) {
      const g = group ?? { candidates: new Map<string, number>(), lastCountedBefore: null, counted: [] };
      if (newCandidate === null) g.candidates.delete(session.sessionId);
      else g.candidates.set(session.sessionId, newCandidate);
      g.counted = countedViews(
        [...g.candidates].map(([sessionId, t]) => ({ sessionId, t })),
        g.lastCountedBefore,
      );
      this.groups.set(key, g);
      viewsAfter = g.counted;
    }
    return { kind: 'applied', session, before, viewsBefore, viewsAfter };
  }

  /** Whether `sessionId` currently counts as a view. */
  isCounted(viewerId: string, videoId: string, sessionId: string): boolean {
    return this.groups.get(groupKey(viewerId, videoId))?.counted.some((c) => c.sessionId === sessionId) ?? false;
  }

  /**
   * Whether the repeat cap still holds `sessionId`'s candidate, i.e. whether its counted
   * status can still change (closeIdle() forgets candidates once no session of the group is open).
   */
  isCandidate(viewerId: string, videoId: string, sessionId: string): boolean {
    return this.groups.get(groupKey(viewerId, videoId))?.candidates.has(sessionId) ?? false;
  }

  /**
   * Closes sessions the watermark has passed (last event + gap + grace) and forgets what no
   * future event can change. Returns the sessions closed now, for a final write.
   */
  closeIdle(): SessionEntry[] {
    const wm = this.watermark.current;
    const closedNow: SessionEntry[] = [];
    for (const s of this.sessions.values()) {
      const first = s.events[0]!.t;
      const last = s.events[s.events.length - 1]!.t;
      if (this.windows.isClosed(first, last, wm)) closedNow.push(s);
    }
    for (const s of closedNow) {
      this.sessions.delete(s.sessionId);
      this.closed.set(s.sessionId, s.events[s.events.length - 1]!.t);
    }
    // A group whose sessions are all closed keeps only its last counted view, and only
    // while a later candidate could still fall within the repeat cap of it.
    const openGroups = new Set([...this.sessions.values()].map((s) => groupKey(s.viewerId, s.videoId)));
    for (const [key, g] of this.groups) {
      if (openGroups.has(key)) continue;
      const last = g.counted.length ? g.counted[g.counted.length - 1]!.t : g.lastCountedBefore;
      if (last === null || wm - last > REPEAT_CAP_MS + this.options.sessionGapMs + this.options.sessionGraceMs) {
        this.groups.delete(key);
      } else if (g.candidates.size > 0) {
        g.candidates.clear();
        g.lastCountedBefore = last;
        g.counted = [];
      }
    }
    // Closed-session markers are needed only while stragglers can still arrive.
    const forgetBefore = wm - CLOSED_MEMORY_MS;
    for (const [id, t] of this.closed) if (t < forgetBefore) this.closed.delete(id);
    return closedNow;
  }

  toJSON(): PlaybackSnapshot {
    return {
      watermark: this.watermark.toJSON(),
      sessions: [...this.sessions.values()].map((s) => ({ ...s, totals: undefined })),
      groups: [...this.groups].map(([key, g]) => ({
        key,
        candidates: [...g.candidates],
        lastCountedBefore: g.lastCountedBefore,
      })),
      closed: [...this.closed],
    };
  }

  static fromJSON(options: PlaybackOptions, snap: PlaybackSnapshot | undefined): PlaybackState {
    const state = new PlaybackState(options);
    if (!snap) return state;
    Object.assign(state, { watermark: Watermark.fromJSON(options.outOfOrdernessMs, snap.watermark) });
    for (const s of snap.sessions) {
      state.sessions.set(s.sessionId, { ...s, totals: totals(s.events, s.durationMs) });
    }
    for (const g of snap.groups) {
      const candidates = new Map(g.candidates);
      state.groups.set(g.key, {
        candidates,
        lastCountedBefore: g.lastCountedBefore,
        counted: countedViews(
          [...candidates].map(([sessionId, t]) => ({ sessionId, t })),
          g.lastCountedBefore,
        ),
      });
    }
    for (const [id, t] of snap.closed) state.closed.set(id, t);
    return state;
  }
}

export interface PlaybackSnapshot {
  watermark: { maxEventTime: number | null };
  sessions: (Omit<SessionEntry, 'totals'> & { totals?: undefined })[];
  groups: { key: string; candidates: [string, number][]; lastCountedBefore: number | null }[];
  closed: [string, number][];
}
