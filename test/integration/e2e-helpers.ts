// End-to-end wiring shared by the pipeline and fault tests: the harness's dataset preparation
// (harness/dataset.ts) on the pinned test now, and readers that compare ClickHouse with the
// generator's ground truth.
import type { Kafka } from 'kafkajs';
import type { RunningCollector } from '../../api/collector/server.js';
import { AvroSerde } from '../../lib/kafka/serde.js';
import type { RegistryClient } from '../../lib/kafka/registry.js';
import { generateTraffic, type GenerateOptions, type Traffic, type TruthReport } from '../../generator/index.js';
import { playEventSchema } from '../../schemas/avro.js';
import { valueSubject } from '../../schemas/topics.js';
import type { PlayEvent } from '../../schemas/types.js';
import { publishCatalog, pumpThroughCollector, type RecordingSink } from '../../harness/dataset.js';
import type { Pipeline } from '../../harness/pipeline.js';
import { testNow } from '../clock.js';

export interface Sent {
  traffic: Traffic;
  truth: TruthReport;
  sink: RecordingSink;
}

/**
 * Generates traffic, loads its catalog through the catalog processor and sends all of it
 * through a real collector. Unless `options` say otherwise, the traffic ends before the pinned
 * test now (test/clock.ts), not the wall clock.
 */
export async function sendThroughCollector(
  p: Pipeline,
  options: GenerateOptions,
): Promise<Sent & { collector: RunningCollector }> {
  const traffic = generateTraffic({ now: testNow(), ...options });
  await publishCatalog(p, traffic);
  const { sink, collector } = await pumpThroughCollector(p, traffic);
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

export { PIPELINE, startPipeline, waitForPipeline } from '../../harness/pipeline.js';

export { clickhouseMinutes, retentionError, truthMinutes, uniquesError } from '../../harness/truth-check.js';
