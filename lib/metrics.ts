// Prometheus metrics (prom-client). Each process has one registry; components register
// their metrics on it with a `processor` (or `route`) label.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export function createRegistry(defaults = true): Registry {
  const registry = new Registry();
  if (defaults) collectDefaultMetrics({ register: registry, prefix: 'viewpulse_' });
  return registry;
}

/** The Prometheus text exposition of a registry: what every /metrics answers. */
export async function scrape(registry: Registry): Promise<{ contentType: string; body: string }> {
  return { contentType: registry.contentType, body: await registry.metrics() };
}

export interface ProcessorMetrics {
  records: Counter<'processor' | 'outcome'>;
  deadLetters: Counter<'processor' | 'code'>;
  lateEvents: Counter<'processor' | 'applied'>;
  consumerLag: Gauge<'processor' | 'partition'>;
  watermarkDelay: Gauge<'processor' | 'partition'>;
  catalogHolds: Counter<'processor'>;
  catalogMisses: Counter<'processor'>;
  stateBytes: Counter<'processor'>;
  restoreSeconds: Gauge<'processor'>;
  batchSize: Histogram<'processor'>;
  drainRows: Histogram<'processor'>;
  sinkLatency: Histogram<'processor' | 'table'>;
  sinkRetries: Counter<'processor' | 'table'>;
  paused: Gauge<'processor'>;
  checkpoints: Counter<'processor'>;
  up: Gauge<'processor'>;
  restarts: Counter<'processor'>;
}

export function processorMetrics(registry: Registry): ProcessorMetrics {
  const existing = registry.getSingleMetric('viewpulse_processor_records_total');
  if (existing) return (registry as unknown as { __vp?: ProcessorMetrics }).__vp!;
  const m: ProcessorMetrics = {
    records: new Counter({
      name: 'viewpulse_processor_records_total',
      help: 'Input records by outcome (ok, drop:reason, dlq:reason)',
      labelNames: ['processor', 'outcome'],
      registers: [registry],
    }),
    deadLetters: new Counter({
      name: 'viewpulse_processor_dead_letters_total',
      help: 'Records sent to the dead-letter topic',
      labelNames: ['processor', 'code'],
      registers: [registry],
    }),
    lateEvents: new Counter({
      name: 'viewpulse_processor_late_events_total',
      help: 'Events that arrived after their window closed',
      labelNames: ['processor', 'applied'],
      registers: [registry],
    }),
    consumerLag: new Gauge({
      name: 'viewpulse_processor_consumer_lag',
      help: 'High watermark minus next offset, per partition',
      labelNames: ['processor', 'partition'],
      registers: [registry],
    }),
    watermarkDelay: new Gauge({
      name: 'viewpulse_processor_watermark_delay_seconds',
      help: 'Wall clock minus event-time watermark',
      labelNames: ['processor', 'partition'],
      registers: [registry],
    }),
    catalogHolds: new Counter({
      name: 'viewpulse_processor_catalog_holds_total',
      help: 'Times a partition waited for the catalog to learn a record\'s video (docs/semantics.md, "The catalog")',
      labelNames: ['processor'],
      registers: [registry],
    }),
    catalogMisses: new Counter({
      name: 'viewpulse_processor_catalog_misses_total',
      help: 'Videos still unknown to the catalog after the hold, applied as "not in the catalog"',
      labelNames: ['processor'],
      registers: [registry],
    }),
    restoreSeconds: new Gauge({
      name: 'viewpulse_processor_restore_seconds',
      help: 'How long the last restore took: the state of the partitions restored together (in parallel) read from the store and their processors rebuilt',
      labelNames: ['processor'],
      registers: [registry],
    }),
    stateBytes: new Counter({
      name: 'viewpulse_processor_state_bytes_total',
      help: 'Bytes of state written at checkpoints (keys and JSON values of the changes)',
      labelNames: ['processor'],
      registers: [registry],
    }),
    batchSize: new Histogram({
      name: 'viewpulse_processor_batch_size',
      help: 'Records per Kafka batch',
      labelNames: ['processor'],
      buckets: [1, 10, 100, 500, 1000, 5000, 20000],
      registers: [registry],
    }),
    drainRows: new Histogram({
      name: 'viewpulse_processor_drain_rows',
      help: "Rows one drain (a partition's output since its last drain, taken at a flush) produced, all tables together",
      labelNames: ['processor'],
      buckets: [10, 100, 1_000, 10_000, 50_000, 125_000, 250_000, 1_000_000],
      registers: [registry],
    }),
    sinkLatency: new Histogram({
      name: 'viewpulse_processor_sink_seconds',
      help: 'ClickHouse insert latency',
      labelNames: ['processor', 'table'],
      buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    sinkRetries: new Counter({
      name: 'viewpulse_processor_sink_retries_total',
      help: 'ClickHouse insert retries',
      labelNames: ['processor', 'table'],
      registers: [registry],
    }),
    paused: new Gauge({
      name: 'viewpulse_processor_paused',
      help: '1 while consumption is paused for backpressure',
      labelNames: ['processor'],
      registers: [registry],
    }),
    checkpoints: new Counter({
      name: 'viewpulse_processor_checkpoints_total',
      help: 'Checkpoints written (state + offsets)',
      labelNames: ['processor'],
      registers: [registry],
    }),
    up: new Gauge({
      name: 'viewpulse_processor_up',
      help: '1 while the processor consumes; 0 while starting, restarting, failed or stopped',
      labelNames: ['processor'],
      registers: [registry],
    }),
    restarts: new Counter({
      name: 'viewpulse_processor_restarts_total',
      help: 'Consumer crashes, each followed by a restart (unless the processor gave up)',
      labelNames: ['processor'],
      registers: [registry],
    }),
  };
  (registry as unknown as { __vp?: ProcessorMetrics }).__vp = m;
  return m;
}
