// A processor whose batch handler throws is restarted from its last checkpoint, and its counts
// still equal the generator's truth; one that throws at the same position again and again gives
// up: /readyz and /healthz answer 503 with state "failed", onFailed is called — and
// `viewpulse run processors` exits non-zero. Real Kafka, registry and ClickHouse.
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveProcessorHealth } from '../../runtime/start.js';
import { exec } from '../../lib/clickhouse/client.js';
import { sql, v } from '../../lib/clickhouse/sql.js';
import { createRegistry, processorMetrics } from '../../lib/metrics.js';
import type { ProcessorDefinition } from '../../processors/contract.js';
import { viewCounts } from '../../processors/view-counts/processor.js';
import { generateTraffic, type Traffic } from '../../generator/index.js';
import { pump } from '../../generator/run.js';
import { KafkaSink } from '../../generator/sinks.js';
import { TABLES } from '../../schemas/tables.js';
import type { PlayEvent } from '../../schemas/types.js';
import { spawnProcessor } from '../faults/processes.js';
import { clickhouseMinutes, truthMinutes } from './e2e-helpers.js';
import { seedAndPump } from '../../harness/dataset.js';
import { pipeline, playEventsRunner, waitForCommitted, type Pipeline } from '../../harness/pipeline.js';

// Kafka-direct traffic has no receive-time horizon: a fixed clock makes the data the same at any hour.
const NOW = Date.UTC(2026, 10, 30, 12, 0, 0);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let p: Pipeline;
let traffic: Traffic;

/** view-counts whose process() throws on the chosen records (after applying them), as a bug would. */
function throwing(
  name: string,
  shouldThrow: (partition: number, offset: number) => boolean,
): ProcessorDefinition<PlayEvent> {
  const inner = viewCounts();
  return {
    ...inner,
    name, // the checkpoint key: each case starts from its own

    create(partition, snapshot, catalog) {
      const processor = inner.create(partition, snapshot, catalog);
      return {
        process(record) {
          // After the record changed the state: the runner drops that state and restores the
          // checkpoint (view-counts would also drop the replayed event as a duplicate).
          const outcome = processor.process(record);
          if (shouldThrow(record.partition, record.offset)) throw new Error(`injected bug at ${record.offset}`);
          return outcome;
        },
        drain: () => processor.drain(),
        stateChanges: () => processor.stateChanges(),
        snapshot: () => processor.snapshot(),
        get watermark() {
          return processor.watermark;
        },
      };
    },
  };
}

function runner(
  definition: ProcessorDefinition<PlayEvent>,
  groupId: string,
  onFailed?: (err: Error) => void,
  metrics = processorMetrics(createRegistry(false)),
) {
  return playEventsRunner(p, definition, {
    groupId,
    onFailed,
    metrics,
    logLevel: 'silent',
    options: { flushIntervalMs: 200, checkpointIntervalMs: 300, restartBackoffMs: 100, maxRestarts: 3 },
  });
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await sleep(50);
  }
}

describe('processor supervision: restart after a crash, give up on a crash loop', () => {
  beforeAll(async () => {
    p = await pipeline('restart', 2);
    traffic = generateTraffic({ events: 6_000, seed: 31, videos: 60, creators: 12, now: NOW });
    await seedAndPump(p, traffic, { chunk: 1000 });
  }, 300_000);
  afterAll(() => p.cleanup());

  it('a thrown error in the batch handler restarts the consumer from the checkpoint; the counts equal the truth', async () => {
    // Throws once at offset 1500 of partition 0 and once at offset 900 of partition 1: half-applied
    // state is dropped and replayed from the checkpoint, so nothing is lost or counted twice.
    const thrown = new Set<string>();
    const definition = throwing('view-counts', (partition, offset) => {
      const at = `${partition}@${offset}`;
      if ((at !== '0@1500' && at !== '1@900') || thrown.has(at)) return false;
      thrown.add(at);
      return true;
    });
    const failures: Error[] = [];
    const registry = createRegistry(false);
    const metrics = processorMetrics(registry);
    const r = runner(definition, `${p.prefix}viewpulse-view-counts`, (err) => failures.push(err), metrics);
    await r.start();
    await waitForCommitted(p.kafka, `${p.prefix}viewpulse-view-counts`, p.topics.playEvents);
    expect(thrown).toEqual(new Set(['0@1500', '1@900']));
    expect(r.state).toBe('running');
    expect(failures).toEqual([]);
    const restarts = (await registry.getSingleMetric('viewpulse_processor_restarts_total')!.get()).values;
    expect(restarts.map((x) => x.value)).toEqual([2]);
    await r.stop();
    expect(await clickhouseMinutes(p.clickhouse, p.database)).toEqual(truthMinutes(traffic.truth()));
  });

  it('one that keeps crashing at the same position fails: /healthz and /readyz answer 503, onFailed is called', async () => {
    const failures: Error[] = [];
    const r = runner(
      throwing('crash-loop', (partition, offset) => partition === 0 && offset === 10),
      `${p.prefix}crash-loop`,
      (err) => failures.push(err),
    );
    const registry = createRegistry(false);
    let server: Server | undefined;
    try {
      await r.start();
      server = await serveProcessorHealth([r], registry, 0);
      const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
      const states = new Set<string>();
      await until('the runner gives up', async () => {
        const res = await fetch(`${base}/readyz`);
        const body = (await res.json()) as { processors: { state: string }[] };
        states.add(body.processors[0]!.state);
        return r.state === 'failed';
      });
      expect(states.has('restarting') || states.has('running')).toBe(true);
      expect(failures).toHaveLength(1);
      expect(failures[0]!.message).toContain('injected bug at 10');
      for (const path of ['/readyz', '/healthz']) {
        const res = await fetch(`${base}${path}`);
        expect(res.status, path).toBe(503);
        const body = (await res.json()) as { status: string; processors: { state: string; crashes: number }[] };
        expect(body.status).toBe('failed');
        expect(body.processors[0]).toMatchObject({ state: 'failed', crashes: 4 }); // maxRestarts 3, then gave up
      }
    } finally {
      await r.stop();
      await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    }
  });

  it('`viewpulse run processors` exits 1 when a processor keeps failing (here: its table is gone)', async () => {
    // A real, non-retriable failure: ClickHouse rejects every write to a table that does not exist.
    await exec(p.clickhouse, sql`DROP TABLE ${v.table(p.database, TABLES.watermarks)}`);
    // New records, so the processor (which has checkpointed everything before) has rows to write.
    const more = generateTraffic({ events: 500, seed: 32, videos: 60, creators: 12, now: NOW });
    const sink = new KafkaSink(p.kafka, p.registry, p.topics.playEvents, { chunk: 500 });
    await sink.connect();
    await pump(more, sink, { rate: 0 });
    const instance = spawnProcessor('view-counts', p.testConfig, {
      VIEWPULSE_PROCESSOR_RESTART_BACKOFF_MS: '50',
      VIEWPULSE_PROCESSOR_MAX_RESTARTS: '2',
    });
    const code = await Promise.race([instance.exited, sleep(120_000).then(() => 'timeout' as const)]);
    if (code === 'timeout') instance.child.kill('SIGKILL');
    expect(code, instance.output().slice(-2000)).toBe(1);
    expect(instance.output()).toContain('view-counts failed');
    expect(instance.output()).toContain('"msg":"consumer crashed; restarting it from the last checkpoint"');
  });
});
