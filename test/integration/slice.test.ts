// The first slice through every real part: Schema Registry → Kafka (kafkajs) → consumer →
// ClickHouse (@clickhouse/client), compared exactly.
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exec } from '../../lib/clickhouse/client.js';
import { sql, v } from '../../lib/clickhouse/sql.js';
import { AvroSerde } from '../../lib/kafka/serde.js';
import { makeSmokeEvents, runSmoke, smokeSchema, type SmokeEvent } from '../../lib/smoke.js';
import { valueSubject } from '../../schemas/topics.js';
import { smokeTopic } from '../../schemas/topics.js';
import { realServices } from '../../harness/services.js';

const s = realServices('slice');
const topic = smokeTopic(s.prefix);
const bySeq = (a: SmokeEvent, b: SmokeEvent): number => a.seq - b.seq;

describe('first slice: registry → Kafka → ClickHouse', () => {
  let result: Awaited<ReturnType<typeof runSmoke>>;

  beforeAll(async () => {
    result = await runSmoke({ ...s, topic }, 500);
  });

  afterAll(async () => {
    await exec(s.clickhouse, sql`DROP DATABASE IF EXISTS ${v.ident(s.database)}`);
    const admin = s.kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topic] });
    await admin.disconnect();
    await s.clickhouse.close();
  });

  it('registers the schema and gets a numeric id back', async () => {
    expect(result.schemaId).toBeGreaterThan(0);
    const text = await s.registry.schemaById(result.schemaId);
    expect(JSON.parse(text)).toMatchObject({ name: 'SmokeEvent' });
  });

  it('consumes exactly the records it produced', () => {
    expect([...result.consumed].sort(bySeq)).toEqual(result.produced);
  });

  it('reads back from ClickHouse exactly the rows it inserted, hostile text included', () => {
    expect(result.stored).toEqual(result.produced);
    expect(result.stored.some((e) => e.note?.includes('\u0000'))).toBe(true);
  });

  it("writes records an independent Confluent decoder reads (Confluent's own JS library)", async () => {
    const independent = new SchemaRegistry({ host: s.config.registry.url });
    const consumer = s.kafka.consumer({ groupId: `${s.prefix}independent` });
    const decoded: SmokeEvent[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      consumer
        .run({
          eachMessage: async ({ message }) => {
            if (message.headers?.run_id?.toString() !== result.runId || !message.value) return;
            expect(message.value.readUInt8(0)).toBe(0);
            expect(message.value.readUInt32BE(1)).toBe(result.schemaId);
            decoded.push((await independent.decode(message.value)) as SmokeEvent);
            if (decoded.length === result.produced.length) resolve();
          },
        })
        .catch(reject);
    });
    await consumer.disconnect();
    expect(decoded.sort(bySeq)).toEqual(result.produced);
  });

  it("reads records that Confluent's own JS library wrote (and registered)", async () => {
    const independent = new SchemaRegistry({ host: s.config.registry.url });
    const subject = valueSubject(`${topic}-independent`);
    const { id } = await independent.register(
      { type: SchemaType.AVRO, schema: JSON.stringify(smokeSchema()) },
      { subject },
    );
    const ours = new AvroSerde<SmokeEvent>(s.registry, subject, smokeSchema());
    const events = makeSmokeEvents(50);
    const decoded = await Promise.all(events.map(async (e) => ours.decode(await independent.encode(id, e))));
    expect(decoded).toEqual(events);
  });
});
