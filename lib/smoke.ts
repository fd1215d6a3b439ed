// The first slice through every real part: register an Avro schema, produce
// Confluent-framed records with kafkajs, consume them back, insert rows into ClickHouse,
// read them back. Used by `viewpulse demo --smoke` and the integration test.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Kafka } from 'kafkajs';
import { TABLES } from '../schemas/tables.js';
import { valueSubject } from '../schemas/topics.js';
import { exec, queryRows, type ClickHouseClient } from './clickhouse/client.js';
import { sql, v } from './clickhouse/sql.js';
import { RegistryClient } from './kafka/registry.js';
import { AvroSerde } from './kafka/serde.js';

export interface SmokeEvent {
  event_id: string;
  seq: number;
  event_time: number;
  video_id: string;
  watched_ms: number;
  note: string | null;
}

export const smokeSchema = (): object =>
  JSON.parse(readFileSync(new URL('../schemas/avro/SmokeEvent.avsc', import.meta.url), 'utf8')) as object;

/** Deterministic-looking but unique records, including hostile text in `note`. */
export function makeSmokeEvents(count: number, start = Date.now()): SmokeEvent[] {
  const notes = [null, "it's", 'back\\slash', 'new\nline', 'nul\u0000byte', 'ünïcödé 🎬', "'); DROP TABLE x; --"];
  return Array.from({ length: count }, (_, i) => ({
    event_id: randomUUID(),
    seq: i,
    event_time: start + i * 250,
    video_id: `v${i % 7}`,
    watched_ms: (i * 997) % 10_000,
    note: notes[i % notes.length] ?? null,
  }));
}

export interface SmokeDeps {
  kafka: Kafka;
  registry: RegistryClient;
  clickhouse: ClickHouseClient;
  database: string;
  topic: string;
}

export interface SmokeResult {
  schemaId: number;
  produced: SmokeEvent[];
  consumed: SmokeEvent[];
  stored: SmokeEvent[];
}

const ROW_ORDER = sql`ORDER BY seq`;

export async function ensureSmokeTable(ch: ClickHouseClient, database: string): Promise<void> {
  await exec(ch, sql`CREATE DATABASE IF NOT EXISTS ${v.ident(database)}`);
  await exec(
    ch,
    sql`CREATE TABLE IF NOT EXISTS ${v.table(database, TABLES.smokeEvents)} (
      run_id String,
      event_id String,
      seq UInt32,
      event_time DateTime,
      event_time_ms UInt64,
      video_id String,
      watched_ms UInt32,
      note Nullable(String)
    ) ENGINE = MergeTree ORDER BY (run_id, seq)`,
  );
}

export async function runSmoke(deps: SmokeDeps, count = 100): Promise<SmokeResult & { runId: string }> {
  const runId = randomUUID();
  const { kafka, registry, clickhouse, database, topic } = deps;
  const serde = new AvroSerde<SmokeEvent>(registry, valueSubject(topic), smokeSchema());
  const schemaId = await serde.schemaId();

  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true });
  await admin.disconnect();

  const produced = makeSmokeEvents(count);
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  await producer.send({
    topic,
    acks: -1,
    messages: await Promise.all(
      produced.map(async (e) => ({ key: e.video_id, value: await serde.encode(e), headers: { run_id: runId } })),
    ),
  });
  await producer.disconnect();

  // Consume this run's records back from the beginning with a fresh group.
  const consumed: SmokeEvent[] = [];
  const consumer = kafka.consumer({ groupId: `viewpulse-smoke-${runId}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`consumed ${consumed.length}/${count} within 60s`)), 60_000);
    consumer
      .run({
        eachMessage: async ({ message, partition }) => {
          if (message.headers?.run_id?.toString() !== runId || !message.value) return;
          consumed.push(await serde.decode(message.value, { topic, partition, offset: message.offset }));
          if (consumed.length === count) {
            clearTimeout(timer);
            resolve();
          }
        },
      })
      .catch(reject);
  });
  await consumer.disconnect();

  await ensureSmokeTable(clickhouse, database);
  await clickhouse.insert({
    table: `${database}.${TABLES.smokeEvents}`,
    format: 'JSONEachRow',
    values: consumed.map((e) => ({
      run_id: runId,
      event_id: e.event_id,
      seq: e.seq,
      event_time: Math.floor(e.event_time / 1000),
      event_time_ms: e.event_time,
      video_id: e.video_id,
      watched_ms: e.watched_ms,
      note: e.note,
    })),
  });
  const rows = await queryRows<Omit<SmokeEvent, 'event_time'> & { event_time_ms: string | number }>(
    clickhouse,
    sql`SELECT event_id, seq, event_time_ms, video_id, watched_ms, note
        FROM ${v.table(database, TABLES.smokeEvents)} WHERE run_id = ${v.string(runId)} ${ROW_ORDER}`,
  );
  const stored = rows.map((r) => ({
    event_id: r.event_id,
    seq: Number(r.seq),
    event_time: Number(r.event_time_ms),
    video_id: r.video_id,
    watched_ms: Number(r.watched_ms),
    note: r.note,
  }));
  return { runId, schemaId, produced, consumed, stored };
}
