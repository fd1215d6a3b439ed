// A synthetic stream with a chosen number of distinct viewers, for benchmarks of state size
// (bench:recommendations, bench:processors): every viewer watches two videos of its taste group.
import { MinHeap } from '../lib/min-heap.js';
import type { AvroProducer } from '../lib/kafka/producer.js';
import type { PlayEvent } from '../schemas/types.js';

export const SYN_VIDEOS = 2000;
export const synVideo = (i: number): string => `syn-v${String(i).padStart(5, '0')}`;

/**
 * `viewers` distinct viewers arriving evenly over `spanMs`, each watching two videos of its
 * taste group: sessions at +0 s and +40 s, each play_start, heartbeat +15 s, heartbeat +30 s
 * (15 s watched each: the session qualifies at +30 s). Events in time order.
 */
export function* syntheticStream(viewers: number, start: number, spanMs: number): Generator<PlayEvent> {
  const offsets: [session: number, type: 'play_start' | 'heartbeat', at: number, watched: number][] = [
    [0, 'play_start', 0, 0],
    [0, 'heartbeat', 15_000, 15_000],
    [0, 'heartbeat', 30_000, 15_000],
    [1, 'play_start', 40_000, 0],
    [1, 'heartbeat', 55_000, 15_000],
    [1, 'heartbeat', 70_000, 15_000],
  ];
  const heap = new MinHeap<{ t: number; viewer: number; k: number }>(
    (a, b) => a.t < b.t || (a.t === b.t && a.viewer < b.viewer),
  );
  const arrival = (i: number): number => start + Math.floor((i * spanMs) / viewers);
  let next = 0;
  while (next < viewers || heap.size > 0) {
    while (next < viewers && (heap.size === 0 || arrival(next) <= heap.peek()!.t)) {
      heap.push({ t: arrival(next), viewer: next, k: 0 });
      next++;
    }
    const { viewer, k } = heap.pop()!;
    const [session, type, at, watched] = offsets[k]!;
    const group = viewer % 8;
    const video = synVideo(group * (SYN_VIDEOS / 8) + ((viewer * 7 + session * 13) % (SYN_VIDEOS / 8)));
    const t = arrival(viewer) + at;
    yield {
      event_id: `syn-e${viewer}-${k}`,
      event_type: type,
      event_time: t,
      received_at: t + 1_000,
      session_id: `syn-s${viewer}-${session}`,
      viewer_id: `syn-u${String(viewer).padStart(7, '0')}`,
      video_id: video,
      position_ms: at - (session ? 40_000 : 0),
      watched_ms: watched,
      device: 'mobile',
      os: 'android',
      country: 'DE',
      traffic_source: session ? 'suggested' : 'browse',
      referrer_video_id: null,
      seek_from_ms: null,
      startup_ms: type === 'play_start' ? 400 : null,
      rebuffer_ms: null,
      error_code: null,
      sdk_version: 'bench',
    };
    if (k + 1 < offsets.length) heap.push({ t: arrival(viewer) + offsets[k + 1]![2], viewer, k: k + 1 });
  }
}

/** Sends every event, `chunk` at a time with up to `inFlight` sends under way; the count sent. */
export async function produceAll(
  producer: AvroProducer<PlayEvent>,
  events: Iterable<PlayEvent>,
  chunk = 5_000,
  inFlight = 8,
): Promise<number> {
  const pending = new Set<Promise<void>>();
  let batch: PlayEvent[] = [];
  let n = 0;
  for (const e of events) {
    batch.push(e);
    n++;
    if (batch.length < chunk) continue;
    const send = producer.send(batch).then(() => void pending.delete(send));
    pending.add(send);
    batch = [];
    if (pending.size >= inFlight) await Promise.race(pending);
  }
  if (batch.length) await producer.send(batch);
  await Promise.all(pending);
  return n;
}
