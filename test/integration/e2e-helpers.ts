// End-to-end wiring shared by the pipeline and fault tests: catalog through the catalog
// processor, traffic through the real collector, and readers that compare ClickHouse with the
// generator's ground truth.
import type { Kafka } from 'kafkajs';
import { runCollector, type RunningCollector } from '../../api/collector/server.js';
import { AvroSerde } from '../../lib/kafka/serde.js';
import type { RegistryClient } from '../../lib/kafka/registry.js';
import { CatalogPublisher } from '../../generator/catalog-publish.js';
import { generateTraffic, type GenerateOptions, type Traffic, type TruthReport } from '../../generator/index.js';
import { pump } from '../../generator/run.js';
import { CollectorSink, type Sink } from '../../generator/sinks.js';
import type { Delivery } from '../../generator/faults.js';
import { playEventSchema } from '../../schemas/avro.js';
import { valueSubject } from '../../schemas/topics.js';
import type { PlayEvent } from '../../schemas/types.js';
import type { Pipeline } from './pipeline-helpers.js';
import { waitForCommitted } from './pipeline-helpers.js';
import { runProcessors, type RunningProcessors } from '../../runtime/start.js';
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

export { clickhouseMinutes, retentionError, truthMinutes, uniquesError } from '../../harness/truth-check.js';
