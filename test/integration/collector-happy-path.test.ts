// The collector end to end on the real services: events posted over HTTP come out of Kafka
// exactly — received_at set, clock skew corrected, nullable fields null — decoded both with
// the project's AvroSerde and with Confluent's own JS decoder.
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skewOffsetMs } from '../../api/collector/event-time.js';
import { AvroSerde } from '../../lib/kafka/serde.js';
import { playEventSchema } from '../../schemas/avro.js';
import { valueSubject } from '../../schemas/topics.js';
import type { PlayEvent } from '../../schemas/types.js';
import { readWholeTopic, startCollector, validEvent, WRITE_KEY, type CollectorUnderTest } from './collector-helpers.js';

interface Sent {
  sentAt: number;
  before: number;
  after: number;
  events: Record<string, unknown>[];
  body: { accepted: number; duplicates: number; rejected: { index: number; reasons: string[] }[] };
}

const byId = (a: { event_id: string }, b: { event_id: string }): number => a.event_id.localeCompare(b.event_id);

describe('collector → Kafka, real services', () => {
  let c: CollectorUnderTest;
  const requests: Sent[] = [];

  const post = async (sentAt: number, events: Record<string, unknown>[]): Promise<Sent> => {
    const before = Date.now();
    const res = await fetch(`${c.collector.url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-write-key': WRITE_KEY },
      body: JSON.stringify({ sent_at: sentAt, events }),
    });
    const after = Date.now();
    expect(res.status).toBe(200);
    const sent = { sentAt, before, after, events, body: (await res.json()) as Sent['body'] };
    requests.push(sent);
    return sent;
  };

  beforeAll(async () => {
    c = await startCollector('collector-happy');
  });

  afterAll(async () => {
    await c?.close();
  });

  it('is live and ready', async () => {
    expect((await fetch(`${c.collector.url}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${c.collector.url}/readyz`)).json()).toEqual({ status: 'ready' });
  });

  it('accepts batches with correct, slow and fast client clocks', async () => {
    const now = Date.now();
    // Clock right.
    const a = await post(
      now,
      Array.from({ length: 100 }, () => validEvent(now)),
    );
    expect(a.body).toEqual({ accepted: 100, duplicates: 0, rejected: [] });
    // Client clock 90.2 s behind: events move forward by 90 s.
    const slow = now - 90_200;
    const bEvents = Array.from({ length: 100 }, (_, i) =>
      validEvent(slow, {
        event_time: slow - i * 100,
        event_type: i % 10 === 0 ? 'seek' : 'heartbeat',
        seek_from_ms: i % 10 === 0 ? 1234 : undefined,
        referrer_video_id: i % 3 === 0 ? 'video-7' : undefined,
        traffic_source: i % 3 === 0 ? 'suggested' : 'search',
        startup_ms: i === 1 ? 850 : undefined,
        error_code: i === 2 ? null : undefined,
      }),
    );
    const b = await post(slow, bEvents);
    expect(b.body).toEqual({ accepted: 100, duplicates: 0, rejected: [] });
    // Client clock an hour ahead, with a duplicate of an event of the first batch and a bad event.
    const fast = now + 3_600_000;
    const cEvents = [
      ...Array.from({ length: 98 }, () => validEvent(fast)),
      a.events[0]!,
      validEvent(fast, { watched_ms: -1 }),
    ];
    const cc = await post(fast, cEvents);
    expect(cc.body).toEqual({
      accepted: 98,
      duplicates: 1,
      rejected: [{ index: 99, event_id: cEvents[99]!.event_id, reasons: ['watched_ms: must be >= 0'] }],
    });
  });

  it('wrote exactly the accepted events, decoded identically by AvroSerde and Confluent’s decoder', async () => {
    // What the topic must hold: every accepted event, time-corrected by its request's offset.
    const expected = new Map<string, { event: Record<string, unknown>; req: Sent }>();
    for (const req of requests) {
      const rejected = new Set(req.body.rejected.map((r) => r.index));
      req.events.forEach((e, i) => {
        const id = e.event_id as string;
        if (!rejected.has(i) && !expected.has(id)) expected.set(id, { event: e, req });
      });
    }
    expect(expected.size).toBe(298);

    const messages = await readWholeTopic(c.s.kafka, c.topic);
    expect(messages).toHaveLength(298);

    const serde = new AvroSerde<PlayEvent>(c.s.registry, valueSubject(c.topic), playEventSchema());
    const independent = new SchemaRegistry({ host: c.s.config.registry.url });
    const ours: PlayEvent[] = [];
    const theirs: PlayEvent[] = [];
    for (const m of messages) {
      expect(m.value!.readUInt8(0)).toBe(0);
      expect(m.value!.readUInt32BE(1)).toBe(await serde.schemaId());
      const decoded = await serde.decode(m.value!);
      expect(m.key!.toString()).toBe(decoded.viewer_id);
      ours.push(decoded);
      theirs.push((await independent.decode(m.value!)) as PlayEvent);
    }
    expect(theirs.sort(byId)).toEqual(ours.sort(byId));

    const offsets = new Map<Sent, number>();
    for (const got of ours) {
      const exp = expected.get(got.event_id);
      expect(exp, got.event_id).toBeDefined();
      const { event, req } = exp!;
      expect(got.received_at).toBeGreaterThanOrEqual(req.before);
      expect(got.received_at).toBeLessThanOrEqual(req.after);
      const offset = skewOffsetMs(req.sentAt, got.received_at);
      offsets.set(req, offset);
      const t = (event.event_time as number) + offset;
      expect(got).toEqual({
        event_id: event.event_id,
        event_type: event.event_type,
        event_time: t - got.received_at > 5_000 ? got.received_at : t,
        received_at: got.received_at,
        session_id: event.session_id,
        viewer_id: event.viewer_id,
        video_id: event.video_id,
        position_ms: event.position_ms,
        watched_ms: event.watched_ms,
        device: event.device,
        os: event.os,
        country: event.country,
        traffic_source: event.traffic_source,
        referrer_video_id: event.referrer_video_id ?? null,
        seek_from_ms: event.seek_from_ms ?? null,
        startup_ms: event.startup_ms ?? null,
        rebuffer_ms: event.rebuffer_ms ?? null,
        error_code: event.error_code ?? null,
        sdk_version: event.sdk_version,
      });
    }
    // The three requests' skews: none, +90 s, -1 h (latency here is far below a second).
    expect(requests.map((r) => offsets.get(r))).toEqual([0, 90_000, -3_600_000]);
    expect(ours.filter((e) => e.seek_from_ms === 1234)).toHaveLength(10);
  });

  it('counts what it did in /metrics', async () => {
    const text = await (await fetch(`${c.collector.url}/metrics`)).text();
    expect(text).toContain('viewpulse_collector_events_accepted_total 298');
    expect(text).toContain('viewpulse_collector_events_duplicate_total 1');
    expect(text).toContain('viewpulse_collector_events_rejected_total{reason="invalid_event"} 1');
    expect(text).toMatch(/viewpulse_collector_kafka_send_seconds_count\{outcome="ok"\} 3/);
    expect(text).toContain('viewpulse_process_resident_memory_bytes');
  });
});
