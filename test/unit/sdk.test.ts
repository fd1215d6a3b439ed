// The player SDK (sdk/player.ts), specified against a fake collector: an injected fetch that
// records every request and answers from a script, vitest's fake clock, and a seeded random
// for the backoff jitter. No network.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  createTracker,
  SDK_VERSION,
  type DropReport,
  type FetchInit,
  type FetchLike,
  type FetchResponse,
  type SentEvent,
  type TrackerOptions,
  type TrackEvent,
} from '../../sdk/player.js';
import { parseRetryAfter } from '../../sdk/retry.js';
import { randomUUID } from '../../sdk/uuid.js';

const T0 = Date.UTC(2025, 0, 15, 12, 0, 0);
const ENDPOINT = 'https://collect.example.test';
const WRITE_KEY = 'vp_test_write_key';
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

// --- the fake collector ---

type Answer =
  | { status: number; headers?: Record<string, string>; body?: unknown }
  | { networkError: string }
  | 'hang' // never answers; rejects like fetch when the SDK aborts it
  | 'held'; // answers 200 when the test calls release()

interface Recorded {
  url: string;
  init: FetchInit;
  body: { sent_at: number; events: SentEvent[] };
  ids: string[];
  at: number;
}

/** Answers from `script` in order, then 200 "all accepted" for every later request. */
function fakeCollector(...script: Answer[]) {
  const requests: Recorded[] = [];
  const held: (() => void)[] = [];
  const fetch: FetchLike = (url, init) => {
    const body = JSON.parse(init.body) as Recorded['body'];
    requests.push({ url, init, body, ids: body.events.map((e) => e.event_id), at: Date.now() });
    const accepted = reply(200, { accepted: body.events.length, rejected: [] });
    const answer = script.shift() ?? { status: 200 };
    if (answer === 'hang') {
      return new Promise((_, reject) =>
        init.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))),
      );
    }
    if (answer === 'held') return new Promise((resolve) => held.push(() => resolve(accepted)));
    if ('networkError' in answer) return Promise.reject(new TypeError(answer.networkError));
    if (answer.status === 200 && answer.body === undefined) return Promise.resolve(accepted);
    return Promise.resolve(reply(answer.status, answer.body ?? {}, answer.headers));
  };
  /** Answer the oldest held request. */
  const release = (): void => held.shift()?.();
  return { fetch, requests, release };
}

function reply(status: number, body: unknown, headers: Record<string, string> = {}): FetchResponse {
  return { status, headers: new Headers(headers), json: async () => body, body: null };
}

// --- players and trackers ---

let position = 0;
function playEvent(overrides: Partial<TrackEvent> = {}): TrackEvent {
  position += 10_000;
  return {
    event_type: 'heartbeat',
    session_id: 'session-1',
    viewer_id: 'viewer-1',
    video_id: 'video-1',
    position_ms: position,
    watched_ms: 10_000,
    device: 'desktop',
    os: 'macOS',
    country: 'FR',
    traffic_source: 'search',
    ...overrides,
  };
}

/** mulberry32: a small seeded PRNG, so jittered delays are reproducible. */
function seeded(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function setup(collector: ReturnType<typeof fakeCollector>, options: Partial<TrackerOptions> = {}) {
  const drops: DropReport[] = [];
  const tracker = createTracker({
    endpoint: `${ENDPOINT}/`,
    writeKey: WRITE_KEY,
    fetch: collector.fetch,
    random: seeded(42),
    onDrop: (d) => drops.push(d),
    ...options,
  });
  const track = (n: number, overrides: Partial<TrackEvent> = {}): string[] =>
    Array.from({ length: n }, () => tracker.track(playEvent(overrides)));
  return { tracker, drops, track };
}

/** Let pending promises settle without moving the clock. */
const settle = (): Promise<unknown> => vi.advanceTimersByTimeAsync(0);
const advance = (ms: number): Promise<unknown> => vi.advanceTimersByTimeAsync(ms);
const gaps = (rs: Recorded[]): number[] => rs.slice(1).map((r, i) => r.at - rs[i]!.at);

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
});
afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

// --- specifications ---

describe('track()', () => {
  it('fills event_id, sdk_version, event_time (when missing) and the optional nulls; keeps the rest', async () => {
    const collector = fakeCollector();
    const { tracker } = setup(collector);
    const id1 = tracker.track(playEvent({ event_type: 'play_start', startup_ms: 850 }));
    vi.setSystemTime(T0 + 1234);
    const id2 = tracker.track(
      playEvent({ event_time: T0 - 60_000, traffic_source: 'suggested', referrer_video_id: 'v0' }),
    );
    await tracker.flush();

    const [first, second] = collector.requests[0]!.body.events;
    expect(first).toEqual({
      event_id: id1,
      event_type: 'play_start',
      event_time: T0,
      session_id: 'session-1',
      viewer_id: 'viewer-1',
      video_id: 'video-1',
      position_ms: expect.any(Number),
      watched_ms: 10_000,
      device: 'desktop',
      os: 'macOS',
      country: 'FR',
      traffic_source: 'search',
      referrer_video_id: null,
      seek_from_ms: null,
      startup_ms: 850,
      rebuffer_ms: null,
      error_code: null,
      sdk_version: SDK_VERSION,
    });
    expect(second).toMatchObject({ event_id: id2, event_time: T0 - 60_000, referrer_video_id: 'v0' });
    expect(id1).toMatch(UUID_V4);
    expect(id2).not.toBe(id1);
    expect(second).not.toHaveProperty('received_at');
  });

  it('copies the event: changing the object after track() changes nothing that is sent', async () => {
    const collector = fakeCollector();
    const { tracker } = setup(collector);
    const event = playEvent({ video_id: 'before' });
    tracker.track(event);
    event.video_id = 'after';
    await tracker.flush();
    expect(collector.requests[0]!.body.events[0]!.video_id).toBe('before');
  });
  it('takes event_id from the eventId option when given, and the same id again on a retry', async () => {
    const collector = fakeCollector({ status: 503 });
    const ids = ['00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002'];
    const { tracker } = setup(collector, { eventId: () => ids.shift()!, baseBackoffMs: 1 });
    expect([tracker.track(playEvent()), tracker.track(playEvent())]).toEqual([
      '00000000-0000-4000-8000-000000000001',
      '00000000-0000-4000-8000-000000000002',
    ]);
    const flushed = tracker.flush();
    await advance(10);
    await flushed;
    expect(collector.requests.map((r) => r.ids)).toEqual([
      ['00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002'],
      ['00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002'],
    ]);
  });
});

describe('batching', () => {
  it('POSTs {sent_at, events} as JSON to {endpoint}/v1/events with the X-Write-Key header', async () => {
    const collector = fakeCollector();
    const { tracker, track } = setup(collector);
    const ids = track(2);
    vi.setSystemTime(T0 + 50);
    await tracker.flush();

    expect(collector.requests).toHaveLength(1);
    const [request] = collector.requests;
    expect(request!.url).toBe(`${ENDPOINT}/v1/events`);
    expect(request!.init).toMatchObject({
      method: 'POST',
      keepalive: false,
      headers: { 'content-type': 'application/json', 'X-Write-Key': WRITE_KEY },
    });
    expect(request!.body.sent_at).toBe(T0 + 50);
    expect(request!.ids).toEqual(ids);
  });

  it('sends a batch as soon as maxBatch events are queued', async () => {
    const collector = fakeCollector();
    const { track } = setup(collector, { maxBatch: 3 });
    const ids = track(7);
    await settle();

    expect(collector.requests.map((r) => r.ids)).toEqual([ids.slice(0, 3), ids.slice(3, 6)]);
    expect(Date.now()).toBe(T0); // no waiting for the interval
  });

  it('sends what is queued flushIntervalMs after the oldest unsent event, not before', async () => {
    const collector = fakeCollector();
    const { tracker, track } = setup(collector, { flushIntervalMs: 5000 });
    const first = track(1);
    await advance(3000);
    const second = track(1);
    await advance(1999);
    expect(collector.requests).toHaveLength(0);

    await advance(1);
    expect(collector.requests.map((r) => r.ids)).toEqual([[...first, ...second]]);

    await advance(60_000); // an idle tracker sends nothing
    expect(collector.requests).toHaveLength(1);
    expect(tracker.stats()).toMatchObject({ queued: 0, inFlight: 0, sent: 2 });
  });

  it('keeps one request in flight at a time, in queue order', async () => {
    const collector = fakeCollector('held', 'held', 'held');
    const { tracker, track } = setup(collector, { maxBatch: 2 });
    const ids = track(6);
    await settle();
    expect(collector.requests).toHaveLength(1);
    expect(tracker.stats()).toMatchObject({ queued: 4, inFlight: 2 });

    collector.release();
    await settle();
    expect(collector.requests).toHaveLength(2);

    collector.release();
    await settle();
    collector.release();
    await settle();
    expect(collector.requests.map((r) => r.ids)).toEqual([ids.slice(0, 2), ids.slice(2, 4), ids.slice(4, 6)]);
    expect(tracker.stats()).toMatchObject({ queued: 0, inFlight: 0, sent: 6 });
  });
});

describe('retries', () => {
  it('429 with Retry-After: waits at least that long, then re-sends once with the same event_ids and a fresh sent_at', async () => {
    const collector = fakeCollector({ status: 429, headers: { 'Retry-After': '7' } });
    const { tracker, track, drops } = setup(collector, { baseBackoffMs: 500 });
    const ids = track(3);
    const flushed = tracker.flush();

    await advance(6999);
    expect(collector.requests).toHaveLength(1); // the jitter (< 500 ms) would be shorter: Retry-After wins
    await advance(1);
    await flushed;
    await advance(60_000);

    expect(collector.requests).toHaveLength(2);
    expect(collector.requests[1]!.ids).toEqual(ids);
    expect(collector.requests.map((r) => r.body.sent_at)).toEqual([T0, T0 + 7000]);
    expect(tracker.stats()).toMatchObject({ sent: 3, retries: 1 });
    expect(drops).toEqual([]);
  });

  it('503 three times, then 200: each wait is a seeded full-jitter draw below a ceiling that doubles and is capped', async () => {
    const collector = fakeCollector({ status: 503 }, { status: 503 }, { status: 503 });
    const { tracker, track } = setup(collector, { random: seeded(7), baseBackoffMs: 500, maxBackoffMs: 1500 });
    const ids = track(2);
    let done = false;
    void tracker.flush().then(() => (done = true));
    await settle();
    expect(done).toBe(false); // flush() waits for the retries

    await advance(10_000);
    expect(done).toBe(true);
    expect(collector.requests).toHaveLength(4);
    expect(collector.requests.every((r) => r.ids.join() === ids.join())).toBe(true);

    const ceilings = [500, 1000, 1500]; // 500·2^(n-1), the third capped at maxBackoffMs
    const draw = seeded(7);
    expect(gaps(collector.requests)).toEqual(ceilings.map((c) => Math.floor(draw() * c)));
    gaps(collector.requests).forEach((gap, i) => {
      expect(gap).toBeGreaterThanOrEqual(0);
      expect(gap).toBeLessThan(ceilings[i]!);
    });
    expect(tracker.stats()).toMatchObject({ sent: 2, retries: 3 });
  });

  it('with the same draw every time, the waits grow with each retry until maxBackoffMs caps them', async () => {
    const collector = fakeCollector(...Array.from({ length: 5 }, () => ({ status: 503 })));
    const { tracker, track } = setup(collector, { random: () => 0.999, baseBackoffMs: 500, maxBackoffMs: 3000 });
    track(1);
    const flushed = tracker.flush();
    await advance(20_000);
    await flushed;
    expect(gaps(collector.requests)).toEqual([499, 999, 1998, 2997, 2997]);
  });

  it.each([500, 502, 504])('retries a %i answer', async (status) => {
    const collector = fakeCollector({ status });
    const { tracker, track } = setup(collector);
    const ids = track(1);
    const flushed = tracker.flush();
    await advance(1000);
    await flushed;
    expect(collector.requests.map((r) => r.ids)).toEqual([ids, ids]);
  });

  it('retries a network error with the same events', async () => {
    const collector = fakeCollector({ networkError: 'fetch failed' });
    const { tracker, track, drops } = setup(collector);
    const ids = track(2);
    const flushed = tracker.flush();
    await advance(1000);
    await flushed;
    expect(collector.requests.map((r) => r.ids)).toEqual([ids, ids]);
    expect(tracker.stats()).toMatchObject({ sent: 2, retries: 1 });
    expect(drops).toEqual([]);
  });

  it('aborts a request that gets no answer within timeoutMs, and retries it', async () => {
    const collector = fakeCollector('hang');
    const { tracker, track } = setup(collector, { timeoutMs: 2000, baseBackoffMs: 500 });
    const ids = track(1);
    const flushed = tracker.flush();
    await advance(1999);
    expect(collector.requests[0]!.init.signal?.aborted).toBe(false);
    await advance(1);
    expect(collector.requests[0]!.init.signal?.aborted).toBe(true);
    await advance(500);
    await flushed;
    expect(collector.requests.map((r) => r.ids)).toEqual([ids, ids]);
  });

  it('gives up after maxRetries retries: the batch is dropped with reason retries_exhausted, and later events still go', async () => {
    const collector = fakeCollector({ status: 503 }, { status: 503 }, { status: 503 });
    const { tracker, track, drops } = setup(collector, { maxRetries: 2 });
    const ids = track(2);
    const flushed = tracker.flush();
    await advance(10_000);
    await flushed;

    expect(collector.requests).toHaveLength(3); // the first attempt and two retries
    expect(drops).toEqual([{ reason: 'retries_exhausted', status: 503, events: collector.requests[0]!.body.events }]);
    expect(drops[0]!.events.map((e) => e.event_id)).toEqual(ids);
    expect(tracker.stats()).toMatchObject({ sent: 0, retries: 2, dropped: { retries_exhausted: 2 } });

    const later = track(1);
    await tracker.flush();
    expect(collector.requests[3]!.ids).toEqual(later);
  });

  it('reports the last network error when retries run out without an answer', async () => {
    const collector = fakeCollector({ networkError: 'offline' }, { networkError: 'offline' });
    const { tracker, track, drops } = setup(collector, { maxRetries: 1 });
    track(1);
    const flushed = tracker.flush();
    await advance(1000);
    await flushed;
    expect(drops).toHaveLength(1);
    expect(drops[0]).toMatchObject({ reason: 'retries_exhausted', error: new TypeError('offline') });
  });

  it.each([400, 401, 403, 413, 422])(
    'never retries a %i: drops the batch with reason batch_rejected',
    async (status) => {
      const collector = fakeCollector({ status, body: { title: 'bad request' } });
      const { tracker, track, drops } = setup(collector);
      const ids = track(2);
      await tracker.flush();
      await advance(120_000);

      expect(collector.requests).toHaveLength(1);
      expect(drops).toHaveLength(1);
      expect(drops[0]).toMatchObject({ reason: 'batch_rejected', status });
      expect(drops[0]!.events.map((e) => e.event_id)).toEqual(ids);
      expect(tracker.stats()).toMatchObject({ sent: 0, retries: 0, dropped: { batch_rejected: 2 } });
    },
  );

  it('reports events the collector rejects one by one in a 200 answer, and does not retry them', async () => {
    const reasons = ['event_time: more than 24 h after received_at'];
    const collector = fakeCollector({ status: 200, body: { accepted: 2, rejected: [{ index: 1, reasons }] } });
    const { tracker, track, drops } = setup(collector);
    const ids = track(3);
    await tracker.flush();
    await advance(120_000);

    expect(collector.requests).toHaveLength(1);
    expect(drops).toHaveLength(1);
    expect(drops[0]).toMatchObject({ reason: 'event_rejected', status: 200, reasons });
    expect(drops[0]!.events.map((e) => e.event_id)).toEqual([ids[1]]);
    expect(tracker.stats()).toMatchObject({ sent: 2, dropped: { event_rejected: 1 } });
  });
});

describe('queue cap', () => {
  it('beyond maxQueue, drops the oldest events and counts them as queue_full', async () => {
    const collector = fakeCollector();
    const { tracker, track, drops } = setup(collector, { maxQueue: 3 });
    const ids = track(5);

    expect(drops.map((d) => [d.reason, d.events.map((e) => e.event_id)])).toEqual([
      ['queue_full', [ids[0]]],
      ['queue_full', [ids[1]]],
    ]);
    expect(tracker.stats()).toMatchObject({ queued: 3, dropped: { queue_full: 2 } });

    await tracker.flush();
    expect(collector.requests.map((r) => r.ids)).toEqual([ids.slice(2)]);
  });

  it('keeps filling up to the cap while the collector is down', async () => {
    const collector = fakeCollector('hang');
    const { tracker, track } = setup(collector, { maxBatch: 2, maxQueue: 4, timeoutMs: 0 });
    track(10); // 2 in flight, 4 queued, 4 dropped
    await settle();
    expect(tracker.stats()).toMatchObject({ inFlight: 2, queued: 4, dropped: { queue_full: 4 } });
  });
});

describe('page hide (browser)', () => {
  class FakeDocument extends EventTarget {
    visibilityState: 'visible' | 'hidden' = 'visible';
  }
  let doc: FakeDocument;
  let win: EventTarget;

  beforeEach(() => {
    doc = new FakeDocument();
    win = new EventTarget();
    vi.stubGlobal('document', doc);
    vi.stubGlobal('window', win);
  });

  const setVisibility = (state: 'visible' | 'hidden'): void => {
    doc.visibilityState = state;
    doc.dispatchEvent(new Event('visibilitychange'));
  };

  it('on visibilitychange to hidden, sends the queue with keepalive before the handler returns', async () => {
    const collector = fakeCollector();
    const { tracker, track } = setup(collector);
    const ids = track(3);

    setVisibility('visible');
    expect(collector.requests).toHaveLength(0);

    setVisibility('hidden');
    expect(collector.requests).toHaveLength(1); // no await: the page may be gone after the handler
    expect(collector.requests[0]!.init.keepalive).toBe(true);
    expect(collector.requests[0]!.ids).toEqual(ids);
    await tracker.flush();
    expect(tracker.stats()).toMatchObject({ sent: 3, queued: 0 });
  });

  it('on pagehide, does the same', () => {
    const collector = fakeCollector();
    const { track } = setup(collector);
    const ids = track(2);
    win.dispatchEvent(new Event('pagehide'));
    expect(collector.requests.map((r) => [r.init.keepalive, r.ids])).toEqual([[true, ids]]);
  });

  it('onPageHide listeners run on pagehide before the queue leaves; a throwing one is ignored; removal works', () => {
    const collector = fakeCollector();
    const { tracker, track } = setup(collector);
    const ids = track(1);
    const calls: string[] = [];
    tracker.onPageHide(() => {
      throw new Error('faulty listener');
    });
    const remove = tracker.onPageHide(() => {
      calls.push('last');
      ids.push(tracker.track(playEvent({ event_type: 'play_end' })));
    });
    setVisibility('hidden'); // hidden alone is not pagehide
    expect(calls).toEqual([]);
    win.dispatchEvent(new Event('pagehide'));
    expect(calls).toEqual(['last']);
    expect(collector.requests.map((r) => [r.init.keepalive, r.ids])).toEqual([
      [true, ids.slice(0, 1)],
      [true, ids.slice(1)],
    ]);
    remove();
    win.dispatchEvent(new Event('pagehide'));
    expect(calls).toEqual(['last']);
  });

  it('splits more than 64 KiB into keepalive requests of at most 65536 bytes each, counting UTF-8 bytes', async () => {
    const collector = fakeCollector();
    const { tracker, track } = setup(collector, { maxBatch: 1000 });
    const ids = track(250, { os: 'Tizen 智能电视 '.repeat(20) }); // ~700 bytes but ~540 characters each
    setVisibility('hidden');
    await tracker.flush();

    const bytes = collector.requests.map((r) => Buffer.byteLength(r.init.body));
    expect(collector.requests.length).toBeGreaterThanOrEqual(3);
    expect(collector.requests.every((r) => r.init.keepalive)).toBe(true);
    expect(Math.max(...bytes)).toBeLessThanOrEqual(65_536);
    expect(bytes.slice(0, -1).every((b) => b > 60_000)).toBe(true); // chunks are filled, not tiny
    expect(collector.requests.flatMap((r) => r.ids)).toEqual(ids); // nothing lost, order kept
  });

  it('does not wait for a request already in flight', async () => {
    const collector = fakeCollector('held');
    const { tracker, track } = setup(collector, { maxBatch: 2 });
    const inFlight = track(2);
    const queued = track(1);
    await settle();
    expect(collector.requests).toHaveLength(1);

    win.dispatchEvent(new Event('pagehide'));
    expect(collector.requests.map((r) => r.ids)).toEqual([inFlight, queued]);

    collector.release();
    await tracker.flush();
    expect(tracker.stats()).toMatchObject({ sent: 3, inFlight: 0 });
  });

  it('puts events back in the queue when the keepalive request fails, for the normal lane to retry', async () => {
    const collector = fakeCollector({ networkError: 'keepalive quota exceeded' });
    const { tracker, track } = setup(collector, { flushIntervalMs: 5000 });
    const ids = track(2);
    setVisibility('hidden');
    await settle();
    expect(tracker.stats()).toMatchObject({ queued: 2, inFlight: 0, sent: 0 });

    await advance(5000);
    expect(collector.requests.map((r) => [r.init.keepalive, r.ids])).toEqual([
      [true, ids],
      [false, ids],
    ]);
    expect(tracker.stats()).toMatchObject({ queued: 0, sent: 2 });
  });

  it('stops listening after shutdown()', async () => {
    const collector = fakeCollector();
    const { tracker } = setup(collector);
    await tracker.shutdown();
    tracker.track(playEvent());
    setVisibility('hidden');
    win.dispatchEvent(new Event('pagehide'));
    expect(collector.requests).toHaveLength(0);
  });
});

describe('shutdown()', () => {
  it('flushes what is queued, leaves no timer behind, and drops later events with reason shutdown', async () => {
    const collector = fakeCollector();
    const { tracker, track, drops } = setup(collector);
    const ids = track(2);
    expect(vi.getTimerCount()).toBe(1); // the interval flush

    await tracker.shutdown();
    expect(collector.requests.map((r) => r.ids)).toEqual([ids]);
    expect(vi.getTimerCount()).toBe(0);

    const late = track(1);
    await advance(60_000);
    expect(collector.requests).toHaveLength(1);
    expect(drops).toEqual([{ reason: 'shutdown', events: [expect.objectContaining({ event_id: late[0] })] }]);
    expect(tracker.stats()).toMatchObject({ sent: 2, dropped: { shutdown: 1 } });
    await expect(tracker.shutdown()).resolves.toBeUndefined(); // idempotent
  });

  it('waits for retries in progress', async () => {
    const collector = fakeCollector({ status: 503 });
    const { tracker, track } = setup(collector);
    track(1);
    let done = false;
    void tracker.shutdown().then(() => (done = true));
    await settle();
    expect(done).toBe(false);
    await advance(1000);
    expect(done).toBe(true);
    expect(tracker.stats()).toMatchObject({ sent: 1, retries: 1 });
  });
});

describe('options and helpers', () => {
  it.each<[string, Partial<TrackerOptions>]>([
    ['endpoint', { endpoint: 'collect.example.test' }],
    ['writeKey', { writeKey: '' }],
    ['maxBatch', { maxBatch: 0 }],
    ['flushIntervalMs', { flushIntervalMs: 0 }],
    ['maxQueue', { maxQueue: 1.5 }],
    ['maxRetries', { maxRetries: -1 }],
  ])('rejects a bad %s', (name, bad) => {
    expect(() =>
      createTracker({ endpoint: ENDPOINT, writeKey: WRITE_KEY, fetch: fakeCollector().fetch, ...bad }),
    ).toThrow(name);
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    expect(parseRetryAfter('7', T0)).toBe(7000);
    expect(parseRetryAfter(new Date(T0 + 12_000).toUTCString(), T0)).toBe(12_000);
    expect(parseRetryAfter(new Date(T0 - 12_000).toUTCString(), T0)).toBe(0);
    expect(parseRetryAfter('soon', T0)).toBeUndefined();
    expect(parseRetryAfter(null, T0)).toBeUndefined();
  });

  it('makes v4 event ids without crypto.randomUUID (plain-http pages), from crypto.getRandomValues', () => {
    const real = globalThis.crypto;
    vi.stubGlobal('crypto', { getRandomValues: (a: Uint8Array) => real.getRandomValues(a) });
    const ids = new Set(Array.from({ length: 100 }, () => randomUUID()));
    expect(ids.size).toBe(100);
    for (const id of ids) expect(id).toMatch(UUID_V4);
  });
});
