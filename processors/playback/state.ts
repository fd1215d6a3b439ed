// Per-partition playback state shared by the view-counts, engagement and recommendations
// processors: open sessions (each as running aggregates, aggregate.ts), the qualifying
// sessions of each (viewer, video) for the repeat cap, and the partition's watermark. Applying
// an event returns what changed, so a processor can turn the difference into output rows.
//
// Deterministic: the result depends only on the restored state and the events applied, in
// order (with the catalog's entry of each event's video) — never on wall-clock time — so
// replaying from a checkpoint reproduces it. The runtime hands a record over only once the
// catalog knows its video (docs/semantics.md, "The catalog").
import type { PlayEvent } from '../../schemas/types.js';
import { SessionWindows } from '../windows.js';
import { Watermark } from '../watermark.js';
import type { CompactEvent } from './session.js';
import { SessionAggregate, type AggregateJSON, type MinuteDelta } from './aggregate.js';
import { countedViews, type Candidate } from './views.js';
import { DEFAULT_RULE_PARAMETERS, type RuleParameters } from '../parameters.js';
import { Tracked, type RestoredState, type StateEntries } from '../keyed-state.js';
import { ExpiryQueue } from '../expiry.js';

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
  startupMs: number | null;
  rebufferMs: number;
  rebuffers: number;
  errors: number;
  agg: SessionAggregate;
  /** groupKey(viewerId, videoId), built once per session (in memory only: not saved) */
  group: string;
}

interface Group {
  /** sessionId → candidate view time, for every qualifying session still remembered */
  candidates: Map<string, number>;
  /** last counted view among candidates already forgotten */
  lastCountedBefore: number | null;
  counted: Candidate[];
}

export interface PlaybackOptions {
  /** Views rule 1 (rule parameter viewThresholdMs). */
  viewThresholdMs: number;
  /** Views rule 2, the repeat cap (rule parameter repeatCapMs). */
  repeatCapMs: number;
  /** A session closes after this much event-time inactivity (DESIGN: 30 min). */
  sessionGapMs: number;
  /** Extra time a closed-looking session still accepts late events. */
  sessionGraceMs: number;
  /** Allowed out-of-orderness of the watermark. */
  outOfOrdernessMs: number;
  /** Longest session kept, in events; longer ones are refused (a runaway client). */
  maxEventsPerSession: number;
  /**
   * Allowed lateness within a session: events this far behind the watermark are folded into
   * the session's sums; a later event that would sort before them is set aside.
   */
  latenessMs: number;
}

/** How long closed sessions are remembered, in event time. */
export const CLOSED_MEMORY_MS = 24 * 3_600_000;

/** Longest session kept, in events (a limit against runaway clients, not a rule). */
export const MAX_EVENTS_PER_SESSION = 5_000;

/** The playback options a set of rule parameters implies. */
export const playbackOptions = (rules: RuleParameters): PlaybackOptions => ({
  viewThresholdMs: rules.viewThresholdMs,
  repeatCapMs: rules.repeatCapMs,
  sessionGapMs: rules.sessionGapMs,
  sessionGraceMs: rules.sessionGraceMs,
  outOfOrdernessMs: rules.outOfOrdernessMs,
  maxEventsPerSession: MAX_EVENTS_PER_SESSION,
  latenessMs: rules.allowedLatenessMs,
});

export const DEFAULT_PLAYBACK: PlaybackOptions = playbackOptions(DEFAULT_RULE_PARAMETERS);

export type ApplyResult =
  | { kind: 'duplicate' }
  | { kind: 'session_closed' }
  | { kind: 'session_too_long' }
  /** Sorts before events already folded (more than the allowed lateness behind). */
  | { kind: 'session_folded' }
  | {
      kind: 'applied';
      session: SessionEntry;
      viewsBefore: Candidate[];
      viewsAfter: Candidate[];
    };

/** The key of a viewer's group of sessions of one video (the repeat cap's unit). */
export const groupKey = (viewerId: string, videoId: string): string => `${viewerId}\u0000${videoId}`;

/** A group's last counted view, remembered or current (null: it never counted one). */
const lastView = (g: Group): number | null =>
  g.counted.length ? g.counted[g.counted.length - 1]!.t : g.lastCountedBefore;

/** How long a group with no open session is kept after its last view: a later one may still fall within the repeat cap of it. */
const keepGroupFor = (o: PlaybackOptions): number => o.repeatCapMs + o.sessionGapMs + o.sessionGraceMs;

export const toCompact = (e: PlayEvent): CompactEvent => ({
  id: e.event_id,
  t: e.event_time,
  type: e.event_type,
  pos: e.position_ms,
  watched: e.watched_ms,
  seekFrom: e.seek_from_ms,
});

const dimsOf = (e: PlayEvent): SessionDims => ({
  device: e.device,
  os: e.os,
  country: e.country,
  trafficSource: e.traffic_source,
  referrerVideoId: e.referrer_video_id,
});

/**
 * An open session as the changelog holds it: positional (a live session is written again at
 * every checkpoint, and field names were a third of its bytes). `restoredSession` reads it
 * back, and the object form that earlier versions saved too.
 */
type SavedSession = [
  sessionId: string,
  viewerId: string,
  videoId: string,
  creatorId: string,
  durationMs: number,
  device: string,
  os: string,
  country: string,
  trafficSource: string,
  referrerVideoId: string | null,
  startupMs: number | null,
  rebufferMs: number,
  rebuffers: number,
  errors: number,
  agg: AggregateJSON,
];

const savedSession = (s: SessionEntry): SavedSession => [
  s.sessionId,
  s.viewerId,
  s.videoId,
  s.creatorId,
  s.durationMs,
  s.dims.device,
  s.dims.os,
  s.dims.country,
  s.dims.trafficSource,
  s.dims.referrerVideoId,
  s.startupMs,
  s.rebufferMs,
  s.rebuffers,
  s.errors,
  s.agg.toJSON(),
];

function restoredSession(v: unknown, viewThresholdMs: number): SessionEntry {
  if (!Array.isArray(v)) {
    // saved as an object (before the positional form)
    const o = v as Omit<SessionEntry, 'agg'> & { agg: AggregateJSON };
    const d = o.dims;
    v = [
      o.sessionId,
      o.viewerId,
      o.videoId,
      o.creatorId,
      o.durationMs,
      d.device,
      d.os,
      d.country,
      d.trafficSource,
      d.referrerVideoId,
      o.startupMs,
      o.rebufferMs,
      o.rebuffers,
      o.errors,
      o.agg,
    ] satisfies SavedSession;
  }
  const [
    sessionId,
    viewerId,
    videoId,
    creatorId,
    durationMs,
    device,
    os,
    country,
    trafficSource,
    referrerVideoId,
    startupMs,
    rebufferMs,
    rebuffers,
    errors,
    agg,
  ] = v as SavedSession;
  return {
    sessionId,
    viewerId,
    videoId,
    creatorId,
    durationMs,
    dims: { device, os, country, trafficSource, referrerVideoId },
    startupMs,
    rebufferMs,
    rebuffers,
    errors,
    agg: SessionAggregate.fromJSON(agg, viewThresholdMs),
    group: groupKey(viewerId, videoId),
  };
}

export class PlaybackState {
  readonly watermark: Watermark;
  readonly sessions = new Tracked<SessionEntry>('ps:', savedSession);
  private readonly groups = new Tracked<Group>('pg:', (g) => ({
    candidates: [...g.candidates],
    lastCountedBefore: g.lastCountedBefore,
  }));
  /** Closed session ids → their close time, so a straggler is recognised as too late. */
  private readonly closed = new Tracked<number>('pc:');
  private readonly windows: SessionWindows;
  /**
   * In memory only (rebuilt on restore): when each closed-session marker may be forgotten, and
   * when each group with no open session may be — so closeIdle() visits what is due, not every
   * marker and group of the last 24 h. An entry may be stale (the group opened again since):
   * it is checked against the state when it comes due.
   */
  private readonly markerExpiry = new ExpiryQueue();
  private readonly groupExpiry = new ExpiryQueue();
  /**
   * Also in memory only: open sessions by the time they would close (queued when they open,
   * queued again at their new close time when they turn out to be still active), sessions
   * whose tail holds events to fold by when its oldest may fold, and each group's number of
   * open sessions — so closeIdle() visits the sessions due to close or fold, not every open one.
   */
  private readonly closeExpiry = new ExpiryQueue();
  private readonly foldExpiry = new ExpiryQueue();
  private readonly openPerGroup = new Map<string, number>();

  constructor(readonly options: PlaybackOptions = DEFAULT_PLAYBACK) {
    this.watermark = new Watermark(options.outOfOrdernessMs);
    this.windows = SessionWindows.withInactivityGap(options.sessionGapMs).grace(options.sessionGraceMs);
  }

  /**
   * Applies one event. The plays and watch time it added or moved, per minute (at most two
   * entries), are pushed onto `deltas` when given (view-counts counts them; the others do not
   * need them, and a fresh array per event would be garbage).
   */
  apply(e: PlayEvent, video: VideoInfo | undefined, deltas: MinuteDelta[] | null = null): ApplyResult {
    this.watermark.observe(e.event_time);
    if (this.closed.has(e.session_id)) return { kind: 'session_closed' };
    // Closed sessions are remembered for CLOSED_MEMORY_MS; anything older could belong to a
    // session already forgotten, so it is set aside rather than counted as a new session.
    if (e.event_time < this.watermark.current - CLOSED_MEMORY_MS) return { kind: 'session_closed' };
    let session = this.sessions.get(e.session_id);
    const fresh = !session;
    if (!session) {
      session = {
        sessionId: e.session_id,
        viewerId: e.viewer_id,
        videoId: e.video_id,
        creatorId: video?.creatorId ?? '',
        durationMs: video?.durationMs ?? 0,
        dims: dimsOf(e),
        startupMs: null,
        rebufferMs: 0,
        rebuffers: 0,
        errors: 0,
        agg: new SessionAggregate(video?.durationMs ?? 0, this.options.viewThresholdMs),
        group: groupKey(e.viewer_id, e.video_id),
      };
    } else if (session.agg.events >= this.options.maxEventsPerSession) {
      return { kind: 'session_too_long' };
    }
    const candidateBefore = session.agg.candidate;
    const added = session.agg.add(toCompact(e), deltas);
    if (added === 'duplicate') return { kind: 'duplicate' };
    if (added === 'folded') return { kind: 'session_folded' };
    if (fresh) {
      this.sessions.set(e.session_id, session);
      this.opened(session);
    } else this.sessions.touch(e.session_id);
    // A tail of two is the first with an event to fold; an event sorting first makes it due sooner.
    const tail = session.agg.tailLength;
    if (tail === 2 || (tail > 2 && session.agg.tailStart === e.event_time)) this.queueFold(session);
    if (e.event_type === 'play_start') {
      // play_start is authoritative for the session's dimensions.
      session.dims = dimsOf(e);
      if (e.startup_ms !== null) session.startupMs = e.startup_ms;
    }
    if (e.event_type === 'rebuffer_end') {
      session.rebuffers += 1;
      session.rebufferMs += e.rebuffer_ms ?? 0;
    }
    if (e.event_type === 'error') session.errors += 1;

    const key = session.group;
    const group = this.groups.get(key);
    const viewsBefore = group ? group.counted : [];
    let viewsAfter = viewsBefore;
    const newCandidate = session.agg.candidate;
    if (candidateBefore !== newCandidate) {
      const g = group ?? { candidates: new Map<string, number>(), lastCountedBefore: null, counted: [] };
      if (newCandidate === null) g.candidates.delete(session.sessionId);
      else g.candidates.set(session.sessionId, newCandidate);
      g.counted = countedViews(
        [...g.candidates].map(([sessionId, t]) => ({ sessionId, t })),
        g.lastCountedBefore,
        this.options.repeatCapMs,
      );
      this.groups.set(key, g);
      viewsAfter = g.counted;
    }
    return { kind: 'applied', session, viewsBefore, viewsAfter };
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
   * Closes sessions the watermark has passed (last event + gap + grace), folds events older
   * than the allowed lateness, and forgets what no future event can change. Returns the
   * sessions closed now, for a final write.
   */
  closeIdle(): SessionEntry[] {
    const wm = this.watermark.current;
    const foldBefore = wm - this.options.latenessMs;
    const closedNow: SessionEntry[] = [];
    // closed once wm ≥ last + gap + grace: the queue's limit is exclusive
    this.closeExpiry.due(wm + 1, (id) => {
      const s = this.sessions.get(id);
      if (!s) return false; // closed already (queued twice)
      if (this.windows.isClosed(s.agg.first!.t, s.agg.last!.t, wm)) closedNow.push(s);
      else this.queueClose(s); // active since: due at its new close time
      return false;
    });
    // Content order, so that a restored partition closes them in the same order.
    closedNow.sort((a, b) => a.agg.first!.t - b.agg.first!.t || (a.sessionId < b.sessionId ? -1 : 1));
    for (const s of closedNow) {
      this.sessions.delete(s.sessionId);
      this.closed.set(s.sessionId, s.agg.last!.t);
      this.markerExpiry.add(s.agg.last!.t, s.sessionId);
      const key = s.group;
      const open = this.openPerGroup.get(key)! - 1;
      if (open > 0) this.openPerGroup.set(key, open);
      else this.openPerGroup.delete(key);
    }
    // Events older than the allowed lateness fold into the sessions' prefix sums (queued at
    // their time + the lateness, so due once that is before the watermark).
    this.foldExpiry.due(wm, (id) => {
      const s = this.sessions.get(id);
      if (!s) return false; // closed: nothing more to fold
      if (s.agg.fold(foldBefore)) this.sessions.touch(id);
      if (s.agg.tailLength > 1) this.queueFold(s);
      return false;
    });
    // A group whose sessions are all closed keeps only its last counted view, and only while a
    // later candidate could still fall within the repeat cap of it. A group loses its last
    // open session only here, so the groups of the sessions closed now are the ones to compact;
    // a compacted group is forgotten once its expiry comes due.
    for (const s of closedNow) {
      const key = s.group;
      if (!this.openPerGroup.has(key)) this.settleGroup(key, wm);
    }
    this.groupExpiry.due(wm, (key) => {
      if (!this.openPerGroup.has(key)) this.settleGroup(key, wm); // queued again if it stays
      return false;
    });
    // Closed-session markers are needed only while stragglers can still arrive.
    const forgetBefore = wm - CLOSED_MEMORY_MS;
    this.markerExpiry.due(forgetBefore, (id) => {
      const t = this.closed.get(id);
      if (t === undefined) return false; // forgotten already (queued twice)
      if (t >= forgetBefore) return true; // its minute is due, it is not yet
      this.closed.delete(id);
      return false;
    });
    return closedNow;
  }

  /** A session opened (or was restored open): queued to close, counted in its group. */
  private opened(s: SessionEntry): void {
    this.queueClose(s);
    const key = s.group;
    this.openPerGroup.set(key, (this.openPerGroup.get(key) ?? 0) + 1);
  }

  private queueClose(s: SessionEntry): void {
    this.closeExpiry.add(this.windows.closesAt(s.agg.first!.t, s.agg.last!.t), s.sessionId);
  }

  /** Due once the watermark passes the oldest tail event by the allowed lateness. */
  private queueFold(s: SessionEntry): void {
    this.foldExpiry.add(s.agg.tailStart! + this.options.latenessMs, s.sessionId);
  }

  /** A group with no open session: forgotten once no later view can fall within the repeat cap of its last, else compacted to that last view. */
  private settleGroup(key: string, wm: number): void {
    const g = this.groups.get(key);
    if (!g) return;
    const last = lastView(g);
    const keepFor = keepGroupFor(this.options);
    if (last === null || wm - last > keepFor) {
      this.groups.delete(key);
      return;
    }
    if (g.candidates.size > 0) {
      g.candidates.clear();
      g.lastCountedBefore = last;
      g.counted = [];
      this.groups.touch(key);
    }
    // forgotten at the first close with wm − last > keepFor, i.e. once last + keepFor < wm
    this.groupExpiry.add(last + keepFor, key);
  }

  /** Keyed state changed since the last call (processors/keyed-state.ts). */
  collect(out: StateEntries): void {
    this.sessions.collect(out);
    this.groups.collect(out);
    this.closed.collect(out);
    // The watermark moves with almost every record: one small entry.
    out.push(['p:meta', { watermark: this.watermark.toJSON() }]);
  }

  /** All of the state, as entries. */
  all(out: StateEntries): void {
    this.sessions.all(out);
    this.groups.all(out);
    this.closed.all(out);
    out.push(['p:meta', { watermark: this.watermark.toJSON() }]);
  }

  static restore(options: PlaybackOptions, state: RestoredState): PlaybackState {
    const p = new PlaybackState(options);
    const meta = state.get('p:meta') as { watermark: { maxEventTime: number | null } } | undefined;
    if (meta) Object.assign(p, { watermark: Watermark.fromJSON(options.outOfOrdernessMs, meta.watermark) });
    p.sessions.restore(state, (v) => restoredSession(v, options.viewThresholdMs));
    p.groups.restore(state, (v) => {
      const g = v as { candidates: [string, number][]; lastCountedBefore: number | null };
      const candidates = new Map(g.candidates);
      return {
        candidates,
        lastCountedBefore: g.lastCountedBefore,
        counted: countedViews(
          [...candidates].map(([sessionId, t]) => ({ sessionId, t })),
          g.lastCountedBefore,
          options.repeatCapMs,
        ),
      };
    });
    for (const s of p.sessions.values()) {
      p.opened(s);
      if (s.agg.tailLength > 1) p.queueFold(s);
    }
    p.closed.restore(state, (v) => v as number);
    for (const [id, t] of p.closed) p.markerExpiry.add(t, id);
    // every group once: one with open sessions is skipped when it comes due, and queued again
    // when its last session closes
    for (const [key, g] of p.groups) {
      const last = lastView(g);
      p.groupExpiry.add(last === null ? 0 : last + keepGroupFor(options), key);
    }
    return p;
  }
}
