// Starting stream processors against the real Kafka, registry and ClickHouse, with Prometheus
// metrics and a health endpoint (`viewpulse run processors`, tools, tests).
import { createServer, type Server } from 'node:http';
import { hostname } from 'node:os';
import { groupIdOf, PROCESSORS, type ProcessorName } from './registry.js';
import { CatalogCache } from './catalog-cache.js';
import { createClickHouse } from '../lib/clickhouse/client.js';
import { loadConfig, type Config } from '../lib/config.js';
import type { RuleParameters } from '../processors/parameters.js';
import { createKafka } from '../lib/kafka/client.js';
import { RegistryClient } from '../lib/kafka/registry.js';
import { healthReport, type HealthReport } from './processor-health.js';
import { ProcessorRunner, type RunnerHealth } from './runner.js';
import { AvroSerde } from '../lib/kafka/serde.js';
import { createLogger } from '../lib/logger.js';
import { createRegistry, processorMetrics, scrape } from '../lib/metrics.js';
import type { Registry } from 'prom-client';
import { topics, valueSubject } from '../schemas/topics.js';

export interface RunningProcessors {
  runners: ProcessorRunner<unknown>[];
  server: Server | undefined;
  /** The processors' Prometheus registry (what /metrics answers). */
  registry: Registry;
  stop(): Promise<void>;
}

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
     * VIEWPULSE_RULE_* variables); `viewpulse replay` passes others to rebuild under them.
     */
    rules?: RuleParameters;
  } = {},
): Promise<RunningProcessors> {
  const config = options.config ?? loadConfig();
  const logger = createLogger(config.logLevel);
  const registry = createRegistry();
  if (options.metricLabels) registry.setDefaultLabels(options.metricLabels);
  const metrics = processorMetrics(registry);
  // one client id per instance, so `viewpulse status` can say which instance owns which partition
  const kafka = createKafka(config.kafka, logger, `${config.kafka.clientId}-${hostname()}-${process.pid}`);
  const schemaRegistry = new RegistryClient(config.registry.url);
  const clickhouse = createClickHouse(config.clickhouse);
  const catalog = new CatalogCache(clickhouse, config.clickhouse.database);
  await catalog.loadAll();
  const names_ = topics(config.kafka.topicPrefix);
  const rules = options.rules ?? config.rules;
  const runners = names.map((name) => {
    const spec = PROCESSORS[name];
    const topic = names_[spec.inputTopic];
    return new ProcessorRunner<unknown>({
      kafka,
      clickhouse,
      database: config.clickhouse.database,
      definition: spec.definition(rules) as never,
      topic,
      dlqTopic: names_[spec.dlqTopic],
      serde: new AvroSerde(schemaRegistry, valueSubject(topic), spec.schema()),
      catalog,
      videoIdOf: spec.videoIdOf as never,
      logger,
      metrics,
      onFailed: (err) => options.onFailed?.(name, err),
      options: {
        groupId: groupIdOf(config.kafka.topicPrefix, name),
        sessionTimeoutMs: config.processors.sessionTimeoutMs,
        flushIntervalMs: config.processors.flushIntervalMs,
        checkpointIntervalMs: config.processors.checkpointIntervalMs,
        restartBackoffMs: config.processors.restartBackoffMs,
        maxRestarts: config.processors.maxRestarts,
        stuckAfterMs: config.processors.stuckAfterMs,
        stateStore: config.processors.stateStore,
        catalogHoldMs: config.processors.catalogHoldMs,
      },
    });
  });
  for (const r of runners) await r.start();

  let server: Server | undefined;
  if (options.metricsPort !== undefined && options.metricsPort >= 0) {
    server = await serveProcessorHealth(runners, registry, options.metricsPort);
    logger.info({ port: (server.address() as { port: number }).port }, 'processor metrics and health listening');
  }
  logger.info({ processors: names, rules }, 'processors running');

  return {
    runners,
    server,
    registry,
    async stop() {
      // Side by side: each flushes, checkpoints, commits and leaves its own group.
      await Promise.all(runners.map((r) => r.stop()));
      await clickhouse.close();
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
