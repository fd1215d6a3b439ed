// `viewpulse generate --target kafka` through the real Kafka and Schema Registry: the catalog
// it publishes and the play events it writes are read back, and the truth recomputed from
// what Kafka holds (decoded events, deduplicated; undecodable records skipped; durations
// from the videos topic) equals the truth file the command wrote.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import type { Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ViewpulseError } from '../../lib/errors.js';
import { AvroSerde } from '../../lib/kafka/serde.js';
import { playEventSchema, videoSchema } from '../../schemas/avro.js';
import { topics, valueSubject } from '../../schemas/topics.js';
import type { PlayEvent, Video } from '../../schemas/types.js';
import { registerGenerate } from '../../cli/generate.js';
import { readTruthFile, type TruthFile } from '../../generator/truth-file.js';
import { truthFromEvents } from '../../generator/truth.js';
import { defaultSpanMs, defaultStart } from '../../generator/index.js';
import { testNow } from '../clock.js';
import { realServices } from '../../harness/services.js';

const s = realServices('catgen');
const t = topics(s.prefix);
const savedPrefix = process.env.VIEWPULSE_TOPIC_PREFIX;
let dir = '';
let reads = 0;

async function consumeAll(kafka: Kafka, topic: string): Promise<Array<{ key: string; value: Buffer | null }>> {
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const expected = offsets.reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
  const out: Array<{ key: string; value: Buffer | null }> = [];
  // A fresh group per read: a group with committed offsets would not start from the beginning.
  const consumer = kafka.consumer({ groupId: `${s.prefix}reader-${++reads}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await new Promise<void>((resolve, reject) => {
    consumer
      .run({
        eachMessage: async ({ message }) => {
          out.push({ key: message.key!.toString(), value: message.value });
          if (out.length >= expected) resolve();
        },
      })
      .catch(reject);
  });
  await consumer.disconnect();
  return out;
}

describe('generate --target kafka on real services', () => {
  let truth: TruthFile;
  let printed = '';

  beforeAll(async () => {
    process.env.VIEWPULSE_TOPIC_PREFIX = s.prefix;
    dir = await mkdtemp(join(tmpdir(), 'vp-catgen-'));
    const admin = s.kafka.admin();
    await admin.connect();
    await admin.createTopics({
      topics: [
        { topic: t.videos, numPartitions: 2, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] },
        { topic: t.playEvents, numPartitions: 3 },
      ],
      waitForLeaders: true,
    });
    await admin.disconnect();
    const out: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
    const err = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
    process.exitCode = undefined;
    try {
      const program = new Command().exitOverride();
      registerGenerate(program);
      const file = join(dir, 'truth.json');
      await program.parseAsync(
        [
          'generate',
          '--target',
          'kafka',
          '--events',
          '3000',
          '--seed',
          '77',
          '--videos',
          '60',
          '--creators',
          '12',
          '--malformed',
          '0.01',
          '--duplicates',
          '0.03',
          '--late',
          '0.01',
          // where the default start would put it for the pinned now (test/clock.ts), not the wall clock
          '--start',
          new Date(defaultStart(defaultSpanMs(3000), testNow())).toISOString(),
          '--truth',
          file,
          '--no-progress',
        ],
        { from: 'user' },
      );
      printed = out.join('\n');
      expect(process.exitCode ?? 0).toBe(0);
      truth = await readTruthFile(file);
    } finally {
      process.exitCode = undefined;
      log.mockRestore();
      err.mockRestore();
    }
  });

  afterAll(async () => {
    if (savedPrefix === undefined) delete process.env.VIEWPULSE_TOPIC_PREFIX;
    else process.env.VIEWPULSE_TOPIC_PREFIX = savedPrefix;
    await rm(dir, { recursive: true, force: true });
    const admin = s.kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [t.videos, t.playEvents] });
    await admin.disconnect();
    await s.clickhouse.close();
  });

  it('reports what it sent', () => {
    expect(printed).toContain(`published 60 videos to ${t.videos}`);
    expect(printed).toContain(`generated 3,000 records`);
    expect(printed).toContain(`kafka topic ${t.playEvents}`);
    expect(truth.counts.deliveries).toBe(3000);
    expect(truth.counts.malformed).toBeGreaterThan(5);
  });

  it('publishes the generated catalog to the videos topic', async () => {
    const serde = new AvroSerde<Video>(s.registry, valueSubject(t.videos), videoSchema());
    const records = await consumeAll(s.kafka, t.videos);
    expect(records).toHaveLength(60);
    const videos = await Promise.all(records.map((r) => serde.decode(r.value!)));
    expect(videos.map((v) => v.video_id).sort()).toEqual(Object.keys(truth.clusters.videos).sort());
    expect(records.every((r, i) => r.key === videos[i]!.video_id)).toBe(true);
  });

  it('writes play events keyed by viewer_id whose recomputed truth equals the truth file', async () => {
    const events = new AvroSerde<PlayEvent>(s.registry, valueSubject(t.playEvents), playEventSchema());
    const videos = new AvroSerde<Video>(s.registry, valueSubject(t.videos), videoSchema());
    const catalog = new Map<string, Video>();
    for (const r of await consumeAll(s.kafka, t.videos)) {
      const v = await videos.decode(r.value!);
      catalog.set(v.video_id, v);
    }
    const records = await consumeAll(s.kafka, t.playEvents);
    expect(records).toHaveLength(3000);
    const decoded: PlayEvent[] = [];
    let undecodable = 0;
    for (const r of records) {
      try {
        const e = await events.decode(r.value!);
        expect(r.key).toBe(e.viewer_id);
        decoded.push(e);
      } catch (err) {
        expect(err).toBeInstanceOf(ViewpulseError);
        expect((err as ViewpulseError).code).toMatch(/^VP_ERR_DECODE_(MAGIC|AVRO)$/);
        undecodable++;
      }
    }
    expect(undecodable).toBe(truth.counts.malformed);
    expect(decoded).toHaveLength(truth.counts.events + truth.counts.duplicates);
    expect(new Set(decoded.map((e) => e.event_id)).size).toBe(truth.counts.events);
    expect(decoded.every((e) => e.received_at >= e.event_time - 1000)).toBe(true);

    const recomputed = truthFromEvents(decoded, (id) => {
      const v = catalog.get(id);
      return v ? { duration_ms: v.duration_ms, creator_id: v.creator_id } : undefined;
    });
    const { totals, minutes, daily_uniques, creator_daily_uniques, retention } = truth;
    expect(recomputed).toEqual({ totals, minutes, daily_uniques, creator_daily_uniques, retention });
  });
});
