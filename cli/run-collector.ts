// `viewpulse run collector`: the HTTP collector with the real Kafka producer behind it. This
// is the only place that connects the producer and opens the collector's port.
import { parsePort, stopOnSignal } from './foreground.js';
import type { Command } from 'commander';
import { buildCollectorApp, type EventSink } from '../api/collector/app.js';
import {
  COLLECTOR_ENV,
  collectorOptions,
  collectorOptionsFromEnv,
  type CollectorOptionsInput,
} from '../api/collector/options.js';
import { createMetricsRegistry } from '../api/metrics.js';
import { ConfigError, loadConfig, type Config } from '../lib/config.js';
import { createKafka } from '../lib/kafka/client.js';
import { AvroProducer } from '../lib/kafka/producer.js';
import { RegistryClient } from '../lib/kafka/registry.js';
import { createLogger, type Logger } from '../lib/logger.js';
import { playEventSchema } from '../schemas/avro.js';
import { topics } from '../schemas/topics.js';
import type { PlayEvent } from '../schemas/types.js';

export interface RunningCollector {
  url: string;
  close(): Promise<void>;
}

export interface RunCollectorOverrides {
  /** Interface to listen on (default 127.0.0.1). */
  host?: string;
  /** Overrides config.collector.port; 0 picks a free port. */
  port?: number;
  /** Overrides options read from the environment (tests: tiny rate limits, short timeouts). */
  options?: CollectorOptionsInput;
  logger?: Logger;
  /** Environment for the collector's own variables (default process.env). */
  env?: Record<string, string | undefined>;
}

/** After a failed send the collector reports not ready for this long (then it tries again). */
const UNHEALTHY_AFTER_FAILURE_MS = 5_000;

/** Connects the producer, builds the app and listens; `close()` drains requests, then the producer. */
export async function runCollector(config: Config, overrides: RunCollectorOverrides = {}): Promise<RunningCollector> {
  const options = collectorOptions(overrides.options, collectorOptionsFromEnv(overrides.env ?? process.env));
  const logger = overrides.logger ?? createLogger(config.logLevel, 'collector');
  const kafka = createKafka(config.kafka, logger);
  const producer = new AvroProducer<PlayEvent>(kafka, new RegistryClient(config.registry.url), {
    topic: topics(config.kafka.topicPrefix).playEvents,
    schema: playEventSchema(),
    key: (e) => e.viewer_id,
  });
  await producer.connect();

  let connected = true;
  let lastFailure = 0;
  let lastSuccess = 0;
  const sink: EventSink = {
    async send(events) {
      try {
        await producer.send(events);
        lastSuccess = Date.now();
      } catch (err) {
        lastFailure = Date.now();
        throw err;
      }
    },
  };
  const ready = (): boolean =>
    connected && (lastFailure <= lastSuccess || Date.now() - lastFailure > UNHEALTHY_AFTER_FAILURE_MS);

  const app = buildCollectorApp({
    sink,
    writeKeys: config.collector.writeKeys,
    options,
    logger,
    metrics: createMetricsRegistry({ defaultMetrics: true }),
    ready,
  });
  const host = overrides.host ?? '127.0.0.1';
  try {
    await app.listen({ host, port: overrides.port ?? config.collector.port });
  } catch (err) {
    await producer.disconnect();
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.collector.port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  logger.info({ url, topic: topics(config.kafka.topicPrefix).playEvents }, 'collector listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    close: () =>
      (closing ??= (async () => {
        await app.close();
        connected = false;
        await producer.disconnect();
        logger.info('collector stopped');
      })()),
  };
}

/** Adds `collector` to the `run` command. */
export function registerRunCollector(run: Command): void {
  run
    .command('collector')
    .description('run the HTTP collector: POST /v1/events → Avro → Kafka (play-events)')
    .option('--host <host>', 'interface to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (default VIEWPULSE_COLLECTOR_PORT, 3001)')
    .addHelpText(
      'after',
      [
        '',
        'Configuration (environment): VIEWPULSE_COLLECTOR_PORT, VIEWPULSE_WRITE_KEYS (comma-separated),',
        'VIEWPULSE_KAFKA_BROKERS, VIEWPULSE_REGISTRY_URL, VIEWPULSE_TOPIC_PREFIX, VIEWPULSE_LOG_LEVEL, and:',
        ...Object.entries(COLLECTOR_ENV).map(([k, v]) => `  ${k}: ${v}`),
        '',
        'Endpoints: POST /v1/events (header X-Write-Key), GET /healthz, GET /readyz, GET /metrics',
      ].join('\n'),
    )
    .action(async (opts: { host: string; port?: string }) => {
      try {
        const port = parsePort(opts.port);
        const collector = await runCollector(loadConfig(), { host: opts.host, port });
        console.error(`viewpulse collector listening on ${collector.url} (Ctrl-C stops it)`);
        await stopOnSignal(() => collector.close());
      } catch (err) {
        console.error(err instanceof ConfigError ? `viewpulse: ${err.message}` : err);
        process.exitCode = 1;
      }
    });
}
