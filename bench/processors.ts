// npm run bench:processors — how fast the stream processors turn Kafka records into
// ClickHouse rows on this machine, next to a bare kafkajs consumer reading the same topic.
//
//  1. generates N events (default 200k) straight into a fresh play-events topic;
//  2. bare kafkajs consumer (eachBatch, no decoding) over the topic: the ceiling;
//  3. each processor alone, as its own process (`viewpulse run processors --only X`): events/s
//     from start to everything committed, and its peak resident memory;
//  4. all three together in one process;
//  5. freshness: with the processors running, probe events are produced one by one and timed
//     until their rows are queryable in ClickHouse (play_events, view_counts, sessions).
// Writes bench/results/processors.json.
//
//   npm run bench:processors [-- --events 200000 --probes 100]
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { generateTraffic } from '../generator/index.js';
import { queryRows } from '../lib/clickhouse/client.js';
import { sql, v } from '../lib/clickhouse/sql.js';
import { AvroProducer } from '../lib/kafka/producer.js';
import { playEventSchema } from '../schemas/avro.js';
import { TABLES } from '../schemas/tables.js';
import type { PlayEvent } from '../schemas/types.js';
import { catalogRows, pumpIntoKafka, seedCatalog } from '../harness/dataset.js';
import { pipeline, waitForCommitted, type Pipeline } from '../harness/pipeline.js';
import { groupIdOf } from '../runtime/registry.js';
import { percentile, writeResults } from './results-file.js';
import { spawnProcessors, stopChild, timed } from './children.js';

const { values: args } = parseArgs({
  options: { events: { type: 'string', default: '200000' }, probes: { type: 'string', default: '100' } },
});
const EVENTS = Number(args.events);
const PROBES = Number(args.probes);
const PROCESSORS = ['raw-events', 'view-counts', 'engagement'] as const;

const log = (line: string): void => console.error(`[bench:processors] ${line}`);

/** Runs processors in a child process until their groups committed the whole topic. */
function timedRun(p: Pipeline, only: readonly string[]): Promise<{ seconds: number; peakRssMb: number }> {
  return timed(spawnProcessors(only, p), async () => {
    for (const name of only) await waitForCommitted(p.kafka, groupIdOf(p.prefix, name), p.topics.playEvents, 900_000);
  });
}

async function bareConsumer(p: Pipeline, total: number): Promise<number> {
  const consumer = p.kafka.consumer({ groupId: `${p.prefix}bare-${randomUUID()}` });
  await consumer.connect();
  await consumer.subscribe({ topic: p.topics.playEvents, fromBeginning: true });
  let seen = 0;
  let started = 0;
  const seconds = await new Promise<number>((resolve, reject) => {
    consumer
      .run({
        eachBatch: async ({ batch }) => {
          if (!started) started = Date.now();
          seen += batch.messages.length;
          if (seen >= total) resolve((Date.now() - started) / 1000);
        },
      })
      .catch(reject);
  });
  await consumer.disconnect();
  return total / seconds;
}

async function freshness(p: Pipeline, probes: number): Promise<Record<string, number[]>> {
  const running = spawnProcessors(PROCESSORS, p);
  const producer = new AvroProducer<PlayEvent>(p.kafka, p.registry, {
    topic: p.topics.playEvents,
    schema: playEventSchema(),
    key: (e) => e.viewer_id,
    lingerMs: 0,
  });
  await producer.connect();
  // let the group settle: one probe round trip before measuring
  const out: Record<string, number[]> = { 'raw-events': [], 'view-counts': [], engagement: [] };
  for (let i = -1; i < probes; i++) {
    const id = `probe-${randomUUID()}`;
    const now = Date.now();
    const e: PlayEvent = {
      event_id: randomUUID(),
      event_type: 'play_start',
      event_time: now,
      received_at: now,
      session_id: id,
      viewer_id: id,
      video_id: id,
      position_ms: 0,
      watched_ms: 0,
      device: 'desktop',
      os: 'linux',
      country: 'DE',
      traffic_source: 'direct',
      referrer_video_id: null,
      seek_from_ms: null,
      startup_ms: 300,
      rebuffer_ms: null,
      error_code: null,
      sdk_version: 'bench',
    };
    const sent = Date.now();
    await producer.send([e]);
    const pending = new Set<string>(Object.keys(out));
    const deadline = sent + (i < 0 ? 60_000 : 20_000);
    while (pending.size && Date.now() < deadline) {
      const [row] = await queryRows<{ raw: string; counts: string; sessions: string }>(
        p.clickhouse,
        sql`SELECT
              (SELECT count() FROM ${v.table(p.database, TABLES.playEvents)} WHERE video_id = ${v.string(id)}) AS raw,
              (SELECT count() FROM ${v.table(p.database, TABLES.counts)} WHERE dim = 'video' AND id = ${v.string(id)}) AS counts,
              (SELECT count() FROM ${v.table(p.database, TABLES.sessions)} WHERE video_id = ${v.string(id)}) AS sessions`,
      );
      const t = Date.now() - sent;
      const seen = {
        'raw-events': Number(row!.raw),
        'view-counts': Number(row!.counts),
        engagement: Number(row!.sessions),
      };
      for (const name of [...pending]) {
        if (seen[name as keyof typeof seen] > 0) {
          pending.delete(name);
          if (i >= 0) out[name]!.push(t);
        }
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  await producer.disconnect();
  await stopChild(running);
  return out;
}

async function main(): Promise<void> {
  const p = await pipeline('bench', 6);
  try {
    log(`generating ${EVENTS} events into ${p.topics.playEvents}`);
    const traffic = generateTraffic({ events: EVENTS, seed: 3, now: Date.now(), faults: { malformed: 0 } });
    const { sink } = await pumpIntoKafka(p, traffic, { chunk: 2000 });
    const total = sink.stats().written;
    await seedCatalog(p.clickhouse, p.database, catalogRows(traffic));

    const bare = await bareConsumer(p, total);
    log(`bare kafkajs consumer: ${Math.round(bare)} records/s`);

    const alone: Record<string, { events_per_s: number; peak_rss_mb: number }> = {};
    for (const name of PROCESSORS) {
      // each run reads the whole topic again with its own consumer group (a fresh prefix
      // would need a fresh topic; instead, reset the group by deleting it)
      const admin = p.kafka.admin();
      await admin.connect();
      await admin.deleteGroups([groupIdOf(p.prefix, name)]).catch(() => undefined);
      await admin.disconnect();
      const r = await timedRun(p, [name]);
      alone[name] = { events_per_s: Math.round(total / r.seconds), peak_rss_mb: r.peakRssMb };
      log(`${name}: ${alone[name].events_per_s} events/s, peak RSS ${r.peakRssMb} MB`);
      // drop its checkpoints so the next full run starts from scratch too
      await p.clickhouse.command({ query: sql`TRUNCATE TABLE ${v.table(p.database, TABLES.checkpoints)}`.text });
    }

    const admin = p.kafka.admin();
    await admin.connect();
    await admin.deleteGroups(PROCESSORS.map((n) => groupIdOf(p.prefix, n))).catch(() => undefined);
    await admin.disconnect();
    const together = await timedRun(p, PROCESSORS);
    log(
      `all three in one process: ${Math.round(total / together.seconds)} events/s (each), peak RSS ${together.peakRssMb} MB`,
    );

    log(`freshness: ${PROBES} probes`);
    const fresh = await freshness(p, PROBES);
    const stats = (xs: number[]): { p50: number; p95: number; p99: number } => {
      const s = [...xs].sort((a, b) => a - b);
      return { p50: percentile(s, 50), p95: percentile(s, 95), p99: percentile(s, 99) };
    };
    const figures = {
      events: total,
      bare_kafkajs_consumer_records_per_s: Math.round(bare),
      processors_alone: alone,
      all_together_events_per_s: Math.round(total / together.seconds),
      all_together_peak_rss_mb: together.peakRssMb,
      ratio_to_bare_consumer: Object.fromEntries([
        ...PROCESSORS.map((n) => [n, Math.round((alone[n]!.events_per_s / bare) * 1000) / 1000]),
        ['all_together', Math.round((total / together.seconds / bare) * 1000) / 1000],
      ]),
      freshness_ms: Object.fromEntries(
        Object.entries(fresh).map(([k, xs]) => [k, { ...stats(xs), samples: xs.length }]),
      ),
    };
    const file = writeResults(
      'processors',
      'npm run bench:processors',
      {
        topic: `play-events with 6 partitions, ${total} generated records (seed 3)`,
        processors:
          'each as its own process via `viewpulse run processors --only NAME`, from offset 0 until committed to the end',
        flush: 'rows every 1 s or 50k rows; checkpoint and commit every 5 s',
        freshness: `probe play_start events produced one at a time while all processors run; time until the row is queryable`,
        note: 'Kafka, the registry, ClickHouse, the processors and the load all share this 2-core machine',
      },
      figures,
    );
    console.log(JSON.stringify(figures, null, 2));
    log(`wrote ${file}`);
  } finally {
    await p.cleanup();
  }
}

await main();
