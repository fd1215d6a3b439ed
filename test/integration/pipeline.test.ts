// The whole pipeline against the generator's ground truth: generator (out-of-order, late,
// duplicate, malformed events, skewed clocks) → collector → Kafka → processors → ClickHouse.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../lib/clickhouse/client.js';
import { sql, v } from '../../lib/clickhouse/sql.js';
import { TABLES } from '../../schemas/tables.js';
import {
  clickhouseMinutes,
  retentionError,
  sendThroughCollector,
  startPipeline,
  topicEventIds,
  truthMinutes,
  uniquesError,
  waitForPipeline,
  type Sent,
} from './e2e-helpers.js';
import { pipeline, type Pipeline } from '../../harness/pipeline.js';

const EVENTS = Number(process.env.VIEWPULSE_E2E_EVENTS ?? 40_000);

let p: Pipeline;
let sent: Sent;

describe(`pipeline end to end (${EVENTS} generated records)`, () => {
  beforeAll(async () => {
    p = await pipeline('e2e');
    const r = await sendThroughCollector(p, {
      events: EVENTS,
      seed: 42,
      faults: { outOfOrder: 0.03, late: 0.01, duplicate: 0.02, malformed: 0.005 },
    });
    await r.collector.close();
    sent = r;
    const processors = await startPipeline(p);
    await waitForPipeline(p);
    await processors.stop();
  }, 600_000);
  afterAll(() => p.cleanup());

  it('the generator made the faults it was asked for', () => {
    const c = sent.truth.counts;
    expect(c.duplicates).toBeGreaterThan(0);
    expect(c.malformed).toBeGreaterThan(0);
    expect(c.late).toBeGreaterThan(0);
    expect(c.out_of_order).toBeGreaterThan(0);
    expect(c.skewed_client_events).toBeGreaterThan(0);
  });

  it('the collector accepted every valid event, rejected every malformed one with a reason', () => {
    const s = sent.sink.stats();
    expect(s.rejectedValid).toBe(0);
    expect(s.malformedAccepted).toBe(0);
    expect(s.failed).toBe(0);
    expect(s.rejectedMalformed).toBe(sent.truth.counts.malformed);
    expect(s.accepted).toBe(sent.truth.counts.events);
  });

  it('play-events holds exactly the accepted event ids: none lost, none twice', async () => {
    const ids = await topicEventIds(p.kafka, p.registry, p.topics.playEvents, sent.sink.validIds.size);
    expect(ids.size).toBe(sent.sink.validIds.size);
    expect([...ids.values()].every((n) => n === 1)).toBe(true);
    expect([...ids.keys()].every((id) => sent.sink.validIds.has(id))).toBe(true);
  });

  it('plays, views and watch time per video per minute equal the ground truth exactly', async () => {
    const got = await clickhouseMinutes(p.clickhouse, p.database);
    const want = truthMinutes(sent.truth);
    expect(got.size).toBe(want.size);
    expect(got).toEqual(want);
  });

  it('late events were applied, and recorded as late', async () => {
    const rows = await queryRows<{ processor: string; reason: string; applied: number; n: string }>(
      p.clickhouse,
      sql`SELECT processor, reason, applied, count() AS n FROM ${v.table(p.database, TABLES.lateEvents)} FINAL GROUP BY processor, reason, applied`,
    );
    expect(rows.filter((r) => r.applied === 0)).toEqual([]);
    expect(rows.find((r) => r.processor === 'view-counts' && r.reason === 'window_closed')).toBeDefined();
  });

  it('unique viewers per video per day are within 2 %', async () => {
    expect(await uniquesError(p.clickhouse, p.database, sent.truth)).toBeLessThanOrEqual(0.02);
  });

  it('retention curves are within 1 percentage point', async () => {
    expect(await retentionError(p.clickhouse, p.database, sent.truth)).toBeLessThanOrEqual(1);
  });

  it('play_events holds each accepted event once, and sessions count the same views', async () => {
    const [raw] = await queryRows<{ n: string; distinct: string }>(
      p.clickhouse,
      sql`SELECT count() AS n, uniqExact(event_id) AS distinct FROM ${v.table(p.database, TABLES.playEvents)} FINAL`,
    );
    expect(Number(raw!.n)).toBe(sent.truth.counts.events);
    expect(Number(raw!.distinct)).toBe(sent.truth.counts.events);
    const [views] = await queryRows<{ n: string }>(
      p.clickhouse,
      sql`SELECT count() AS n FROM ${v.table(p.database, TABLES.sessions)} FINAL WHERE counted_view = 1`,
    );
    expect(Number(views!.n)).toBe(sent.truth.totals.views);
  });
});
