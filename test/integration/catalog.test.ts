// `viewpulse catalog put | import | delete` through the real Kafka and Schema Registry:
// the records on the compacted videos topic are read back and decoded.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AvroSerde } from '../../lib/kafka/serde.js';
import { videoSchema } from '../../schemas/avro.js';
import { topics, valueSubject } from '../../schemas/topics.js';
import type { Video } from '../../schemas/types.js';
import { registerCatalog } from '../../cli/catalog.js';
import { realServices } from '../../harness/services.js';

const s = realServices('catalog');
const topic = topics(s.prefix).videos;
const serde = new AvroSerde<Video>(s.registry, valueSubject(topic), videoSchema());
let dir = '';
const savedPrefix = process.env.VIEWPULSE_TOPIC_PREFIX;

interface Rec {
  key: string;
  value: Video | null;
  partition: number;
  offset: number;
}

/** Runs `viewpulse catalog ...` in-process; returns what it printed and its exit code. */
async function cli(...args: string[]): Promise<{ out: string; err: string; code: number }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  const error = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
  const before = process.exitCode;
  process.exitCode = undefined;
  try {
    const program = new Command().exitOverride();
    registerCatalog(program);
    await program.parseAsync(['catalog', ...args], { from: 'user' });
    return { out: out.join('\n'), err: err.join('\n'), code: Number(process.exitCode ?? 0) };
  } finally {
    process.exitCode = before;
    log.mockRestore();
    error.mockRestore();
  }
}

/** Every record on the topic, decoded (null for tombstones), in offset order per partition. */
async function readAll(): Promise<Rec[]> {
  const admin = s.kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const expected = offsets.reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
  const records: Rec[] = [];
  if (expected === 0) return records;
  const consumer = s.kafka.consumer({ groupId: `${s.prefix}reader-${Math.random().toString(36).slice(2)}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await new Promise<void>((resolve, reject) => {
    consumer
      .run({
        eachMessage: async ({ partition, message }) => {
          records.push({
            key: message.key!.toString(),
            value: message.value ? await serde.decode(message.value) : null,
            partition,
            offset: Number(message.offset),
          });
          if (records.length >= expected) resolve();
        },
      })
      .catch(reject);
  });
  await consumer.disconnect();
  return records.sort((a, b) => a.partition - b.partition || a.offset - b.offset);
}

/** The latest value per key (what compaction keeps). */
const latest = (records: Rec[]): Map<string, Video | null> => new Map(records.map((r) => [r.key, r.value]));

describe('catalog commands on the real videos topic', () => {
  beforeAll(async () => {
    process.env.VIEWPULSE_TOPIC_PREFIX = s.prefix;
    dir = await mkdtemp(join(tmpdir(), 'vp-catalog-'));
    const admin = s.kafka.admin();
    await admin.connect();
    await admin.createTopics({
      topics: [
        {
          topic,
          numPartitions: 3,
          replicationFactor: 1,
          configEntries: [{ name: 'cleanup.policy', value: 'compact' }],
        },
      ],
      waitForLeaders: true,
    });
    await admin.disconnect();
  });

  afterAll(async () => {
    if (savedPrefix === undefined) delete process.env.VIEWPULSE_TOPIC_PREFIX;
    else process.env.VIEWPULSE_TOPIC_PREFIX = savedPrefix;
    await rm(dir, { recursive: true, force: true });
    const admin = s.kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topic] });
    await admin.disconnect();
    await s.clickhouse.close();
  });

  it('put publishes one Avro Video record keyed by video_id', async () => {
    const r = await cli(
      'put',
      '--video',
      'vid-1',
      '--creator',
      'cre-1',
      '--duration-ms',
      '215000',
      '--title',
      'Sourdough "basics" — ünïcode',
      '--category',
      'cooking',
      '--published-at',
      '2026-01-02T03:04:05Z',
    );
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out).toContain(`published vid-1 to ${topic}`);
    const records = await readAll();
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      key: 'vid-1',
      value: {
        video_id: 'vid-1',
        creator_id: 'cre-1',
        title: 'Sourdough "basics" — ünïcode',
        duration_ms: 215_000,
        published_at: Date.parse('2026-01-02T03:04:05Z'),
        category: 'cooking',
      },
    });
    expect(await s.registry.versions(valueSubject(topic))).toHaveLength(1);
  });

  it('put refuses bad input before touching Kafka', async () => {
    const r = await cli('put', '--video', 'v 2', '--creator', 'c', '--duration-ms', '-5', '--title', 't');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--duration-ms/);
    const r2 = await cli('put', '--video', 'v 2', '--creator', 'c', '--duration-ms', '5', '--title', 't');
    expect(r2.code).toBe(2);
    expect(r2.err).toMatch(/video_id/);
    expect(await readAll()).toHaveLength(1);
  });

  it('import validates the whole file first and publishes nothing when a line is bad', async () => {
    const file = join(dir, 'bad.jsonl');
    await writeFile(
      file,
      [
        JSON.stringify({ video_id: 'vid-2', creator_id: 'cre-1', title: 'ok', duration_ms: 1000 }),
        JSON.stringify({ video_id: 'vid-3', creator_id: 'cre-1', title: 'no length' }),
        '',
        '{"video_id": "vid-4",',
      ].join('\n'),
    );
    const r = await cli('import', file);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${file}:2: duration_ms`);
    expect(r.err).toContain(`${file}:4: not valid JSON`);
    expect(r.err).toMatch(/nothing published/);
    expect(await readAll()).toHaveLength(1);
  });

  it('import publishes every line in file order (the last line of a repeated id wins)', async () => {
    const file = join(dir, 'good.jsonl');
    const lines = [
      {
        video_id: 'vid-2',
        creator_id: 'cre-2',
        title: 'Ramen at home',
        duration_ms: 600_000,
        published_at: 1_700_000_000_000,
      },
      { video_id: 'vid-3', creator_id: 'cre-2', title: 'Knife skills', duration_ms: 25_000, category: 'cooking' },
      {
        video_id: 'vid-2',
        creator_id: 'cre-2',
        title: 'Ramen at home (re-cut)',
        duration_ms: 590_000,
        published_at: 1_700_000_000_000,
      },
    ];
    await writeFile(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    const r = await cli('import', file);
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out).toMatch(/published 3 entries .*\(1 repeated video_ids\)/);
    const state = latest(await readAll());
    expect(state.get('vid-2')).toMatchObject({ title: 'Ramen at home (re-cut)', duration_ms: 590_000 });
    expect(state.get('vid-3')).toMatchObject({ duration_ms: 25_000, category: 'cooking' });
    expect(state.get('vid-1')).toMatchObject({ title: 'Sourdough "basics" — ünïcode' });
  });

  it('delete writes a tombstone: the key with a null value', async () => {
    const r = await cli('delete', '--video', 'vid-1', 'vid-3');
    expect(r).toMatchObject({ code: 0, err: '' });
    const records = await readAll();
    const tombstones = records.filter((x) => x.value === null).map((x) => x.key);
    expect(tombstones.sort()).toEqual(['vid-1', 'vid-3']);
    const state = latest(records);
    expect(state.get('vid-1')).toBeNull();
    expect(state.get('vid-3')).toBeNull();
    expect(state.get('vid-2')).toMatchObject({ video_id: 'vid-2' });
  });

  it('says clearly when the topic does not exist', async () => {
    process.env.VIEWPULSE_TOPIC_PREFIX = `${s.prefix}missing.`;
    try {
      const r = await cli('delete', '--video', 'x');
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/does not exist .*migrate/);
    } finally {
      process.env.VIEWPULSE_TOPIC_PREFIX = s.prefix;
    }
  });
});
