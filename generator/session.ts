// One playback session, simulated: a pure function of its spec and its random stream.
//
// The player starts (play_start with startup_ms), plays, and sends a heartbeat after every
// 10 s of playback (the timer stops while paused, stalled or seeking). Along the way, at
// random points of playback (about one every 100 s), the viewer pauses (and resumes), seeks
// forward or back (seek with seek_from_ms), the stream stalls (rebuffer_start/_end with
// rebuffer_ms) or, rarely, fails (error). The session ends when the video ends (complete,
// usually followed by play_end) or when the viewer leaves, at a point drawn from a retention
// curve: completion is likelier for short videos, and a third of the leavers go in the first
// 15 %. A leaver sends play_end two times in three; otherwise the app just closes.
//
// watched_ms is the playback since the session's previous event, so for a well-behaved
// client it never exceeds the event-time gap. Buggy clients (old SDK) over-report on some
// heartbeats, on resume (counting the pause) and on rebuffer_end (counting the stall), and
// the watch-time bound is what keeps their numbers honest.
//
// Times here are true times. The client's clock (skew) is applied when the event is sent.
import type { EventType, PlayEvent, TrafficSource } from '../schemas/types.js';
import { clamp, type Rng } from './rng.js';
import type { ViewerProfile } from './viewers.js';

export const HEARTBEAT_MS = 10_000;
/** A session that has been open this long is given up (no more events). */
export const MAX_SESSION_MS = 3 * 3_600_000;
/** Mean playback between two interruptions (pause, seek, stall, error). */
const MEAN_INTERRUPT_MS = 100_000;

const ERROR_CODES = ['MEDIA_ERR_NETWORK', 'MEDIA_ERR_DECODE', 'DRM_LICENSE_FAILED', 'MANIFEST_LOAD_FAILED'];

export interface SimEvent {
  event_id: string;
  event_type: EventType;
  /** True time of the event, epoch ms. */
  t: number;
  position_ms: number;
  watched_ms: number;
  seek_from_ms: number | null;
  startup_ms: number | null;
  rebuffer_ms: number | null;
  error_code: string | null;
}

export interface SessionSpec {
  session_id: string;
  viewer: ViewerProfile;
  video_id: string;
  duration_ms: number;
  /** True start time, epoch ms. */
  start: number;
  traffic_source: TrafficSource;
  referrer_video_id: string | null;
}

export type Outcome = 'complete' | 'abandon' | 'error';

export interface SimSession {
  spec: SessionSpec;
  /** In true-time order, strictly increasing except for an occasional complete/play_end tie. */
  events: SimEvent[];
  /** True time of the last event. */
  end: number;
  outcome: Outcome;
}

/** What a client sends: a play event without received_at, event_time in the client's clock. */
export type WireEvent = Omit<PlayEvent, 'received_at'>;

/** Chance that a viewer watches to the end: ~55 % for a 30 s clip, ~30 % at 5 min, ~8 % at 1 h. */
export function completionProbability(durationMs: number): number {
  return 0.6 / (1 + 0.25 * Math.pow(durationMs / 60_000, 0.8));
}

/** Playback (ms) after which a non-completing viewer leaves. */
function abandonAfter(rng: Rng, durationMs: number): number {
  const f = rng.chance(0.35) ? 0.15 * rng.next() ** 2 : 0.15 + 0.83 * rng.next();
  return Math.max(500, Math.round(f * durationMs));
}

export function simulateSession(spec: SessionSpec, rng: Rng): SimSession {
  const D = spec.duration_ms;
  const viewer = spec.viewer;
  const events: SimEvent[] = [];
  let t = spec.start;
  let lastT = -Infinity;
  let pos = 0;

  const emit = (type: EventType, watched: number, extra?: Partial<SimEvent>, allowTie = false): void => {
    if (!allowTie && t <= lastT) t = lastT + 1; // a player never sends two events in the same ms
    events.push({
      event_id: rng.uuid(),
      event_type: type,
      t,
      position_ms: pos,
      watched_ms: watched,
      seek_from_ms: null,
      startup_ms: null,
      rebuffer_ms: null,
      error_code: null,
      ...extra,
    });
    lastT = t;
  };
  const done = (outcome: Outcome): SimSession => ({ spec, events, end: lastT, outcome });
  const overReport = (watched: number, p: number, min: number, max: number): number =>
    viewer.buggy && rng.chance(p) ? watched + rng.range(min, max) : watched;

  const startup = Math.round(clamp(rng.lognormal(viewer.startupMedianMs, 0.5), 120, 15_000));
  emit('play_start', 0, { startup_ms: startup });
  t += startup;

  const budget = rng.chance(completionProbability(D)) ? Infinity : abandonAfter(rng, D);
  const interruptWeights = [0.35, 0.18, 0.14, 0.3 * viewer.rebufferProneness, 0.015];
  const interruptTotal = interruptWeights.reduce((a, b) => a + b, 0);
  const drawInterrupt = (): number => Math.max(1, Math.round(rng.exponential(MEAN_INTERRUPT_MS)));
  const hardStop = spec.start + MAX_SESSION_MS;

  let played = 0;
  let sinceEvent = 0;
  let sinceHeartbeat = 0;
  let nextInterrupt = drawInterrupt();

  for (;;) {
    const toEnd = D - pos;
    const toHeartbeat = HEARTBEAT_MS - sinceHeartbeat;
    const toLeave = budget - played;
    const step = Math.min(toEnd, toHeartbeat, toLeave, nextInterrupt);
    t += step;
    pos += step;
    played += step;
    sinceEvent += step;
    sinceHeartbeat += step;
    nextInterrupt -= step;
    if (t > hardStop) return done('abandon');

    if (step === toEnd) {
      emit('complete', overReport(sinceEvent, 0.3, 1000, 5000));
      if (rng.chance(0.7)) {
        const tie = rng.chance(0.07); // same millisecond: session order falls back to event_id
        if (!tie) t += rng.range(20, 800);
        emit('play_end', 0, undefined, tie);
      }
      return done('complete');
    }
    if (step === toLeave) {
      if (rng.chance(0.65)) emit('play_end', sinceEvent);
      return done('abandon');
    }
    if (step === toHeartbeat) {
      emit('heartbeat', overReport(sinceEvent, 0.4, 1000, 8000));
      sinceEvent = 0;
      sinceHeartbeat = 0;
      continue;
    }

    // An interruption.
    nextInterrupt = drawInterrupt();
    let x = rng.next() * interruptTotal;
    let kind = 0;
    while (kind < interruptWeights.length - 1 && x >= interruptWeights[kind]!) x -= interruptWeights[kind++]!;
    switch (kind) {
      case 0: {
        emit('pause', sinceEvent);
        sinceEvent = 0;
        const pause = Math.round(clamp(rng.lognormal(12_000, 1.1), 800, 900_000));
        if (rng.chance(0.06)) return done('abandon'); // closed while paused
        t += pause;
        emit('resume', overReport(0, 0.5, pause + 1000, pause + 5000));
        break;
      }
      case 1:
      case 2: {
        const from = pos;
        const to =
          kind === 1
            ? Math.min(D - 1, pos + Math.max(2000, Math.round(D * rng.uniform(0.05, 0.3))))
            : Math.max(0, pos - rng.range(5000, 60_000));
        if (to === from || (kind === 1 && to < from)) break;
        pos = to;
        emit('seek', sinceEvent, { seek_from_ms: from });
        sinceEvent = 0;
        t += rng.range(150, 900); // seeking: no playback
        break;
      }
      case 3: {
        emit('rebuffer_start', sinceEvent);
        sinceEvent = 0;
        const stall = Math.round(clamp(rng.lognormal(1500, 0.9), 100, 60_000));
        t += stall;
        if (stall > 8000 && rng.chance(0.2)) return done('abandon'); // gave up waiting
        emit('rebuffer_end', overReport(0, 0.5, stall + 1000, stall + 4000), { rebuffer_ms: stall });
        break;
      }
      default: {
        emit('error', sinceEvent, { error_code: rng.pick(ERROR_CODES) });
        return done('error');
      }
    }
  }
}

/** The event as the client sends it, with event_time in the client's (skewed) clock. */
export function toWire(spec: SessionSpec, e: SimEvent): WireEvent {
  const v = spec.viewer;
  return {
    event_id: e.event_id,
    event_type: e.event_type,
    event_time: e.t + v.skewMs,
    session_id: spec.session_id,
    viewer_id: v.viewer_id,
    video_id: spec.video_id,
    position_ms: e.position_ms,
    watched_ms: e.watched_ms,
    device: v.device,
    os: v.os,
    country: v.country,
    traffic_source: spec.traffic_source,
    referrer_video_id: spec.referrer_video_id,
    seek_from_ms: e.seek_from_ms,
    startup_ms: e.startup_ms,
    rebuffer_ms: e.rebuffer_ms,
    error_code: e.error_code,
    sdk_version: v.sdk_version,
  };
}
