// Starting the HTTP collector with the real Kafka producer behind it (`viewpulse run collector`,
// benchmarks, tests). This is the only place that connects the producer and opens the collector's port.
import { buildCollectorApp, type EventSink } from './app.js';
import { listening, type Listening } from '../listening.js';
import { collectorOptions, collectorOptionsFromEnv, type CollectorOptionsInput } from './options.js';
import { createRegistry } from '../../lib/metrics.js';
import { type Config } from '../../lib/config.js';
import { createKafka } from '../../lib/kafka/client.js';
import { AvroProducer } from '../../lib/kafka/producer.js';
import { RegistryClient } from '../../lib/kafka/registry.js';
import { createLogger, type Logger } from '../../lib/logger.js';
import { playEventSchema } from '../../schemas/avro.js';
import { topics } from '../../schemas/topics.js';
import type { PlayEvent } from '../../schemas/types.js';

export type RunningCollector = Listening;

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
    compression: config.kafka.compression,
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
    metrics: createRegistry(),
    ready,
  });
  const host = overrides.host ?? '127.0.0.1';
  try {
    await app.listen({ host, port: overrides.port ?? config.collector.port });
  } catch (err) {
    await producer.disconnect();
    throw err;
  }
  const running = listening(app, host, config.collector.port, async () => {
    await app.close();
    connected = false;
    await producer.disconnect();
    logger.info('collector stopped');
  });
  logger.info({ url: running.url, topic: topics(config.kafka.topicPrefix).playEvents }, 'collector listening');
  return running;
}
