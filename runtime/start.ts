// Starting stream processors against the real Kafka, registry and ClickHouse, with Prometheus
// metrics and a health endpoint (`viewpulse run processors`, tools, tests).
import { createServer, type Server } from 'node:http';
import { hostname } from 'node:os';
import { groupIdOf, PROCESSORS, type ProcessorName } from './registry.js';
import { CatalogCache } from './catalog-cache.js';
import { createClickHouse, type ClickHouseClient } from '../lib/clickhouse/client.js';
import { loadConfig, type Config } from '../lib/config.js';
import { ruleParameters, type RuleParameters } from '../processors/parameters.js';
import { createKafka } from '../lib/kafka/client.js';
import { RegistryClient } from '../lib/kafka/registry.js';
import { healthReport, type HealthReport } from './processor-health.js';
import { ProcessorRunner, type RunnerHealth } from './runner.js';
import { AvroSerde } from '../lib/kafka/serde.js';
import { createLogger, type Logger } from '../lib/logger.js';
import type { Kafka } from 'kafkajs';
import { currentGenerations, type Generation } from './generations.js';
import { ProcessorSlot } from './processor-slot.js';
import { createRegistry, processorMetrics, scrape } from '../lib/metrics.js';
import type { Registry } from 'prom-client';
import { topics, valueSubject } from '../schemas/topics.js';

export interface RunningProcessors {
  /** One per processor: its runner, across replay handovers (runtime/processor-slot.ts). */
  runners: ProcessorSlot[];
  server: Server | undefined;
  /** The processors' Prometheus registry (what /metrics answers). */
  registry: Registry;
  stop(): Promise<void>;
}

/** What every runner of a process shares: clients, catalog, metrics; and how to make one. */
export interface ProcessorRuntime {
  kafka: Kafka;
  clickhouse: ClickHouseClient;
  registry: Registry;
  logger: Logger;
  /**
   * A runner of `name`: as `groupId` (default its own group), writing into `database` (default
   * the configured one; the catalog is always read from there), under `rules` (default config.rules).
   */
  createRunner(
    name: ProcessorName,
    o?: {
      groupId?: string;
      database?: string;
      rules?: RuleParameters;
      stopAt?: ReadonlyMap<number, number>;
      mayJoin?: () => Promise<boolean>;
      /** false: dead letters become rows only, not records on the dead-letter topic again (a replay) */
      publishDeadLetters?: boolean;
      onFailed?: (err: Error) => void;
    },
  ): ProcessorRunner<unknown>;
  close(): Promise<void>;
}

export async function processorRuntime(
  config: Config,
  logger: Logger,
  o: { metricLabels?: Record<string, string> } = {},
): Promise<ProcessorRuntime> {
  const registry = createRegistry();
  if (o.metricLabels) registry.setDefaultLabels(o.metricLabels);
  const metrics = processorMetrics(registry);
  // one client id per instance, so `viewpulse status` can say which instance owns which partition
  const kafka = createKafka(config.kafka, logger, `${config.kafka.clientId}-${hostname()}-${process.pid}`);
  const schemaRegistry = new RegistryClient(config.registry.url);
  const clickhouse = createClickHouse(config.clickhouse);
  const catalog = new CatalogCache(clickhouse, config.clickhouse.database);
  await catalog.loadAll();
  const names = topics(config.kafka.topicPrefix);
  return {
    kafka,
    clickhouse,
    registry,
    logger,
    createRunner(name, r = {}) {
      const spec = PROCESSORS[name];
      const topic = names[spec.inputTopic];
      return new ProcessorRunner<unknown>({
        kafka,
        clickhouse,
        database: r.database ?? config.clickhouse.database,
        definition: spec.definition(r.rules ?? config.rules) as never,
        topic,
        dlqTopic: r.publishDeadLetters === false ? null : names[spec.dlqTopic],
        serde: new AvroSerde(schemaRegistry, valueSubject(topic), spec.schema()),
        catalog,
        videoIdOf: spec.videoIdOf as never,
        logger,
        metrics,
        onFailed: r.onFailed,
        ...(r.mayJoin && { mayJoin: r.mayJoin }),
        options: {
          groupId: r.groupId ?? groupIdOf(config.kafka.topicPrefix, name),
          sessionTimeoutMs: config.processors.sessionTimeoutMs,
          flushIntervalMs: config.processors.flushIntervalMs,
          checkpointIntervalMs: config.processors.checkpointIntervalMs,
          restartBackoffMs: config.processors.restartBackoffMs,
          maxRestarts: config.processors.maxRestarts,
          stuckAfterMs: config.processors.stuckAfterMs,
          stateStore: config.processors.stateStore,
          catalogHoldMs: config.processors.catalogHoldMs,
          ...(r.stopAt && { stopAt: r.stopAt }),
        },
      });
    },
    close: () => clickhouse.close(),
  };
}

/** How often a running processor looks for a replay handing it over (processor_generations). */
const GENERATION_POLL_MS = 1_000;

export async function runProcessors(
  names: readonly ProcessorName[],
  options: {
    config?: Config;
    metricsPort?: number;
    /** A processor gave up after repeated crashes at one position (default: only logged). */
    onFailed?: (processor: string, err: Error) => void;
    /** Labels on every metric of this process (a worker of `run processors --workers` has `worker`). */
    metricLabels?: Record<string, string>;
    /**
     * The rule parameters every processor runs with (default: config.rules, from the
     * VIEWPULSE_RULE_* variables) — unless a replay rebuilt it under others (its generation's).
     */
    rules?: RuleParameters;
  } = {},
): Promise<RunningProcessors> {
  const config = options.config ?? loadConfig();
  const logger = createLogger(config.logLevel);
  const rt = await processorRuntime(config, logger, options.metricLabels ? { metricLabels: options.metricLabels } : {});
  const { clickhouse, registry } = rt;
  const database = config.clickhouse.database;
  const rules = options.rules ?? config.rules;
  const generations = async (): Promise<Map<string, Generation>> => currentGenerations(clickhouse, database);
  const slots = names.map(
    (name) =>
      new ProcessorSlot(
        name,
        (g) => {
          const built = g?.rules ? ruleParameters(g.rules) : rules;
          if (g?.rules && JSON.stringify(built) !== JSON.stringify(rules)) {
            logger.warn(
              { processor: name, rules: built, configured: rules },
              'running with the rule parameters its tables were rebuilt with (viewpulse replay), not the configured ones',
            );
          }
          return rt.createRunner(name, {
            ...(g && { groupId: g.groupId }),
            rules: built,
            onFailed: (err) => options.onFailed?.(name, err),
            // before every join: not while a replay drains this processor, nor once it moved on
            mayJoin: async () => {
              const now = (await generations().catch(() => undefined))?.get(name);
              return now === undefined || (now.state === 'active' && now.generation <= (g?.generation ?? 0));
            },
          });
        },
        logger,
      ),
  );
  let polling = false;
  const watcher = setInterval(() => {
    if (polling) return;
    polling = true;
    generations()
      .then((gens) => Promise.all(slots.map((s) => (gens.has(s.name) ? s.observe(gens.get(s.name)!) : undefined))))
      .catch((err: Error) => logger.debug({ err: err.message }, 'could not read processor generations'))
      .finally(() => (polling = false));
  }, GENERATION_POLL_MS);
  watcher.unref();
  const first = await generations().catch((err: Error) => {
    // not migrated yet (no processor_generations): every processor runs as its default group
    logger.warn({ err: err.message }, 'could not read processor generations; run `viewpulse migrate`');
    return new Map<string, Generation>();
  });
  for (const s of slots) await s.start(first.get(s.name));

  let server: Server | undefined;
  if (options.metricsPort !== undefined && options.metricsPort >= 0) {
    server = await serveProcessorHealth(slots, registry, options.metricsPort);
    logger.info({ port: (server.address() as { port: number }).port }, 'processor metrics and health listening');
  }
  logger.info({ processors: names, rules }, 'processors running');

  return {
    runners: slots,
    server,
    registry,
    async stop() {
      clearInterval(watcher);
      // Side by side: each flushes, checkpoints, commits and leaves its own group.
      await Promise.all(slots.map((s) => s.stop()));
      await rt.close();
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
      logger.info({ processors: names }, 'processors stopped');
    },
  };
}

/**
 * `/metrics` (Prometheus), `/healthz` (200 unless a processor failed or is stuck) and `/readyz`
 * (200 only while every processor runs), each answering the report of processor-health.ts.
 */
export async function serveProcessorHealth(
  runners: readonly { health(): RunnerHealth }[],
  registry: Registry,
  port: number,
): Promise<Server> {
  return serveHealth(port, {
    report: async () => healthReport(runners.map((r) => r.health())),
    metrics: () => scrape(registry),
  });
}

/** The health server over any source of reports and metrics (one process, or the workers' parent). */
export async function serveHealth(
  port: number,
  source: {
    report(): Promise<HealthReport>;
    metrics(): Promise<{ contentType: string; body: string }>;
  },
): Promise<Server> {
  const server = createServer((req, res) => {
    const fail = (err: Error): void => {
      res.writeHead(500, { 'content-type': 'application/problem+json' });
      res.end(
        JSON.stringify({ type: 'about:blank', title: 'Internal Server Error', status: 500, detail: err.message }),
      );
    };
    if (req.url === '/metrics') {
      void source.metrics().then(({ contentType, body }) => {
        res.writeHead(200, { 'content-type': contentType });
        res.end(body);
      }, fail);
    } else if (req.url === '/healthz' || req.url === '/readyz') {
      const path = req.url;
      void source.report().then((report) => {
        const good = path === '/healthz' ? report.live : report.ready;
        res.writeHead(good ? 200 : 503, { 'content-type': 'application/json' });
        res.end(JSON.stringify(report));
      }, fail);
    } else {
      res.writeHead(404, { 'content-type': 'application/problem+json' });
      res.end(JSON.stringify({ type: 'about:blank', title: 'Not Found', status: 404 }));
    }
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return server;
}
