// Small seeded traffic for processor tests: sessions of heartbeats, pauses, seeks and
// completes, delivered out of order, with duplicates and late stragglers.
import type { PlayEvent } from '../../../schemas/types.js';
import type { VideoLookup } from '../../../processors/contract.js';

export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const T0 = Date.UTC(2026, 10, 21, 8, 0, 0);

export interface Traffic {
  catalog: VideoLookup;
  durations: Map<string, number>;
  creators: Map<string, string>;
  /** delivery order, per partition (viewer hash) */
  deliveries: { partition: number; event: PlayEvent }[];
}

export function traffic(
  seed: number,
  opts: { viewers?: number; videos?: number; sessions?: number; partitions?: number } = {},
): Traffic {
  const r = rng(seed);
  const viewers = opts.viewers ?? 20;
  const videos = opts.videos ?? 6;
  const partitions = opts.partitions ?? 2;
  const durations = new Map<string, number>();
  const creators = new Map<string, string>();
  for (let v = 0; v < videos; v++) {
    durations.set(`v${v}`, v === 0 ? 12_000 : 60_000 + Math.floor(r() * 600_000));
    creators.set(`v${v}`, `c${v % 3}`);
  }
  const events: { t: number; partition: number; event: PlayEvent }[] = [];
  let id = 0;
  const sessions = opts.sessions ?? 60;
  for (let s = 0; s < sessions; s++) {
    const viewer = Math.floor(r() * viewers);
    const video = `v${Math.floor(r() * videos)}`;
    const duration = durations.get(video)!;
    let t = T0 + Math.floor(r() * 3 * 3_600_000);
    let pos = 0;
    const base = {
      session_id: `s${s}`,
      viewer_id: `u${viewer}`,
      video_id: video,
      received_at: 0,
      device: 'mobile',
      os: 'android',
      country: 'DE',
      traffic_source: 'browse' as const,
      referrer_video_id: null,
      seek_from_ms: null,
      startup_ms: null,
      rebuffer_ms: null,
      error_code: null,
      sdk_version: 'test',
    };
    const push = (type: PlayEvent['event_type'], watched: number, extra: Partial<PlayEvent> = {}): void => {
      const e: PlayEvent = {
        ...base,
        event_id: `e${String(++id).padStart(6, '0')}`,
        event_type: type,
        event_time: t,
        // the collector stamps receive time a little after the event
        received_at: t + 1_500,
        position_ms: pos,
        watched_ms: watched,
        ...extra,
      };
      events.push({ t, partition: viewer % partitions, event: e });
    };
    push('play_start', 0, { startup_ms: 500 });
    const beats = Math.floor(r() * 12);
    for (let b = 0; b < beats && pos < duration; b++) {
      const step = 10_000;
      const x = r();
      if (x < 0.1) {
        const from = pos;
        pos = Math.floor(r() * duration);
        t += 1_000;
        push('seek', 1_000, { seek_from_ms: from + 1_000 });
      } else {
        t += step;
        pos = Math.min(duration, pos + step);
        // sometimes a client over-reports
        push('heartbeat', x > 0.95 ? 25_000 : step);
      }
    }
    if (r() < 0.3) {
      t += 2_000;
      pos = duration;
      push('complete', 2_000);
    }
  }
  // delivery: by time, with local shuffles (out of order), duplicates and some minutes-late stragglers
  events.sort((a, b) => a.t - b.t);
  const delivered: { key: number; partition: number; event: PlayEvent }[] = [];
  for (const e of events) {
    const x = r();
    const delay = x < 0.05 ? 120_000 + r() * 600_000 : r() * 8_000;
    delivered.push({ key: e.t + delay, partition: e.partition, event: e.event });
    if (r() < 0.03) delivered.push({ key: e.t + delay + r() * 30_000, partition: e.partition, event: e.event });
  }
  delivered.sort((a, b) => a.key - b.key);
  const catalog: VideoLookup = {
    get: (videoId) =>
      durations.has(videoId) ? { creatorId: creators.get(videoId)!, durationMs: durations.get(videoId)! } : undefined,
  };
  return { catalog, durations, creators, deliveries: delivered.map(({ partition, event }) => ({ partition, event })) };
}

/** A valid play event: the given fields over the defaults of these tests' player. */
export function playEvent(
  e: Pick<PlayEvent, 'event_id' | 'event_type' | 'event_time' | 'session_id' | 'viewer_id' | 'video_id'> &
    Partial<PlayEvent>,
): PlayEvent {
  return {
    received_at: e.event_time + 1_000,
    position_ms: 0,
    watched_ms: 0,
    device: 'mobile',
    os: 'android',
    country: 'DE',
    traffic_source: 'browse',
    referrer_video_id: null,
    seek_from_ms: null,
    startup_ms: null,
    rebuffer_ms: null,
    error_code: null,
    sdk_version: 'test',
    ...e,
  };
}

/**
 * A saved session aggregate as earlier versions wrote it, from the positional form: every event
 * an object (the tail's with its contribution `c`). Spelled out, not derived from the code: it
 * is what old changelogs hold.
 */
export function aggregateObjectForm(saved: Record<string, unknown>): Record<string, unknown> {
  const event = (e: unknown[] | null) =>
    e && { id: e[0], t: e[1], type: e[2], pos: e[3], watched: e[4], seekFrom: e[5] };
  return {
    ...saved,
    first: event(saved.first as unknown[] | null),
    last: event(saved.last as unknown[] | null),
    anchor: event(saved.anchor as unknown[] | null),
    tail: (saved.tail as unknown[][]).map((e) => ({ ...event(e), c: e[6] })),
  };
}
