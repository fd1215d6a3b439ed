// End-to-end wiring shared by the pipeline and fault tests: catalog through the catalog
// processor, traffic through the real collector, and readers that compare ClickHouse with the
// generator's ground truth.
import type { Kafka } from 'kafkajs';
import { runCollector, type RunningCollector } from '../../cli/run-collector.js';
import { queryRows, type ClickHouseClient } from '../../lib/clickhouse/client.js';
import { sql, v } from '../../lib/clickhouse/sql.js';
import { AvroSerde } from '../../lib/kafka/serde.js';
import type { RegistryClient } from '../../lib/kafka/registry.js';
import { CatalogPublisher } from '../../generator/catalog-publish.js';
import { generateTraffic, type GenerateOptions, type Traffic, type TruthReport } from '../../generator/index.js';
import { pump } from '../../generator/run.js';
import { CollectorSink, type Sink } from '../../generator/sinks.js';
import type { Delivery } from '../../generator/faults.js';
import { playEventSchema } from '../../schemas/avro.js';
import { TABLES } from '../../schemas/tables.js';
import { valueSubject } from '../../schemas/topics.js';
import type { PlayEvent } from '../../schemas/types.js';
import type { Pipeline } from './pipeline-helpers.js';
import { waitForCommitted } from './pipeline-helpers.js';
import { runProcessors, type RunningProcessors } from '../../cli/run-processors.js';
import { testNow } from '../clock.js';

/** Publishes the generated catalog and waits until the catalog processor has loaded it. */
export async function loadCatalog(p: Pipeline, traffic: Traffic): Promise<void> {
  const publisher = new CatalogPublisher(p.kafka, p.registry, p.topics.videos);
  await publisher.connect();
  await publisher.put(traffic.catalog.videos.map((x) => x.video));
  await publisher.disconnect();
  const loader = await runProcessors(['catalog'], { config: p.testConfig, metricsPort: -1 });
  await waitForCommitted(p.kafka, `${p.prefix}viewpulse-catalog`, p.topics.videos);
  await loader.stop();
}

/** Records the event ids of valid deliveries while passing everything to `inner`. */
export class RecordingSink implements Sink {
  readonly name: string;
  readonly validIds = new Set<string>();

  constructor(private readonly inner: Sink) {
    this.name = inner.name;
  }

  async write(d: Delivery): Promise<void> {
    if (d.kind === 'event') this.validIds.add(d.event.event_id);
    await this.inner.write(d);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  stats(): ReturnType<Sink['stats']> {
    return this.inner.stats();
  }
}

export interface Sent {
  traffic: Traffic;
  truth: TruthReport;
  sink: RecordingSink;
}

/**
 * Generates traffic and sends all of it through a real collector. Unless `options` say
 * otherwise, the traffic ends before the pinned test now (test/clock.ts), not the wall clock.
 */
export async function sendThroughCollector(
  p: Pipeline,
  options: GenerateOptions,
): Promise<Sent & { collector: RunningCollector }> {
  const traffic = generateTraffic({ now: testNow(), ...options });
  await loadCatalog(p, traffic);
  const collector = await runCollector(p.testConfig, {
    port: 0,
    options: { rateLimit: { perSecond: 100_000, burst: 100_000 } },
  });
  const sink = new RecordingSink(
    new CollectorSink({
      url: `${collector.url}/v1/events`,
      writeKey: p.testConfig.collector.writeKeys[0]!,
      maxBatch: 250,
      concurrency: 8,
      maxHold: 200,
    }),
  );
  await pump(traffic, sink, { rate: 0 });
  return { traffic, truth: traffic.truth(), sink, collector };
}

/** Every event id in a topic, with how often it occurs. */
export async function topicEventIds(
  kafka: Kafka,
  registry: RegistryClient,
  topic: string,
  expected: number,
): Promise<Map<string, number>> {
  const serde = new AvroSerde<PlayEvent>(registry, valueSubject(topic), playEventSchema());
  const ids = new Map<string, number>();
  let seen = 0;
  const consumer = kafka.consumer({ groupId: `${topic}-reader-${Date.now()}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`read ${seen}/${expected} records within 120 s`)), 120_000);
    consumer
      .run({
        eachBatch: async ({ batch }) => {
          for (const m of batch.messages) {
            const e = await serde.decode(m.value!);
            ids.set(e.event_id, (ids.get(e.event_id) ?? 0) + 1);
            seen++;
          }
          if (seen >= expected) {
            clearTimeout(timer);
            resolve();
          }
        },
      })
      .catch(reject);
  });
  await consumer.disconnect();
  return ids;
}

export const PIPELINE = ['view-counts', 'engagement', 'raw-events'] as const;

export async function startPipeline(p: Pipeline): Promise<RunningProcessors> {
  return runProcessors([...PIPELINE], { config: p.testConfig, metricsPort: -1 });
}

export async function waitForPipeline(p: Pipeline, timeoutMs = 300_000): Promise<void> {
  for (const name of PIPELINE)
    await waitForCommitted(p.kafka, `${p.prefix}viewpulse-${name}`, p.topics.playEvents, timeoutMs);
}

/** "video|minute" → [plays, views, watch_ms] from the truth. */
export function truthMinutes(truth: TruthReport): Map<string, [number, number, number]> {
  return new Map(truth.minutes.map((r) => [`${r.video_id}|${r.minute}`, [r.plays, r.views, r.watch_ms]]));
}

export async function clickhouseMinutes(
  ch: ClickHouseClient,
  database: string,
): Promise<Map<string, [number, number, number]>> {
  const rows = await queryRows<{ video_id: string; m: number; plays: string; views: string; watch: string }>(
    ch,
    sql`SELECT id AS video_id, toUInt32(window_start) AS m, sum(plays) AS plays, sum(views) AS views, sum(watch_ms) AS watch
        FROM ${v.table(database, TABLES.counts)} FINAL
        WHERE dim = 'video' AND grain = 'minute'
        GROUP BY video_id, m HAVING plays != 0 OR views != 0 OR watch != 0`,
  );
  return new Map(
    rows.map((r) => [`${r.video_id}|${Number(r.m) * 1000}`, [Number(r.plays), Number(r.views), Number(r.watch)]]),
  );
}

/** Relative error of each video-day unique viewer count, worst first. */
export async function uniquesError(ch: ClickHouseClient, database: string, truth: TruthReport): Promise<number> {
  const rows = await queryRows<{ video_id: string; day: string; n: string }>(
    ch,
    sql`SELECT video_id, toString(day) AS day, uniqCombinedMerge(viewers) AS n
        FROM ${v.table(database, TABLES.videoViewersDaily)} GROUP BY video_id, day`,
  );
  const got = new Map(rows.map((r) => [`${r.video_id}|${r.day}`, Number(r.n)]));
  let worst = 0;
  for (const t of truth.daily_uniques) {
    const g = got.get(`${t.video_id}|${t.day}`) ?? 0;
    worst = Math.max(worst, Math.abs(g - t.viewers) / t.viewers);
  }
  if (got.size !== truth.daily_uniques.length) worst = Math.max(worst, 1);
  return worst;
}

/** Worst absolute difference, in percentage points, of any retention point of any video. */
export async function retentionError(ch: ClickHouseClient, database: string, truth: TruthReport): Promise<number> {
  const rows = await queryRows<{ video_id: string; bucket: number; n: string }>(
    ch,
    sql`SELECT video_id, arrayJoin(covered) AS bucket, count() AS n
        FROM ${v.table(database, TABLES.sessions)} FINAL WHERE counted_view = 1 GROUP BY video_id, bucket`,
  );
  const views = await queryRows<{ video_id: string; n: string }>(
    ch,
    sql`SELECT video_id, count() AS n FROM ${v.table(database, TABLES.sessions)} FINAL WHERE counted_view = 1 GROUP BY video_id`,
  );
  const viewsBy = new Map(views.map((r) => [r.video_id, Number(r.n)]));
  const cover = new Map(rows.map((r) => [`${r.video_id}|${r.bucket}`, Number(r.n)]));
  let worst = 0;
  for (const t of truth.retention) {
    const n = viewsBy.get(t.video_id) ?? 0;
    for (let b = 0; b <= 100; b++) {
      const expected = t.views ? (100 * t.covering[b]!) / t.views : 0;
      const got = n ? (100 * (cover.get(`${t.video_id}|${b}`) ?? 0)) / n : 0;
      worst = Math.max(worst, Math.abs(expected - got));
    }
  }
  return worst;
}
