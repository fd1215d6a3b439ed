// Dataset preparation, the one place that writes it: generated traffic (generator/), its catalog
// (straight into the videos table, or published to the compacted topic and loaded by the
// catalog processor) and its events (straight into Kafka, or through a real collector). Tests,
// benchmarks and tools (sql-compat) all prepare their data here.
import type { RunningCollector } from '../api/collector/server.js';
import { runCollector } from '../api/collector/server.js';
import { ClickHouseWriter } from '../lib/clickhouse/writer.js';
import type { ClickHouseClient } from '../lib/clickhouse/client.js';
import { waitForCommitted } from '../lib/kafka/topics-admin.js';
import { CatalogPublisher } from '../generator/catalog-publish.js';
import type { Delivery } from '../generator/faults.js';
import type { Traffic } from '../generator/index.js';
import { pump, type PumpOptions, type PumpResult } from '../generator/run.js';
import { CollectorSink, KafkaSink, type KafkaSinkOptions, type Sink } from '../generator/sinks.js';
import { runProcessors } from '../runtime/start.js';
import { TABLES } from '../schemas/tables.js';
import type { Pipeline } from './pipeline.js';

/** What the videos table needs of a catalog entry. */
export interface CatalogRow {
  video_id: string;
  creator_id: string;
  duration_ms: number;
}

/** The catalog rows of one or more generated traffics. */
export const catalogRows = (...traffics: Traffic[]): CatalogRow[] =>
  traffics.flatMap((t) =>
    t.catalog.videos.map((x) => ({
      video_id: x.video.video_id,
      creator_id: x.video.creator_id,
      duration_ms: x.video.duration_ms,
    })),
  );

/** Writes catalog rows straight into the videos table (what the catalog processor does). */
export async function seedCatalog(ch: ClickHouseClient, database: string, videos: CatalogRow[]): Promise<void> {
  await new ClickHouseWriter(ch, database).write({
    table: TABLES.videos,
    times: ['published_at'],
    rows: videos.map((x) => ({ ...x, title: x.video_id, published_at: 0, category: 'test', deleted: 0, version: 1 })),
  });
}

/**
 * Publishes the generated catalog to the videos topic and waits until the catalog processor
 * has committed it: one started here for the time it takes (the default), or, with
 * `runLoader: false`, one the caller runs (e.g. as a child process).
 */
export async function publishCatalog(
  p: Pipeline,
  traffic: Traffic,
  options: { runLoader?: boolean; timeoutMs?: number } = {},
): Promise<void> {
  const publisher = new CatalogPublisher(p.kafka, p.registry, p.topics.videos);
  await publisher.connect();
  await publisher.put(traffic.catalog.videos.map((x) => x.video));
  await publisher.disconnect();
  const loader =
    options.runLoader === false
      ? undefined
      : await runProcessors(['catalog'], { config: p.testConfig, metricsPort: -1 });
  try {
    await waitForCommitted(p.kafka, `${p.prefix}viewpulse-catalog`, p.topics.videos, options.timeoutMs);
  } finally {
    await loader?.stop();
  }
}

/** Every delivery of the traffic straight into the play-events topic (the generator's KafkaSink). */
export async function pumpIntoKafka(
  p: Pipeline,
  traffic: Traffic,
  options: KafkaSinkOptions & Partial<PumpOptions> = {},
): Promise<PumpResult & { sink: KafkaSink }> {
  const { chunk, maxInFlight, compression, ...pumpOptions } = options;
  const sink = new KafkaSink(p.kafka, p.registry, p.topics.playEvents, {
    ...(chunk !== undefined ? { chunk } : {}),
    ...(maxInFlight !== undefined ? { maxInFlight } : {}),
    ...(compression !== undefined ? { compression } : {}),
  });
  await sink.connect();
  const result = await pump(traffic, sink, { rate: 0, ...pumpOptions });
  return { ...result, sink };
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

/** Every delivery of the traffic through a real collector (started here, left running for the caller). */
export async function pumpThroughCollector(
  p: Pipeline,
  traffic: Traffic,
): Promise<{ sink: RecordingSink; collector: RunningCollector }> {
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
  return { sink, collector };
}

/**
 * The usual preparation: the traffic's catalog seeded into `databases` (default the
 * pipeline's own), then every delivery straight into Kafka.
 */
export async function seedAndPump(
  p: Pipeline,
  traffic: Traffic,
  options: KafkaSinkOptions & { databases?: string[] } = {},
): Promise<PumpResult & { sink: KafkaSink }> {
  const { databases = [p.database], ...sinkOptions } = options;
  for (const database of databases) await seedCatalog(p.clickhouse, database, catalogRows(traffic));
  return pumpIntoKafka(p, traffic, sinkOptions);
}
