// The collector over app.inject(): an in-memory sink, a fake clock, no network.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ViewpulseError } from '../../lib/errors.js';
import { event, FakeSink, KEY, metricValue, NOW, testCollector } from './collector-helpers.js';

const PROBLEM = /^application\/problem\+json/;

function expectProblem(res: { statusCode: number; headers: Record<string, unknown>; json(): unknown }, status: number) {
  expect(res.statusCode).toBe(status);
  expect(String(res.headers['content-type'])).toMatch(PROBLEM);
  const body = res.json() as Record<string, unknown>;
  expect(body).toMatchObject({ status, type: expect.stringMatching(/^urn:viewpulse:problem:/) });
  expect(typeof body.title).toBe('string');
  expect(typeof body.detail).toBe('string');
  expect(body.code).toMatch(/^VP_ERR_/);
  return body;
}

describe('collector: per-event results', () => {
  it('accepts a valid batch, sets received_at, fills nullable fields with null', async () => {
    const c = testCollector();
    const events = [event(), event({ event_type: 'seek', seek_from_ms: 1_000, referrer_video_id: null })];
    const res = await c.post({ sent_at: NOW, events });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ accepted: 2, duplicates: 0, rejected: [] });
    expect(c.sink.stored).toEqual([
      {
        ...events[0],
        received_at: NOW,
        referrer_video_id: null,
        seek_from_ms: null,
        startup_ms: null,
        rebuffer_ms: null,
        error_code: null,
      },
      { ...events[1], received_at: NOW, startup_ms: null, rebuffer_ms: null, error_code: null },
    ]);
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('rejects bad events with index and reasons and accepts the good ones of the same batch', async () => {
    const c = testCollector();
    const good = [event(), event(), event()];
    const bad = event({ watched_ms: -1, country: 'de', extra: true });
    const res = await c.post({ sent_at: NOW, events: [good[0], bad, good[1], 'not an event', good[2], null] });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.accepted).toBe(3);
    expect(body.duplicates).toBe(0);
    expect(body.rejected).toEqual([
      {
        index: 1,
        event_id: bad.event_id,
        reasons: expect.arrayContaining([
          'watched_ms: must be >= 0',
          'country: must be an ISO 3166-1 alpha-2 code in upper case',
          'extra: is not a known field',
        ]),
      },
      { index: 3, event_id: null, reasons: ['event: must be an object'] },
      { index: 5, event_id: null, reasons: ['event: must be an object'] },
    ]);
    expect(c.sink.stored.map((e) => e.event_id)).toEqual(good.map((e) => e.event_id));
    expect(await metricValue(c.metrics, 'viewpulse_collector_events_rejected_total', '{reason="invalid_event"}')).toBe(
      3,
    );
    expect(await metricValue(c.metrics, 'viewpulse_collector_events_accepted_total')).toBe(3);
  });

  it('answers 200 with accepted 0 when every event is bad, and sends nothing', async () => {
    const c = testCollector();
    const res = await c.post({ sent_at: NOW, events: [event({ event_type: 'dance' }), event({ event_id: 'nope' })] });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      accepted: 0,
      duplicates: 0,
      rejected: [
        {
          index: 0,
          event_id: expect.any(String),
          reasons: [expect.stringMatching(/^event_type: must be one of play_start/)],
        },
        { index: 1, event_id: 'nope', reasons: ['event_id: must be a UUID'] },
      ],
    });
    expect(c.sink.calls).toBe(0);
  });

  it('accepts an empty batch as accepted 0', async () => {
    const c = testCollector();
    const res = await c.post({ sent_at: NOW, events: [] });
    expect(res.json()).toEqual({ accepted: 0, duplicates: 0, rejected: [] });
  });

  it('accepts sent_at as an RFC 3339 string', async () => {
    const c = testCollector();
    const res = await c.post({
      sent_at: new Date(NOW - 60_000).toISOString(),
      events: [event({ event_time: NOW - 61_000 })],
    });
    expect(res.json().accepted).toBe(1);
    expect(c.sink.stored[0]!.event_time).toBe(NOW - 1_000);
  });

  it('accepts event_time as an RFC 3339 string (Segment- and Mux-style clients), stored as epoch ms', async () => {
    const c = testCollector();
    const res = await c.post({
      sent_at: NOW,
      events: [
        event({ event_time: new Date(NOW - 61_000).toISOString() }),
        event({ event_time: new Date(NOW - 5_000).toISOString().replace('Z', '+00:00') }),
        event({ event_time: '2026-01-15 12:00:00' }),
      ],
    });
    expect(res.json()).toMatchObject({
      accepted: 2,
      rejected: [{ index: 2, reasons: ['event_time: must be a RFC 3339 date-time'] }],
    });
    expect(c.sink.stored.map((e) => e.event_time)).toEqual([NOW - 61_000, NOW - 5_000]);
  });

  it('lower-cases event_id so case variants are one event', async () => {
    const c = testCollector();
    const id = randomUUID();
    const res = await c.post({
      sent_at: NOW,
      events: [event({ event_id: id.toUpperCase() }), event({ event_id: id })],
    });
    expect(res.json()).toMatchObject({ accepted: 1, duplicates: 1 });
    expect(c.sink.stored[0]!.event_id).toBe(id);
  });
});

describe('collector: event time (docs/semantics.md rule 3)', () => {
  const at = async (sentAt: number, eventTime: number, options = {}) => {
    const c = testCollector(options);
    const res = await c.post({ sent_at: sentAt, events: [event({ event_time: eventTime })] });
    expect(res.statusCode).toBe(200);
    return { body: res.json(), stored: c.sink.stored };
  };

  it('leaves events alone when |skew| < 2000 ms (1999 both ways)', async () => {
    expect((await at(NOW - 1_999, NOW - 10_000)).stored[0]!.event_time).toBe(NOW - 10_000);
    expect((await at(NOW + 1_999, NOW - 10_000)).stored[0]!.event_time).toBe(NOW - 10_000);
  });

  it('moves events by whole seconds from |skew| = 2000 ms, rounding halves away from zero', async () => {
    // Client clock behind: received_at - sent_at > 0, events move forward.
    expect((await at(NOW - 2_000, NOW - 10_000)).stored[0]!.event_time).toBe(NOW - 8_000);
    expect((await at(NOW - 2_499, NOW - 10_000)).stored[0]!.event_time).toBe(NOW - 8_000);
    expect((await at(NOW - 2_500, NOW - 10_000)).stored[0]!.event_time).toBe(NOW - 7_000);
    expect((await at(NOW - 3_600_123, NOW - 3_700_000)).stored[0]!.event_time).toBe(NOW - 100_000);
    // Client clock ahead: events move back.
    expect((await at(NOW + 2_000, NOW + 1_000)).stored[0]!.event_time).toBe(NOW - 1_000);
    expect((await at(NOW + 2_500, NOW)).stored[0]!.event_time).toBe(NOW - 3_000);
    expect((await at(NOW + 86_400_400, NOW + 86_400_000)).stored[0]!.event_time).toBe(NOW);
  });

  it('clamps events more than 5 s after received_at (after correction) to received_at', async () => {
    expect((await at(NOW, NOW + 5_000)).stored[0]!.event_time).toBe(NOW + 5_000);
    expect((await at(NOW, NOW + 5_001)).stored[0]!.event_time).toBe(NOW);
    expect((await at(NOW, NOW + 86_400_000)).stored[0]!.event_time).toBe(NOW);
    // 10 s ahead, but the client clock is 10 s ahead too: corrected, not clamped.
    expect((await at(NOW + 10_000, NOW + 10_000)).stored[0]!.event_time).toBe(NOW);
  });

  it('rejects events more than 24 h after received_at as future_event_time', async () => {
    const r = await at(NOW, NOW + 86_400_001);
    expect(r.body).toEqual({
      accepted: 0,
      duplicates: 0,
      rejected: [{ index: 0, event_id: expect.any(String), reasons: ['future_event_time'] }],
    });
    // Skew correction first: a client clock 2 days ahead brings it back into range.
    expect((await at(NOW + 2 * 86_400_000, NOW + 2 * 86_400_000 - 500)).stored[0]!.event_time).toBe(NOW - 500);
  });

  it('rejects events older than the horizon (7 days by default) as event_too_old', async () => {
    const week = 7 * 86_400_000;
    expect((await at(NOW, NOW - week)).stored[0]!.event_time).toBe(NOW - week);
    expect((await at(NOW, NOW - week - 1)).body.rejected[0].reasons).toEqual(['event_too_old']);
    const hour = await at(NOW, NOW - 3_600_001, { eventHorizonMs: 3_600_000 });
    expect(hour.body.rejected[0].reasons).toEqual(['event_too_old']);
  });

  it('counts time rejections and clamps in metrics', async () => {
    const c = testCollector();
    await c.post({
      sent_at: NOW,
      events: [event({ event_time: NOW + 90_000_000 }), event({ event_time: 0 }), event({ event_time: NOW + 6_000 })],
    });
    expect(
      await metricValue(c.metrics, 'viewpulse_collector_events_rejected_total', '{reason="future_event_time"}'),
    ).toBe(1);
    expect(await metricValue(c.metrics, 'viewpulse_collector_events_rejected_total', '{reason="event_too_old"}')).toBe(
      1,
    );
    expect(await metricValue(c.metrics, 'viewpulse_collector_events_clamped_total')).toBe(1);
  });
});

describe('collector: duplicates', () => {
  it('drops duplicates within one request and across requests', async () => {
    const c = testCollector();
    const a = event();
    const b = event();
    const first = await c.post({ sent_at: NOW, events: [a, b, a] });
    expect(first.json()).toEqual({ accepted: 2, duplicates: 1, rejected: [] });
    const second = await c.post({ sent_at: NOW, events: [b, event(), a] });
    expect(second.json()).toEqual({ accepted: 1, duplicates: 2, rejected: [] });
    expect(c.sink.stored).toHaveLength(3);
    expect(await metricValue(c.metrics, 'viewpulse_collector_events_duplicate_total')).toBe(3);
  });

  it('does not count a rejected event as seen', async () => {
    const c = testCollector();
    const a = event({ watched_ms: -5 });
    await c.post({ sent_at: NOW, events: [a] });
    const res = await c.post({ sent_at: NOW, events: [{ ...a, watched_ms: 5 }] });
    expect(res.json()).toEqual({ accepted: 1, duplicates: 0, rejected: [] });
  });

  it('forgets ids after the dedup window', async () => {
    const c = testCollector({ dedup: { maxEntries: 100, ttlMs: 60_000 } });
    const a = event();
    await c.post({ sent_at: NOW, events: [a] });
    c.clock.now += 30_000;
    expect((await c.post({ sent_at: c.clock.now, events: [a] })).json().duplicates).toBe(1);
    c.clock.now += 31_000;
    expect((await c.post({ sent_at: c.clock.now, events: [a] })).json().accepted).toBe(1);
  });

  it('forgets ids when more than maxEntries were accepted since', async () => {
    const c = testCollector({ dedup: { maxEntries: 3, ttlMs: 3_600_000 } });
    const a = event();
    await c.post({ sent_at: NOW, events: [a, event(), event()] });
    expect((await c.post({ sent_at: NOW, events: [a] })).json().duplicates).toBe(1);
    await c.post({ sent_at: NOW, events: [event()] });
    expect((await c.post({ sent_at: NOW, events: [a] })).json().accepted).toBe(1);
  });
});

describe('collector: Kafka failures never answer 200', () => {
  it('answers 503 problem with Retry-After when the sink fails, and the retry is accepted', async () => {
    const c = testCollector();
    const events = [event(), event()];
    c.sink.mode = 'fail';
    const failed = await c.post({ sent_at: NOW, events });
    const p = expectProblem(failed, 503);
    expect(p.code).toBe('VP_ERR_KAFKA');
    expect(failed.headers['retry-after']).toBe('2');
    c.sink.mode = 'ok';
    const retry = await c.post({ sent_at: NOW, events });
    expect(retry.json()).toEqual({ accepted: 2, duplicates: 0, rejected: [] });
    expect(c.sink.stored.map((e) => e.event_id)).toEqual(events.map((e) => e.event_id));
  });

  it('answers 503 VP_ERR_BACKPRESSURE when the producer pushes back', async () => {
    const c = testCollector();
    c.sink.mode = 'fail';
    c.sink.failWith = new ViewpulseError('VP_ERR_BACKPRESSURE', '100000 records already waiting');
    const p = expectProblem(await c.post({ sent_at: NOW, events: [event()] }), 503);
    expect(p.code).toBe('VP_ERR_BACKPRESSURE');
  });

  it('answers 503 when Kafka is slow; the late outcome still settles the ids', async () => {
    const c = testCollector({ sendTimeoutMs: 30 });
    const a = event();
    c.sink.mode = 'manual';
    expectProblem(await c.post({ sent_at: NOW, events: [a] }), 503);
    // The retry arrives while the first send is still pending: it waits, and answers 503 too.
    expectProblem(await c.post({ sent_at: NOW, events: [a] }), 503);
    c.sink.finish(false);
    await new Promise((r) => setImmediate(r));
    c.sink.mode = 'ok';
    expect((await c.post({ sent_at: NOW, events: [a] })).json()).toEqual({ accepted: 1, duplicates: 0, rejected: [] });
  });

  it('a duplicate of an event still in flight waits for it: acknowledged → duplicate', async () => {
    const c = testCollector();
    const a = event();
    c.sink.mode = 'manual';
    const first = c.post({ sent_at: NOW, events: [a] });
    await waitFor(() => c.sink.waiting === 1);
    const second = c.post({ sent_at: NOW, events: [a, event()] });
    await waitFor(() => c.sink.waiting === 2);
    c.sink.finish(true);
    c.sink.finish(true);
    expect((await first).json()).toEqual({ accepted: 1, duplicates: 0, rejected: [] });
    expect((await second).json()).toEqual({ accepted: 1, duplicates: 1, rejected: [] });
  });

  it('a duplicate of an event still in flight waits for it: failed → 503 for both, retry accepted', async () => {
    const c = testCollector();
    const a = event();
    const b = event();
    c.sink.mode = 'manual';
    const first = c.post({ sent_at: NOW, events: [a] });
    await waitFor(() => c.sink.waiting === 1);
    const second = c.post({ sent_at: NOW, events: [a, b] });
    await waitFor(() => c.sink.waiting === 2);
    c.sink.finish(false); // first's send fails: a is not in Kafka
    c.sink.finish(true); // second's own event b is
    expectProblem(await first, 503);
    expectProblem(await second, 503);
    c.sink.mode = 'ok';
    expect((await c.post({ sent_at: NOW, events: [a, b] })).json()).toEqual({
      accepted: 1,
      duplicates: 1,
      rejected: [],
    });
    expect(c.sink.stored.map((e) => e.event_id).sort()).toEqual([a.event_id, b.event_id].sort());
  });

  it('a non-retriable producer error is a 500, not a 200', async () => {
    const c = testCollector();
    c.sink.mode = 'fail';
    c.sink.failWith = new ViewpulseError('VP_ERR_ENCODE_AVRO', 'bad');
    const p = expectProblem(await c.post({ sent_at: NOW, events: [event()] }), 500);
    expect(p.code).toBe('VP_ERR_ENCODE_AVRO');
  });
});

describe('collector: request limits and refusals are problem documents', () => {
  it('413 for more than 500 events', async () => {
    const c = testCollector();
    const p = expectProblem(await c.post({ sent_at: NOW, events: Array.from({ length: 501 }, () => ({})) }), 413);
    expect(p).toMatchObject({ code: 'VP_ERR_HTTP_PAYLOAD_TOO_LARGE', max_events: 500 });
    const ok = await c.post({ sent_at: NOW, events: Array.from({ length: 500 }, () => event()) });
    expect(ok.json().accepted).toBe(500);
  });

  it('413 for a body over 512 KB', async () => {
    const c = testCollector();
    const body = JSON.stringify({ sent_at: NOW, events: [], pad: 'x'.repeat(512 * 1024) });
    expectProblem(await c.post(body), 413);
    expect(c.sink.calls).toBe(0);
  });

  it('413 for one event over 32 KB, with its index', async () => {
    const c = testCollector();
    const p = expectProblem(
      await c.post({ sent_at: NOW, events: [event(), event({ os: 'x'.repeat(33 * 1024) })] }),
      413,
    );
    expect(p).toMatchObject({ index: 1, max_event_bytes: 32 * 1024 });
    expect(c.sink.calls).toBe(0);
  });

  it('413 for a deeply nested event, without overflowing the stack', async () => {
    const c = testCollector();
    const deep = '['.repeat(200_000) + ']'.repeat(200_000);
    expectProblem(await c.post(`{"sent_at":${NOW},"events":[${deep}]}`), 413);
    // Whole body deeply nested: not an envelope.
    expectProblem(await c.post(deep), 400);
    // Nested inside a field of a small event: rejected per event.
    const small = { ...event(), os: JSON.parse('['.repeat(1000) + ']'.repeat(1000)) as unknown };
    const res = await c.post({ sent_at: NOW, events: [small] });
    expect(res.json().rejected[0].reasons).toEqual(['os: must be string']);
  });

  it('415 for other media types', async () => {
    const c = testCollector();
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml', 'application/jsonx']) {
      expectProblem(await c.post('{"sent_at":1,"events":[]}', { 'content-type': type }), 415);
    }
    const noType = await c.app.inject({
      method: 'POST',
      url: '/v1/events',
      headers: { 'x-write-key': KEY },
      payload: Buffer.from('{"sent_at":1,"events":[]}'),
    });
    expect([400, 415]).toContain(noType.statusCode);
    expect(String(noType.headers['content-type'])).toMatch(PROBLEM);
  });

  it('400 for bad JSON, an empty body, prototype poisoning and non-envelopes', async () => {
    const c = testCollector();
    for (const body of ['{"sent_at":', '', 'nul', '{"__proto__":{"x":1},"sent_at":1,"events":[]}', '\u0000\u00ff']) {
      const p = expectProblem(await c.post(body), 400);
      expect(p.code).toBe('VP_ERR_HTTP_INVALID_JSON');
    }
    for (const body of [[], 5, 'str', null, { events: 'x' }, { sent_at: NOW }, { sent_at: NOW, events: {} }]) {
      expect(expectProblem(await c.post(JSON.stringify(body)), 400).code).toBe('VP_ERR_HTTP_BAD_REQUEST');
    }
  });

  it('400 with reasons for a bad envelope', async () => {
    const c = testCollector();
    const cases: [unknown, string][] = [
      [{ sent_at: 'yesterday', events: [] }, 'sent_at'],
      [{ sent_at: -1, events: [] }, 'sent_at'],
      [{ sent_at: 1.5, events: [] }, 'sent_at'],
      [{ sent_at: true, events: [] }, 'sent_at'],
      [{ sent_at: NOW, events: [], more: 1 }, 'more: is not a known field'],
      [{ events: [] }, 'sent_at: is required'],
    ];
    for (const [body, reason] of cases) {
      const p = expectProblem(await c.post(body), 400);
      expect(p.detail).toContain(reason);
    }
  });

  it('401 for a missing, wrong or oversized write key', async () => {
    const c = testCollector();
    const body = { sent_at: NOW, events: [event()] };
    for (const key of [undefined, '', 'wrong-key-123', `${KEY} `, 'x'.repeat(10_000)]) {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (key !== undefined) headers['x-write-key'] = key;
      const res = await c.app.inject({ method: 'POST', url: '/v1/events', headers, payload: JSON.stringify(body) });
      expect(expectProblem(res, 401).code).toBe('VP_ERR_HTTP_UNAUTHORIZED');
    }
    expect((await c.post(body, { 'x-write-key': 'another-write-key' })).statusCode).toBe(200);
    expect(c.sink.stored).toHaveLength(1);
  });

  it('401 comes before reading the body (a wrong key with an oversize body is 401)', async () => {
    const c = testCollector();
    const res = await c.post('x'.repeat(600 * 1024), { 'x-write-key': 'wrong-key-123' });
    expectProblem(res, 401);
  });

  it('429 with Retry-After past the per-key rate, per key, refilled over time', async () => {
    const c = testCollector({ rateLimit: { perSecond: 2, burst: 2 } });
    const body = { sent_at: NOW, events: [] };
    expect((await c.post(body)).statusCode).toBe(200);
    expect((await c.post(body)).statusCode).toBe(200);
    const limited = await c.post(body);
    const p = expectProblem(limited, 429);
    expect(p.code).toBe('VP_ERR_HTTP_RATE_LIMITED');
    expect(limited.headers['retry-after']).toBe('1');
    // Another key has its own bucket.
    expect((await c.post(body, { 'x-write-key': 'another-write-key' })).statusCode).toBe(200);
    c.clock.now += 500; // one token back
    expect((await c.post(body)).statusCode).toBe(200);
    expect((await c.post(body)).statusCode).toBe(429);
  });

  it('Retry-After of a slow rate is the wait for the next token', async () => {
    const c = testCollector({ rateLimit: { perSecond: 0.1, burst: 1 } });
    expect((await c.post({ sent_at: NOW, events: [] })).statusCode).toBe(200);
    const limited = await c.post({ sent_at: NOW, events: [] });
    expect(limited.statusCode).toBe(429);
    expect(limited.headers['retry-after']).toBe('10');
  });

  it('404 problem for unknown routes and methods', async () => {
    const c = testCollector();
    expectProblem(await c.app.inject({ method: 'GET', url: '/v1/events' }), 404);
    expectProblem(await c.app.inject({ method: 'POST', url: '/nope' }), 404);
  });
});

describe('collector: health, readiness, metrics, CORS', () => {
  it('healthz is always 200; readyz follows the readiness function', async () => {
    let ready = false;
    const c = testCollector({}, () => ready);
    expect((await c.app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    const notReady = await c.app.inject({ method: 'GET', url: '/readyz' });
    expectProblem(notReady, 503);
    expect(notReady.headers['retry-after']).toBe('2');
    ready = true;
    expect((await c.app.inject({ method: 'GET', url: '/readyz' })).json()).toEqual({ status: 'ready' });
  });

  it('serves Prometheus metrics: requests by status, accepted, rejected, duplicates, send latency', async () => {
    const c = testCollector();
    const a = event();
    await c.post({ sent_at: NOW, events: [a, a, event({ watched_ms: 'x' })] });
    await c.post('{', {});
    const res = await c.app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.body).toContain('viewpulse_collector_requests_total{route="/v1/events",status="200"} 1');
    expect(res.body).toContain('viewpulse_collector_requests_total{route="/v1/events",status="400"} 1');
    expect(res.body).toContain('viewpulse_collector_events_accepted_total 1');
    expect(res.body).toContain('viewpulse_collector_events_duplicate_total 1');
    expect(res.body).toContain('viewpulse_collector_events_rejected_total{reason="invalid_event"} 1');
    expect(res.body).toContain('viewpulse_collector_kafka_send_seconds_count{outcome="ok"} 1');
  });

  it('answers CORS preflights for browser players', async () => {
    const c = testCollector();
    const res = await c.app.inject({ method: 'OPTIONS', url: '/v1/events' });
    expect(res.statusCode).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe('*');
    expect(String(res.headers['access-control-allow-headers'])).toContain('x-write-key');
  });

  it('refuses to build without write keys', async () => {
    const { buildCollectorApp } = await import('../../api/collector/app.js');
    expect(() => buildCollectorApp({ sink: new FakeSink(), writeKeys: [] })).toThrow(/write key/);
  });
});

async function waitFor(cond: () => boolean, ms = 2_000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 1));
  }
}
