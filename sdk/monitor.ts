// monitor(video, options): attach to an HTMLMediaElement and emit the play events from what
// the element does, through the tracker's own track() (batching, retries, page hide are the
// tracker's). The rules, in short (sdk/README.md has them in full):
//
// - A session opens at the first play request (`play`) and gets a new session_id; play_start
//   is sent at the first frame (`playing`) with startup_ms = first frame - play request.
// - watched_ms is playback: the advance of currentTime while the element is playing, summed
//   since the session's previous event. Wall time does not count, a jump (seek) does not
//   count, the playback rate is in it by construction (rate 2: 2 ms of media per 1 ms).
// - A heartbeat after every `heartbeatMs` (10 s) of playback, i.e. of media time: the timer
//   waits (remaining media time) / playbackRate of wall time and is re-armed on every change.
// - pause / resume; seek on `seeking` (seek_from_ms = where the playhead was, position_ms =
//   where it went); rebuffer_start on `waiting` while playing, rebuffer_end on `playing` (or
//   whatever ends the stall) with rebuffer_ms; complete on `ended`; error with the media
//   error code (it ends the session); play_end on pagehide, destroy(), a new source, or a
//   replay after complete. A new source (`emptied`, or `loadstart` with another currentSrc)
//   ends the session; the next play opens a new one.
// - event_time strictly increases within a session (+1 ms when two events fall in the same
//   millisecond), so the pipeline's session order (event time, then event_id) is emission order.
//
// No DOM types: the element is structural (MediaElementLike), so tests drive a fake one.

import { createTracker, type Tracker, type TrackerOptions, type TrackEvent } from './player.js';
import type { Device, EventType, TrafficSource } from './types.js';
import { randomUUID } from './uuid.js';

/** The parts of an HTMLMediaElement the monitor reads; a real `<video>` or `<audio>` fits. */
export interface MediaElementLike {
  /** Seconds. */
  readonly currentTime: number;
  /** Seconds; NaN while unknown, Infinity for live streams. */
  readonly duration: number;
  readonly paused: boolean;
  readonly ended?: boolean;
  readonly playbackRate: number;
  readonly currentSrc: string;
  readonly error: { readonly code: number } | null;
  readonly readyState: number;
  addEventListener(type: string, listener: () => void): void;
  removeEventListener(type: string, listener: () => void): void;
}

/** What every event of a session carries besides the playback numbers. */
export interface SessionFields {
  /** The video's id in the catalog, or a function of the element's currentSrc (called at each session start). */
  videoId: string | ((src: string) => string);
  viewerId: string;
  /** Default 'other'. */
  device?: Device;
  /** Free text (e.g. 'macOS 14'); default 'unknown'. */
  os?: string;
  /** ISO 3166-1 alpha-2, upper case; default 'ZZ' (unknown). */
  country?: string;
  /** Default 'other'. */
  trafficSource?: TrafficSource;
  referrerVideoId?: string | null;
}

export interface MonitorOptions extends SessionFields, Partial<TrackerOptions> {
  /** An existing tracker to send through; otherwise one is created from the tracker options (endpoint, writeKey, ...). */
  tracker?: Tracker;
  /** Media time between heartbeats, in ms (default 10000). */
  heartbeatMs?: number;
  /** New session ids; default random v4 UUIDs. */
  sessionId?: () => string;
}

export interface Monitor {
  /** The tracker the events go through. */
  readonly tracker: Tracker;
  /** The open session's id, or null between sessions. */
  sessionId(): string | null;
  /** Change session fields (e.g. videoId before a new source); they apply from the next session. */
  update(fields: Partial<SessionFields>): void;
  /**
   * Ends the session (play_end), removes every listener and timer. If the monitor created its
   * tracker, shuts it down too (the promise resolves once the events are delivered or dropped).
   */
  destroy(): Promise<void>;
}

/** MediaError codes (HTMLMediaElement.error.code) as error_code. */
const MEDIA_ERRORS = ['', 'MEDIA_ERR_ABORTED', 'MEDIA_ERR_NETWORK', 'MEDIA_ERR_DECODE', 'MEDIA_ERR_SRC_NOT_SUPPORTED'];
/** The collector's bound of positions and durations (24 h). */
const MAX_MS = 86_400_000;
/** A currentTime advance beyond elapsed wall time x rate + this is a jump, not playback. */
const JUMP_SLACK_MS = 1000;
/** readyState HAVE_FUTURE_DATA: the element can play on. */
const HAVE_FUTURE_DATA = 3;

const clampMs = (ms: number): number => (ms > 0 ? Math.min(Math.round(ms), MAX_MS) : 0);

interface Session {
  id: string;
  src: string;
  fields: Omit<TrackEvent, 'event_type' | 'position_ms' | 'watched_ms'>;
}

export function monitor(media: MediaElementLike, options: MonitorOptions): Monitor {
  const tracker = options.tracker ?? createTracker(options as TrackerOptions);
  const now = options.now ?? (() => Date.now());
  const setTimer = options.setTimeout ?? ((fn: () => void, ms: number): unknown => setTimeout(fn, ms));
  const clearTimer = options.clearTimeout ?? ((h: unknown) => clearTimeout(h as ReturnType<typeof setTimeout>));
  const heartbeatMs = options.heartbeatMs ?? 10_000;
  const newSessionId = options.sessionId ?? randomUUID;
  if (!(heartbeatMs > 0)) throw new RangeError('monitor: heartbeatMs must be > 0');
  if (!options.viewerId) throw new TypeError('monitor: viewerId is required');
  if (!options.videoId) throw new TypeError('monitor: videoId is required');
  let fields: SessionFields = options;

  let session: Session | null = null;
  let started = false; // play_start sent
  let requestedAt: number | null = null; // wall time of the play request; null when unknown
  let advancing = false; // playing: currentTime advances count as watched
  let pausedSent = false;
  let seeking = false;
  let stalledAt: number | null = null;
  let ended = false; // complete sent
  let lastPos = 0; // media ms at the last sample
  let lastAt = 0; // wall ms at the last sample
  let lastEventAt = 0;
  let rate = 1;
  let pending = 0; // watched since the session's previous event
  let sinceBeat = 0; // watched since the last heartbeat
  let timer: unknown;

  const position = (): number => clampMs(media.currentTime * 1000);

  /** Account for playback up to `pos` (default: currentTime) at wall time `t`. */
  const sample = (pos = position(), t = now()): void => {
    const advance = pos - lastPos;
    if (advancing && advance > 0 && advance <= (t - lastAt) * rate + JUMP_SLACK_MS) {
      pending += advance;
      sinceBeat += advance;
    }
    lastPos = pos;
    lastAt = t;
  };

  /** Where the playhead is now by the last sample, for when currentTime already moved (seeking, emptied). */
  const estimate = (t: number): number =>
    advancing ? Math.min(lastPos + clampMs((t - lastAt) * rate), clampMs(media.duration * 1000) || MAX_MS) : lastPos;

  const emit = (type: EventType, extra: Partial<TrackEvent> = {}): void => {
    if (!session) return;
    const t = Math.max(now(), lastEventAt + 1);
    lastEventAt = t;
    const watched = pending;
    pending = 0;
    tracker.track({
      ...session.fields,
      event_type: type,
      event_time: t,
      position_ms: lastPos,
      watched_ms: Math.min(watched, MAX_MS),
      ...extra,
    });
  };

  const stopTimer = (): void => {
    if (timer !== undefined) clearTimer(timer);
    timer = undefined;
  };

  /** Arm the heartbeat for the media time still missing, at the current rate. */
  const arm = (): void => {
    stopTimer();
    if (advancing && rate > 0) timer = setTimer(beat, Math.max(1, Math.ceil((heartbeatMs - sinceBeat) / rate)));
  };

  function beat(): void {
    timer = undefined;
    sample();
    if (sinceBeat >= heartbeatMs) {
      sinceBeat = 0;
      emit('heartbeat');
    }
    arm();
  }

  /** Playback stops counting (pause, stall, seek, end, error). */
  const halt = (): void => {
    advancing = false;
    stopTimer();
  };

  const endStall = (): void => {
    if (stalledAt === null) return;
    emit('rebuffer_end', { rebuffer_ms: clampMs(now() - stalledAt) });
    stalledAt = null;
  };

  const open = (): void => {
    const f = fields;
    const src = media.currentSrc;
    session = {
      id: newSessionId(),
      src,
      fields: {
        session_id: '',
        viewer_id: f.viewerId,
        video_id: typeof f.videoId === 'function' ? f.videoId(src) : f.videoId,
        device: f.device ?? 'other',
        os: f.os ?? 'unknown',
        country: f.country ?? 'ZZ',
        traffic_source: f.trafficSource ?? 'other',
        referrer_video_id: f.referrerVideoId ?? null,
      },
    };
    session.fields.session_id = session.id;
    started = advancing = pausedSent = seeking = ended = false;
    stalledAt = null;
    pending = sinceBeat = lastEventAt = 0;
    requestedAt = lastAt = now();
    lastPos = position();
    rate = media.playbackRate;
  };

  /** End the session: play_end if it started. `pos` is where the playhead was. */
  const close = (pos?: number): void => {
    if (!session) return;
    if (started) {
      sample(pos);
      endStall();
      emit('play_end');
    }
    halt();
    session = null;
  };

  const firstFrame = (): void => {
    started = true;
    emit('play_start', { startup_ms: requestedAt === null ? null : clampMs(now() - requestedAt) });
  };

  const handlers: Record<string, () => void> = {
    play() {
      if (session && ended) close(); // a replay after complete is a new session
      if (!session) return open();
      if (pausedSent) {
        sample();
        pausedSent = false;
        emit('resume');
      }
    },
    playing() {
      if (!session) {
        open();
        requestedAt = null; // the request came before the monitor saw it
      }
      if (seeking || ended) return;
      sample();
      if (!started) firstFrame();
      else if (stalledAt !== null) endStall();
      else if (pausedSent) {
        pausedSent = false;
        emit('resume');
      }
      advancing = true;
      arm();
    },
    waiting() {
      if (!started || seeking || ended || stalledAt !== null || pausedSent) return;
      sample();
      halt();
      emit('rebuffer_start');
      stalledAt = now();
    },
    pause() {
      if (!started || ended || pausedSent || media.ended) return; // at the end, `ended` follows
      sample();
      halt();
      endStall();
      pausedSent = true;
      emit('pause');
    },
    seeking() {
      if (!started || ended) return; // positions set before the first frame or after the end are not seeks
      if (seeking) {
        lastPos = position(); // still scrubbing: one seek event, from the first position
        return;
      }
      const t = now();
      sample(estimate(t), t); // currentTime is already the target
      const from = lastPos;
      halt();
      endStall();
      seeking = true;
      lastPos = position();
      emit('seek', { seek_from_ms: from });
    },
    seeked() {
      lastPos = position();
      lastAt = now();
      if (!seeking) return;
      seeking = false;
      advancing = !media.paused && stalledAt === null && media.readyState >= HAVE_FUTURE_DATA;
      arm();
    },
    timeupdate() {
      if (!session) return;
      sample();
      if (advancing && sinceBeat >= heartbeatMs) beat(); // timers may be throttled, timeupdate is not
    },
    ratechange() {
      if (session) sample();
      rate = media.playbackRate;
      arm();
    },
    ended() {
      if (!started || ended) return;
      sample();
      halt();
      endStall();
      ended = true;
      emit('complete');
    },
    error() {
      if (!session) return;
      sample();
      halt();
      endStall();
      const code = media.error?.code ?? 0;
      emit('error', { error_code: MEDIA_ERRORS[code] || `MEDIA_ERR_${code}` });
      session = null; // the element stops on a media error: the session is over, no play_end
    },
    emptied() {
      close(estimate(now())); // a new source (or load()): currentTime is already 0
    },
    loadstart() {
      if (session && media.currentSrc !== session.src) close(estimate(now()));
    },
  };

  for (const [type, fn] of Object.entries(handlers)) media.addEventListener(type, fn);
  const unhookPage = tracker.onPageHide(() => close());

  if (!media.paused) {
    // Attached to an element already asked to play: the session starts now; startup unknown.
    open();
    requestedAt = null;
    if (media.readyState >= HAVE_FUTURE_DATA) handlers.playing!();
  }

  let destroyed: Promise<void> | undefined;
  return {
    tracker,
    sessionId: () => session?.id ?? null,
    update(changes) {
      fields = { ...fields, ...changes };
    },
    destroy() {
      if (!destroyed) {
        close();
        for (const [type, fn] of Object.entries(handlers)) media.removeEventListener(type, fn);
        unhookPage();
        destroyed = options.tracker ? Promise.resolve() : tracker.shutdown();
      }
      return destroyed;
    },
  };
}
