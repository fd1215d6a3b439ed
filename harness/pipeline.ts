// Wiring for pipeline tests and benchmarks: an isolated topic prefix and ClickHouse database per
// test file (or a configured one), migrated and with schemas published, plus helpers to run the
// processors and wait for them to catch up.
import { join } from 'node:path';
import { migrate } from '../lib/clickhouse/migrations.js';
import { migrateConfigured } from '../lib/clickhouse/migrations-cluster.js';
import { createClickHouse, exec, queryRows, type ClickHouseClient } from '../lib/clickhouse/client.js';
import { sql, v } from '../lib/clickhouse/sql.js';
import type { Config } from '../lib/config.js';
import { createKafka } from '../lib/kafka/client.js';
import { RegistryClient } from '../lib/kafka/registry.js';
import { runProcessors, type RunningProcessors } from '../runtime/start.js';
import { groupIdOf, type ProcessorName } from '../runtime/registry.js';
import { publishSchemas } from '../lib/kafka/publish-schemas.js';
import { ensureTopics, waitForCommitted } from '../lib/kafka/topics-admin.js';
import { projectRoot } from '../infra/paths.js';
import { TABLES } from '../schemas/tables.js';
import { topics, valueSubject } from '../schemas/topics.js';
import { playEventSchema } from '../schemas/avro.js';
import type { PlayEvent } from '../schemas/types.js';
import { AvroSerde } from '../lib/kafka/serde.js';
import { createLogger } from '../lib/logger.js';
import { createRegistry, processorMetrics, type ProcessorMetrics } from '../lib/metrics.js';
import type { ProcessorDefinition } from '../processors/contract.js';
import { CatalogCache } from '../runtime/catalog-cache.js';
import { ProcessorRunner, type RunnerOptions } from '../runtime/runner.js';
import { realServices, type RealServices } from './services.js';

export interface Pipeline extends RealServices {
  /** the configuration a processor or collector of this test uses */
  testConfig: Config;
  topics: ReturnType<typeof topics>;
  cleanup(): Promise<void>;
}

/** A fresh, isolated pipeline for one test file (or benchmark): topics, schemas, tables. */
export async function pipeline(name: string, partitions = 4): Promise<Pipeline> {
  const s = realServices(name);
  const testConfig: Config = {
    ...s.config,
    kafka: { ...s.config.kafka, topicPrefix: s.prefix, playEventPartitions: partitions },
    clickhouse: { ...s.config.clickhouse, database: s.database },
  };
  return setUpPipeline(pipelineOf(s, testConfig), partitions);
}

/** The pipeline a configuration names (its topic prefix and database), with clients of its own. */
export function pipelineFor(config: Config): Pipeline {
  const s: RealServices = {
    config,
    kafka: createKafka(config.kafka),
    registry: new RegistryClient(config.registry.url),
    clickhouse: createClickHouse(config.clickhouse, 'default'),
    prefix: config.kafka.topicPrefix,
    database: config.clickhouse.database,
  };
  return pipelineOf(s, config);
}

function pipelineOf(s: RealServices, testConfig: Config): Pipeline {
  const t = topics(s.prefix);
  return {
    ...s,
    testConfig,
    topics: t,
    async cleanup() {
      await exec(s.clickhouse, sql`DROP DATABASE IF EXISTS ${v.ident(s.database)}`);
      const admin = s.kafka.admin();
      await admin.connect();
      await admin.deleteTopics({ topics: Object.values(t) }).catch(() => undefined);
      const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(s.prefix));
      if (groups.length) await admin.deleteGroups(groups).catch(() => undefined);
      await admin.disconnect();
      await s.clickhouse.close();
    },
  };
}

/** Creates the pipeline's topics, publishes the schemas and migrates its database. */
export async function setUpPipeline(
  p: Pipeline,
  partitions = p.testConfig.kafka.playEventPartitions,
): Promise<Pipeline> {
  await ensureTopics(p.kafka, p.prefix, partitions);
  await publishSchemas(p.registry, p.prefix);
  const dir = join(projectRoot, 'schemas', 'clickhouse');
  // a cluster: replicated tables on every replica (lib/clickhouse/migrations-cluster.ts)
  if (p.testConfig.clickhouse.cluster) await migrateConfigured(p.testConfig.clickhouse, p.database, dir);
  else await migrate(p.clickhouse, p.database, dir);
  return p;
}

/** The processors that read play-events and write the counts, sessions and raw events. */
export const PIPELINE = ['view-counts', 'engagement', 'raw-events'] as const;

export async function startPipeline(
  p: Pipeline,
  names: readonly ProcessorName[] = PIPELINE,
): Promise<RunningProcessors> {
  return runProcessors([...names], { config: p.testConfig, metricsPort: -1 });
}

/** Waits until every named processor's group committed the whole play-events topic. */
export async function waitForPipeline(
  p: Pipeline,
  timeoutMs = 300_000,
  names: readonly ProcessorName[] = PIPELINE,
): Promise<void> {
  for (const name of names) await waitForCommitted(p.kafka, groupIdOf(p.prefix, name), p.topics.playEvents, timeoutMs);
}

/** Starts the named processors, waits until they consumed the whole topic, stops them. */
export async function runToEnd(p: Pipeline, names: readonly ProcessorName[], timeoutMs = 300_000): Promise<void> {
  const running = await startPipeline(p, names);
  try {
    await waitForPipeline(p, timeoutMs, names);
  } finally {
    await running.stop();
  }
}

export { endOffsets, waitForCommitted } from '../lib/kafka/topics-admin.js';

export interface CountCell {
  plays: number;
  views: number;
  watchMs: number;
}

/** video → minute → counts, as an analyst reads them (FINAL, summed over partitions). */
export async function readMinuteCounts(
  ch: ClickHouseClient,
  database: string,
): Promise<Map<string, Map<number, CountCell>>> {
  const rows = await queryRows<{ id: string; w: number; plays: string; views: string; watch: string }>(
    ch,
    sql`SELECT id, toUInt32(window_start) AS w, sum(plays) AS plays, sum(views) AS views, sum(watch_ms) AS watch
        FROM ${v.table(database, TABLES.counts)} FINAL
        WHERE dim = 'video' AND grain = 'minute'
        GROUP BY id, w HAVING plays != 0 OR views != 0 OR watch != 0`,
  );
  const out = new Map<string, Map<number, CountCell>>();
  for (const r of rows) {
    const m = out.get(r.id) ?? new Map<number, CountCell>();
    m.set(Number(r.w) * 1000, { plays: Number(r.plays), views: Number(r.views), watchMs: Number(r.watch) });
    out.set(r.id, m);
  }
  return out;
}

/**
 * One play-events processor on the real Kafka runtime in this process, for tests that drive a
 * runner directly (crash it, abandon it, run a second one beside it).
 */
export function playEventsRunner(
  p: Pipeline,
  definition: ProcessorDefinition<PlayEvent>,
  o: {
    groupId: string;
    /** Where it writes and reads its catalog; default the pipeline's database. */
    database?: string;
    options?: Partial<RunnerOptions>;
    logLevel?: string;
    metrics?: ProcessorMetrics;
    onFailed?: (err: Error) => void;
  },
): ProcessorRunner<PlayEvent> {
  const database = o.database ?? p.database;
  return new ProcessorRunner<PlayEvent>({
    kafka: p.kafka,
    clickhouse: p.clickhouse,
    database,
    definition,
    topic: p.topics.playEvents,
    dlqTopic: p.topics.playEventsDlq,
    serde: new AvroSerde<PlayEvent>(p.registry, valueSubject(p.topics.playEvents), playEventSchema()),
    catalog: new CatalogCache(p.clickhouse, database),
    videoIdOf: (e) => e.video_id,
    logger: createLogger(o.logLevel ?? 'warn'),
    metrics: o.metrics ?? processorMetrics(createRegistry(false)),
    onFailed: o.onFailed,
    options: { groupId: o.groupId, ...o.options },
  });
}
