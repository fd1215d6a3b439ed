// Records a processor cannot decode or accept land in the dead-letter topic with their
// original bytes and the reason in headers, and in ClickHouse's dead_letters (one row per
// processor that refused them), counted once per record by the insights API's health route —
// and the good records around them still count.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../api/app.js';
import { signToken } from '../../api/auth.js';
import { runProcessors } from '../../runtime/start.js';
import { queryRows } from '../../lib/clickhouse/client.js';
import { sql, v } from '../../lib/clickhouse/sql.js';
import { DLQ_HEADERS } from '../../lib/kafka/dlq.js';
import { AvroSerde } from '../../lib/kafka/serde.js';
import { playEventSchema } from '../../schemas/avro.js';
import { TABLES } from '../../schemas/tables.js';
import { valueSubject } from '../../schemas/topics.js';
import type { PlayEvent } from '../../schemas/types.js';
import { seedCatalog } from '../../harness/dataset.js';
import { pipeline, waitForCommitted, type Pipeline } from '../../harness/pipeline.js';
import { testNow } from '../clock.js';
import { qs } from '../url.js';

let p: Pipeline;
/** The Kafka timestamp of the records and the API's clock: no reading of the wall clock. */
const NOW = testNow();
const HOUR = 3_600_000;

const event = (i: number, overrides: Partial<PlayEvent> = {}): PlayEvent => ({
  event_id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
  event_type: 'play_start',
  event_time: Date.UTC(2026, 10, 20, 10, 0, i),
  received_at: Date.UTC(2026, 10, 20, 10, 0, i) + 500,
  session_id: `s${i}`,
  viewer_id: 'u1',
  video_id: 'v1',
  position_ms: 0,
  watched_ms: 0,
  device: 'desktop',
  os: 'linux',
  country: 'DE',
  traffic_source: 'direct',
  referrer_video_id: null,
  seek_from_ms: null,
  startup_ms: 200,
  rebuffer_ms: null,
  error_code: null,
  sdk_version: 'test',
  ...overrides,
});

describe('dead letters', () => {
  const garbage = Buffer.from('definitely not avro');
  let breaksRules: Buffer;

  beforeAll(async () => {
    p = await pipeline('dlq', 1);
    await seedCatalog(p.clickhouse, p.database, [{ video_id: 'v1', creator_id: 'c1', duration_ms: 600_000 }]);
    const serde = new AvroSerde<PlayEvent>(p.registry, valueSubject(p.topics.playEvents), playEventSchema());
    breaksRules = await serde.encode(event(2, { event_time: Date.UTC(1990, 0, 1) }));
    const producer = p.kafka.producer();
    await producer.connect();
    await producer.send({
      topic: p.topics.playEvents,
      messages: [
        { key: 'u1', value: await serde.encode(event(1)) },
        { key: 'u1', value: garbage },
        { key: 'u1', value: breaksRules },
        { key: 'u1', value: await serde.encode(event(3)) },
      ].map((m) => ({ ...m, timestamp: String(NOW) })),
    });
    await producer.disconnect();
    const running = await runProcessors(['raw-events', 'view-counts'], { config: p.testConfig, metricsPort: -1 });
    await waitForCommitted(p.kafka, `${p.prefix}viewpulse-raw-events`, p.topics.playEvents);
    await waitForCommitted(p.kafka, `${p.prefix}viewpulse-view-counts`, p.topics.playEvents);
    await running.stop();
  });
  afterAll(() => p.cleanup());

  it('keeps the good records', async () => {
    const rows = await queryRows<{ event_id: string }>(
      p.clickhouse,
      sql`SELECT event_id FROM ${v.table(p.database, TABLES.playEvents)} FINAL ORDER BY event_id`,
    );
    expect(rows.map((r) => r.event_id)).toEqual([event(1).event_id, event(3).event_id]);
  });

  it('dead-letters the undecodable and the rule-breaking record, bytes and reasons intact', async () => {
    const consumer = p.kafka.consumer({ groupId: `${p.prefix}dlq-reader` });
    await consumer.connect();
    await consumer.subscribe({ topic: p.topics.playEventsDlq, fromBeginning: true });
    const letters: { value: Buffer; headers: Record<string, string> }[] = [];
    await new Promise<void>((resolve, reject) => {
      consumer
        .run({
          eachMessage: async ({ message }) => {
            const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, x]) => [k, String(x)]));
            letters.push({ value: message.value!, headers });
            if (letters.length === 2) resolve();
          },
        })
        .catch(reject);
    });
    await consumer.disconnect();
    letters.sort((a, b) => Number(a.headers[DLQ_HEADERS.sourceOffset]) - Number(b.headers[DLQ_HEADERS.sourceOffset]));
    expect(letters[0]!.value.equals(garbage)).toBe(true);
    expect(letters[0]!.headers).toMatchObject({
      [DLQ_HEADERS.code]: 'VP_ERR_DECODE_MAGIC',
      [DLQ_HEADERS.stage]: 'raw-events',
      [DLQ_HEADERS.sourceTopic]: p.topics.playEvents,
      [DLQ_HEADERS.sourceOffset]: '1',
    });
    expect(letters[1]!.value.equals(breaksRules)).toBe(true);
    expect(letters[1]!.headers[DLQ_HEADERS.code]).toBe('VP_ERR_EVENT_RULES');
    expect(letters[1]!.headers[DLQ_HEADERS.reason]).toMatch(/event_time/);
    expect(letters[1]!.headers[DLQ_HEADERS.sourceOffset]).toBe('2');
  });

  it('records them in dead_letters, one row per refusing processor, with the video when it could be decoded', async () => {
    const rows = await queryRows<{ stage: string; kafka_offset: string; code: string; video_id: string; t: number }>(
      p.clickhouse,
      sql`SELECT stage, kafka_offset, code, video_id, toUInt32(record_time) AS t
          FROM ${v.table(p.database, TABLES.deadLetters)} FINAL ORDER BY kafka_offset, stage`,
    );
    expect(rows.map((r) => [r.stage, Number(r.kafka_offset), r.code, r.video_id])).toEqual([
      ['raw-events', 1, 'VP_ERR_DECODE_MAGIC', ''],
      ['view-counts', 1, 'VP_ERR_DECODE_MAGIC', ''],
      ['raw-events', 2, 'VP_ERR_EVENT_RULES', 'v1'],
      ['view-counts', 2, 'VP_ERR_EVENT_RULES', 'v1'],
    ]);
    // the Kafka record's timestamp (whole seconds), so a replay writes the same row
    for (const r of rows) expect(Number(r.t)).toBe(Math.floor(NOW / 1000));
  });

  it("the health route counts each refused record of the creator's videos once, by code", async () => {
    const secret = 'dead-letters-test-secret-0123456789';
    const app = buildApp({
      clickhouse: p.clickhouse,
      database: p.database,
      jwtSecret: secret,
      now: () => NOW,
      rateLimit: false,
      cache: false, // the same URL is asked again after more rows are written
    });
    try {
      const token = await signToken({ secret, sub: 'c1', role: 'creator', ttlSeconds: 600, now: NOW });
      const from = new Date(NOW - HOUR).toISOString();
      const to = new Date(NOW + HOUR).toISOString();
      const res = await app.inject({
        url: `/v1/creators/c1/health?${qs({ from, to })}`,
        headers: { authorization: `Bearer ${token}` },
      });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json().dead_letters).toEqual({
        records: 1,
        by_code: [{ code: 'VP_ERR_EVENT_RULES', records: 1 }],
        undecodable_records: 1,
      });
      // a record two stages refused with different codes counts once, and once under each code;
      // a row written again (a replay) changes nothing
      const row = (stage: string, offset: number, code: string) => ({
        stage,
        source_topic: 'other-topic',
        kafka_partition: 0,
        kafka_offset: offset,
        record_time: Math.floor(NOW / 1000),
        code,
        reason: `${code} at ${offset}`,
        video_id: 'v1',
      });
      await p.clickhouse.insert({
        table: `${p.database}.${TABLES.deadLetters}`,
        values: [
          row('raw-events', 100, 'VP_ERR_A'),
          row('view-counts', 100, 'VP_ERR_B'),
          row('raw-events', 100, 'VP_ERR_A'),
        ],
        format: 'JSONEachRow',
      });
      await p.clickhouse.insert({
        table: `${p.database}.${TABLES.deadLetters}`,
        values: [row('engagement', 101, 'VP_ERR_B')],
        format: 'JSONEachRow',
      });
      const again = await app.inject({
        url: `/v1/creators/c1/health?${qs({ from, to })}`,
        headers: { authorization: `Bearer ${token}` },
      });
      expect(again.statusCode, again.body).toBe(200);
      expect(again.json().dead_letters).toEqual({
        records: 3,
        by_code: [
          { code: 'VP_ERR_B', records: 2 },
          { code: 'VP_ERR_A', records: 1 },
          { code: 'VP_ERR_EVENT_RULES', records: 1 },
        ],
        undecodable_records: 1,
      });
    } finally {
      await app.close();
    }
  });
});
