// The collector sink against an in-process stand-in for the collector contract (an injected
// fetch: no network), and the pump's rate control.
import { describe, expect, it } from 'vitest';
import { EVENT_TYPES, TRAFFIC_SOURCES } from '../../schemas/types.js';
import type { Delivery, EventDelivery } from '../../generator/faults.js';
import { generateTraffic } from '../../generator/index.js';
import { pump } from '../../generator/run.js';
import { CollectorRefused, CollectorSink, KafkaSink, NullSink } from '../../generator/sinks.js';
import { admitEventTime } from '../../generator/truth.js';

interface Seen {
  headers: Record<string, string>;
  sentAt: number;
  receivedAt: number;
  events: Array<Record<string, unknown>>;
}

/** Validates like the collector (roughly) and applies rule 3 with the real clock. */
function fakeCollector(script: Array<number | 'throw'> = []) {
  const requests: Seen[] = [];
  const accepted = new Map<string, number>(); // event_id → accepted event_time
  const ids = new Set<string>();
  const fetchImpl = async (_url: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const step = script.shift();
    if (step === 'throw') throw new TypeError('fetch failed');
    if (typeof step === 'number') {
      return new Response('{"title":"scripted"}', {
        status: step,
        headers: step === 429 || step === 503 ? { 'retry-after': '2' } : {},
      });
    }
    const body = JSON.parse(String(init!.body)) as { sent_at: number; events: Array<Record<string, unknown>> };
    const receivedAt = Date.now();
    requests.push({
      headers: init!.headers as Record<string, string>,
      sentAt: body.sent_at,
      receivedAt,
      events: body.events,
    });
    let ok = 0;
    let duplicates = 0;
    const rejected: Array<{ index: number; reasons: string[] }> = [];
    body.events.forEach((e, index) => {
      const reasons: string[] = [];
      if (typeof e.event_id !== 'string') reasons.push('event_id');
      if (!EVENT_TYPES.includes(e.event_type as never)) reasons.push('event_type');
      if (!TRAFFIC_SOURCES.includes(e.traffic_source as never)) reasons.push('traffic_source');
      if (typeof e.video_id !== 'string') reasons.push('video_id');
      for (const f of ['event_time', 'position_ms', 'watched_ms']) if (!Number.isInteger(e[f])) reasons.push(f);
      let eventTime = 0;
      if (reasons.length === 0) {
        const a = admitEventTime(e.event_time as number, body.sent_at, receivedAt);
        if (a.accepted) eventTime = a.event_time;
        else reasons.push(a.reason);
      }
      if (reasons.length) rejected.push({ index, reasons });
      else if (ids.has(e.event_id as string)) duplicates++;
      else {
        ids.add(e.event_id as string);
        accepted.set(e.event_id as string, eventTime);
        ok++;
      }
    });
    return new Response(JSON.stringify({ accepted: ok, duplicates, rejected }), { status: 200 });
  };
  return { fetch: fetchImpl as typeof fetch, requests, accepted };
}

const noSleep = async (): Promise<void> => {};

describe('collector sink', () => {
  it('delivers everything in per-skew batches, with sent_at in the client clock, and checks each answer', async () => {
    const traffic = generateTraffic({ events: 4000, seed: 3, faults: { malformed: 0.02, duplicate: 0.05 } });
    const collector = fakeCollector();
    const sink = new CollectorSink({
      url: 'http://collector/v1/events',
      writeKey: 'wk_test_12345',
      fetch: collector.fetch,
      maxBatch: 50,
    });
    const deliveries: Delivery[] = [];
    for (const d of traffic.deliveriesSync()) {
      deliveries.push(d);
      await sink.write(d);
    }
    await sink.close();
    const truth = traffic.truth();
    const s = sink.stats();
    expect(s).toMatchObject({
      written: 4000,
      accepted: truth.counts.events,
      duplicates: truth.counts.duplicates,
      rejectedMalformed: truth.counts.malformed,
      rejectedValid: 0,
      malformedAccepted: 0,
      failed: 0,
      aheadOfClock: 0,
    });
    expect(truth.counts.malformed).toBeGreaterThan(20);
    const expected = new Map(
      deliveries.filter((d): d is EventDelivery => d.kind === 'event').map((d) => [d.event.event_id, d]),
    );
    for (const r of collector.requests) {
      expect(r.headers['x-write-key']).toBe('wk_test_12345');
      expect(r.events.length).toBeLessThanOrEqual(50);
      const skews = new Set(
        r.events.map((e) => expected.get(e.event_id as string)?.skewMs).filter((x) => x !== undefined),
      );
      expect(skews.size).toBeLessThanOrEqual(1);
      const skew = [...skews][0] ?? 0;
      expect(Math.abs(r.sentAt - skew - r.receivedAt)).toBeLessThan(500);
    }
    // The collector's corrected event times are exactly the ones the truth used.
    for (const [id, t] of collector.accepted) expect(t).toBe(expected.get(id)!.acceptedEventTime);
    expect(collector.accepted.size).toBe(truth.counts.events);
  });

  it('retries 429, 5xx and network errors with backoff, honouring Retry-After', async () => {
    const collector = fakeCollector([429, 'throw', 503]);
    const sleeps: number[] = [];
    const sink = new CollectorSink({
      url: 'http://collector/v1/events',
      writeKey: 'wk_test_12345',
      fetch: collector.fetch,
      concurrency: 1,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
    });
    const traffic = generateTraffic({ events: 30, seed: 4, faults: { malformed: 0, duplicate: 0 } });
    for (const d of traffic.deliveriesSync()) await sink.write(d);
    await sink.close();
    expect(sink.stats()).toMatchObject({ accepted: 30, retries: 3, failed: 0 });
    expect(sleeps[0]).toBeGreaterThanOrEqual(2000);
    expect(sleeps[2]).toBeGreaterThanOrEqual(2000);
  });

  it('gives up after maxAttempts and on non-retriable answers, counting the records as failed', async () => {
    const exhausted = new CollectorSink({
      url: 'http://c/v1/events',
      writeKey: 'wk_test_12345',
      fetch: fakeCollector([500, 500, 500]).fetch,
      maxAttempts: 3,
      sleep: noSleep,
    });
    const traffic = generateTraffic({ events: 10, seed: 4 });
    for (const d of traffic.deliveriesSync()) await exhausted.write(d);
    await exhausted.close();
    expect(exhausted.stats()).toMatchObject({ failed: 10, retries: 2, reasons: { http_500: 10 } });

    const refusedBatch = new CollectorSink({
      url: 'http://c/v1/events',
      writeKey: 'wk',
      fetch: fakeCollector([400]).fetch,
    });
    for (const d of generateTraffic({ events: 10, seed: 4 }).deliveriesSync()) await refusedBatch.write(d);
    await refusedBatch.close();
    expect(refusedBatch.stats()).toMatchObject({ failed: 10, retries: 0, reasons: { http_400: 10 } });
  });

  it('flags events whose request took long enough to make the skew correction uncertain', async () => {
    let clock = Date.now();
    const inner = fakeCollector();
    const slow = (async (url: string, init?: RequestInit) => {
      clock += 700; // 700 ms round trip: fine for exact clocks, too slow for a skewed one
      return inner.fetch(url, init);
    }) as typeof fetch;
    const run = async (skewedClients: number): Promise<number> => {
      const sink = new CollectorSink({ url: 'http://c/v1/events', writeKey: 'wk', fetch: slow, now: () => clock });
      const traffic = generateTraffic({ events: 300, seed: 5, clients: { skewedClients, slightlySkewedClients: 0 } });
      for (const d of traffic.deliveriesSync()) await sink.write(d);
      await sink.close();
      return sink.stats().slowRoundTrips;
    };
    expect(await run(0)).toBe(0);
    expect(await run(1)).toBe(300);
  });

  it('stops on a refused write key', async () => {
    const sink = new CollectorSink({ url: 'http://c/v1/events', writeKey: 'wk', fetch: fakeCollector([401]).fetch });
    for (const d of generateTraffic({ events: 10, seed: 4 }).deliveriesSync()) await sink.write(d);
    await expect(sink.close()).rejects.toBeInstanceOf(CollectorRefused);
  });

  it('splits a batch the collector finds too large', async () => {
    const collector = fakeCollector([413]);
    const sink = new CollectorSink({
      url: 'http://c/v1/events',
      writeKey: 'wk',
      fetch: collector.fetch,
      maxBatch: 100,
    });
    for (const d of generateTraffic({
      events: 100,
      seed: 8,
      faults: { malformed: 0, duplicate: 0 },
    }).deliveriesSync()) {
      await sink.write(d);
    }
    await sink.close();
    expect(sink.stats()).toMatchObject({ accepted: 100, failed: 0 });
    expect(collector.requests.length).toBeGreaterThanOrEqual(2);
  });
});

describe('kafka records and the pump', () => {
  it('writes what the collector would: corrected event_time, received_at = delivery time', () => {
    const d = [
      ...generateTraffic({
        events: 200,
        seed: 1,
        clients: { skewedClients: 1, slightlySkewedClients: 0 },
      }).deliveriesSync(),
    ].find((x): x is EventDelivery => x.kind === 'event')!;
    const record = KafkaSink.record(d);
    expect(record.event_time).toBe(d.acceptedEventTime);
    expect(record.event_time).toBe(d.event.event_time - d.skewMs);
    expect(record.received_at).toBe(d.deliverAt);
  });

  it('paces deliveries to --rate and reports progress', async () => {
    let clock = 0;
    const slept: number[] = [];
    const progress: number[] = [];
    const r = await pump(generateTraffic({ events: 1000, seed: 1 }), new NullSink(), {
      rate: 100,
      now: () => clock,
      sleep: async (ms) => {
        slept.push(ms);
        clock += ms;
      },
      onProgress: (n) => progress.push(n),
      progressEveryMs: 0,
    });
    expect(r).toMatchObject({ delivered: 1000, complete: true });
    // 1000 records at 100/s: the last one is due at 9.99 s.
    expect(clock).toBeGreaterThanOrEqual(9_900);
    expect(clock).toBeLessThanOrEqual(10_000);
    expect(progress.at(-1)).toBe(1000);
  });

  it('stops when aborted', async () => {
    const abort = new AbortController();
    abort.abort();
    const r = await pump(generateTraffic({ events: 100, seed: 1 }), new NullSink(), { rate: 0, signal: abort.signal });
    expect(r).toMatchObject({ delivered: 0, complete: false });
  });
});
