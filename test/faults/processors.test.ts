// Faults against the real pipeline, with 150,000 generated records in Kafka: processors are
// killed with SIGKILL at random moments, run as two instances of which one stops midway,
// and keep going through a 30 s ClickHouse outage. The numbers must still equal the ground
// truth exactly.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clickhouse as clickhouseService } from '../../infra/clickhouse.js';
import { isAlive, runningPid } from '../../infra/process.js';
import { queryRows } from '../../lib/clickhouse/client.js';
import { sql, v } from '../../lib/clickhouse/sql.js';
import { TABLES } from '../../schemas/tables.js';
import { rng } from '../unit/processors/fixtures.js';
import {
  clickhouseMinutes,
  retentionError,
  sendThroughCollector,
  truthMinutes,
  type Sent,
} from '../integration/e2e-helpers.js';
import { pipeline, waitForCommitted, type Pipeline } from '../../harness/pipeline.js';
import { kill9, sleep, spawnProcessor, started, terminate } from './processes.js';

const EVENTS = Number(process.env.VIEWPULSE_FAULT_EVENTS ?? 150_000);

let p: Pipeline;
let sent: Sent;
const group = (name: string): string => `${p.prefix}viewpulse-${name}`;

describe(`faults (${EVENTS} generated records)`, () => {
  beforeAll(async () => {
    p = await pipeline('faults', 4);
    const r = await sendThroughCollector(p, { events: EVENTS, seed: 9 });
    await r.collector.close();
    sent = r;
  }, 600_000);
  afterAll(() => p.cleanup());

  it('view-counts killed with SIGKILL five times at random moments still counts exactly', async () => {
    const r = rng(5);
    let instance = spawnProcessor('view-counts', p.testConfig);
    for (let kill = 0; kill < 5; kill++) {
      await sleep(2_000 + r() * 3_000);
      await kill9(instance);
      instance = spawnProcessor('view-counts', p.testConfig);
    }
    await waitForCommitted(p.kafka, group('view-counts'), p.topics.playEvents, 400_000);
    // the last restart may still be starting when the earlier ones already committed everything
    await started(instance);
    expect(await terminate(instance)).toBe(0);
    const got = await clickhouseMinutes(p.clickhouse, p.database);
    expect(got).toEqual(truthMinutes(sent.truth));
  }, 600_000);

  it('engagement as two instances, one stopped midway, still counts every view once', async () => {
    const a = spawnProcessor('engagement', p.testConfig);
    const b = spawnProcessor('engagement', p.testConfig);
    await Promise.all([started(a), started(b)]);
    await sleep(4_000);
    expect(await terminate(a)).toBe(0);
    await waitForCommitted(p.kafka, group('engagement'), p.topics.playEvents, 400_000);
    expect(await terminate(b)).toBe(0);
    // both took part: each logged partitions it was assigned
    expect(a.output()).toMatch(/"msg":"assigned"/);
    expect(b.output()).toMatch(/"msg":"assigned"/);
    const [views] = await queryRows<{ n: string }>(
      p.clickhouse,
      sql`SELECT count() AS n FROM ${v.table(p.database, TABLES.sessions)} FINAL WHERE counted_view = 1`,
    );
    expect(Number(views!.n)).toBe(sent.truth.totals.views);
    expect(await retentionError(p.clickhouse, p.database, sent.truth)).toBeLessThanOrEqual(1);
  }, 600_000);

  it('raw-events rides out ClickHouse stopped for 30 s: pauses, resumes, loses nothing', async () => {
    const instance = spawnProcessor('raw-events', p.testConfig);
    // Pull the plug as soon as it is working.
    while (!instance.output().includes('partition state restored')) await sleep(50);
    // An abrupt outage (a graceful stop would wait for the running inserts to finish).
    const pid = runningPid('clickhouse');
    expect(pid, 'ClickHouse must be run by `services up` for this test').toBeDefined();
    process.kill(pid!, 'SIGKILL');
    while (isAlive(pid!)) await sleep(50);
    await sleep(30_000);
    await clickhouseService.start(() => undefined);
    await waitForCommitted(p.kafka, group('raw-events'), p.topics.playEvents, 300_000);
    expect(await terminate(instance)).toBe(0);
    expect(instance.output()).toMatch(/paused consumption/);
    expect(instance.output()).toMatch(/resumed/);
    const [raw] = await queryRows<{ n: string; distinct: string }>(
      p.clickhouse,
      sql`SELECT count() AS n, uniqExact(event_id) AS distinct FROM ${v.table(p.database, TABLES.playEvents)} FINAL`,
    );
    expect(Number(raw!.n)).toBe(sent.truth.counts.events);
    expect(Number(raw!.distinct)).toBe(sent.truth.counts.events);
  }, 600_000);
});
