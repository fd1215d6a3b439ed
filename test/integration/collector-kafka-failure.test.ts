// When Kafka cannot take the events (here: the topic is deleted under a running collector),
// the collector answers 503 with Retry-After — never 200 — and the client's retries end with
// every event in Kafka exactly once, whichever way the stuck send ends.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AvroSerde } from '../../lib/kafka/serde.js';
import { playEventSchema } from '../../schemas/avro.js';
import { valueSubject } from '../../schemas/topics.js';
import type { PlayEvent } from '../../schemas/types.js';
import { readWholeTopic, startCollector, validEvent, WRITE_KEY, type CollectorUnderTest } from './collector-helpers.js';

describe('collector when Kafka fails, real services', () => {
  let c: CollectorUnderTest;

  beforeAll(async () => {
    c = await startCollector('collector-fail', { sendTimeoutMs: 2_000, retryAfterSeconds: 1 });
  });

  afterAll(async () => {
    await c?.close();
  });

  const post = async (events: unknown[]) => {
    const res = await fetch(`${c.collector.url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-write-key': WRITE_KEY },
      body: JSON.stringify({ sent_at: Date.now(), events }),
    });
    return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
  };

  it('answers 503 while the topic is gone, and the retry lands every event once', async () => {
    expect((await post([validEvent(Date.now())])).status).toBe(200);

    const admin = c.s.kafka.admin();
    await admin.connect();
    try {
      await admin.deleteTopics({ topics: [c.topic] });
      const events = Array.from({ length: 10 }, () => validEvent(Date.now()));
      const failed = await post(events);
      expect(failed.status).toBe(503);
      expect(failed.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(failed.headers.get('retry-after')).toBe('1');
      expect(failed.body).toMatchObject({ status: 503, code: expect.stringMatching(/^VP_ERR_(KAFKA|BACKPRESSURE)$/) });

      await admin.createTopics({
        waitForLeaders: true,
        topics: [{ topic: c.topic, numPartitions: 6, replicationFactor: 1 }],
      });
      // Retry as a client would, honouring Retry-After, until the collector answers 200.
      let last = failed;
      for (let attempt = 0; attempt < 60 && last.status !== 200; attempt++) {
        await new Promise((r) => setTimeout(r, 1_000));
        last = await post(events);
        expect([200, 503]).toContain(last.status);
      }
      expect(last.status).toBe(200);
      // Either the stuck send got through after all (duplicates) or it failed and was forgotten (accepted).
      expect((last.body.accepted as number) + (last.body.duplicates as number)).toBe(10);

      const serde = new AvroSerde<PlayEvent>(c.s.registry, valueSubject(c.topic), playEventSchema());
      const ids: string[] = [];
      for (const m of await readWholeTopic(c.s.kafka, c.topic)) ids.push((await serde.decode(m.value!)).event_id);
      expect(ids.sort()).toEqual(events.map((e) => e.event_id as string).sort());
    } finally {
      await admin.disconnect();
    }
  });
});
