// Shared by the collector integration tests: a real collector (runCollector: real producer,
// real registry, real Kafka) on a free loopback port with its own topic prefix, valid
// events, and reading a topic back completely.
import { randomUUID } from 'node:crypto';
import type { Kafka, KafkaMessage } from 'kafkajs';
import type { CollectorOptionsInput } from '../../api/collector/options.js';
import { runCollector, type RunningCollector } from '../../api/collector/server.js';
import { topics } from '../../schemas/topics.js';
import { realServices, type RealServices } from '../../harness/services.js';

export const WRITE_KEY = 'it-collector-write-key';

export interface CollectorUnderTest {
  s: RealServices;
  topic: string;
  collector: RunningCollector;
  close(): Promise<void>;
}

/** Creates the run's topics (play-events with 6 partitions) and starts a collector on them. */
export async function startCollector(name: string, options: CollectorOptionsInput = {}): Promise<CollectorUnderTest> {
  const s = realServices(name);
  const t = topics(s.prefix);
  const admin = s.kafka.admin();
  await admin.connect();
  await admin.createTopics({
    waitForLeaders: true,
    topics: [
      { topic: t.playEvents, numPartitions: 6, replicationFactor: 1 },
      { topic: t.playEventsDlq, numPartitions: 1, replicationFactor: 1 },
    ],
  });
  await admin.disconnect();
  const collector = await runCollector(
    {
      ...s.config,
      kafka: { ...s.config.kafka, topicPrefix: s.prefix },
      collector: { port: 0, writeKeys: [WRITE_KEY] },
      logLevel: 'silent',
    },
    { port: 0, options: { rateLimit: { perSecond: 1_000_000 }, ...options }, env: {} },
  );
  return {
    s,
    topic: t.playEvents,
    collector,
    async close() {
      await collector.close();
      const a = s.kafka.admin();
      await a.connect();
      await a.deleteTopics({ topics: [t.playEvents, t.playEventsDlq] });
      await a.disconnect();
      await s.clickhouse.close();
    },
  };
}

export function validEvent(now: number, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const viewer = `viewer-${randomUUID().slice(0, 8)}`;
  return {
    event_id: randomUUID(),
    event_type: 'heartbeat',
    event_time: now - Math.floor(Math.random() * 60_000),
    session_id: `session-${randomUUID().slice(0, 8)}`,
    viewer_id: viewer,
    video_id: `video-${Math.floor(Math.random() * 50)}`,
    position_ms: Math.floor(Math.random() * 600_000),
    watched_ms: Math.floor(Math.random() * 10_000),
    device: 'tv',
    os: 'tvOS 18',
    country: 'BR',
    traffic_source: 'browse',
    sdk_version: 'tv/3.0.1',
    ...overrides,
  };
}

/** Every record of `topic`, read with a fresh consumer group up to the topic's end offsets. */
export async function readWholeTopic(kafka: Kafka, topic: string, timeoutMs = 60_000): Promise<KafkaMessage[]> {
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const total = offsets.reduce((n, o) => n + Number(o.high) - Number(o.low), 0);
  const messages: KafkaMessage[] = [];
  if (total === 0) return messages;
  const consumer = kafka.consumer({ groupId: `${topic}-reader-${randomUUID().slice(0, 8)}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${messages.length} of ${total} records`)), timeoutMs);
      consumer
        .run({
          eachMessage: async ({ message }) => {
            messages.push(message);
            if (messages.length >= total) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return messages;
}
