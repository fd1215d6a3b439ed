// The catalog race, end to end (docs/semantics.md, "The catalog"): every play event is in
// Kafka, and view-counts and engagement are running, before the catalog knows any video. They
// hold their partitions instead of counting from "unknown", and once the catalog arrives they
// go on: views (short videos have a threshold under 30 s), retention, completion and percent
// viewed equal the generator's truth exactly, as if the catalog had been there first.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateTraffic } from '../../generator/index.js';
import { catalogRows, pumpIntoKafka, seedCatalog } from '../../harness/dataset.js';
import { pipeline, playEventsRunner, waitForCommitted, type Pipeline } from '../../harness/pipeline.js';
import { checkAgainstTruth, retentionError } from '../../harness/truth-check.js';
import { queryRows } from '../../lib/clickhouse/client.js';
import { sql, v } from '../../lib/clickhouse/sql.js';
import { engagement } from '../../processors/engagement/processor.js';
import { viewCounts } from '../../processors/view-counts/processor.js';
import type { ProcessorRunner } from '../../runtime/runner.js';
import { TABLES } from '../../schemas/tables.js';
import type { PlayEvent } from '../../schemas/types.js';
import { testNow } from '../clock.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let p: Pipeline;
const runners: ProcessorRunner<PlayEvent>[] = [];

describe('events first, catalog later', () => {
  const traffic = generateTraffic({ events: 20_000, seed: 31, now: testNow(), faults: { malformed: 0 } });

  beforeAll(async () => {
    p = await pipeline('catalog-race', 3);
  });
  afterAll(async () => {
    for (const r of runners) await r.stop().catch(() => undefined);
    await p?.cleanup();
  });

  it('holds the events until the catalog knows their videos, then counts them exactly', async () => {
    await pumpIntoKafka(p, traffic);
    for (const [name, def] of [
      ['view-counts', viewCounts()],
      ['engagement', engagement()],
    ] as const) {
      const r = playEventsRunner(p, def, {
        groupId: `${p.prefix}viewpulse-${name}`,
        options: { flushIntervalMs: 200, checkpointIntervalMs: 500 },
      });
      runners.push(r);
      await r.start();
    }
    // Nothing is counted while the catalog does not know the videos: the partitions wait.
    await sleep(4_000);
    const [early] = await queryRows<{ n: string }>(
      p.clickhouse,
      sql`SELECT count() AS n FROM ${v.table(p.database, TABLES.sessions)} FINAL`,
    );
    expect(Number(early!.n)).toBe(0);

    await seedCatalog(p.clickhouse, p.database, catalogRows(traffic));
    for (const name of ['view-counts', 'engagement'])
      await waitForCommitted(p.kafka, `${p.prefix}viewpulse-${name}`, p.topics.playEvents, 120_000);
    const truth = traffic.truth();
    let failed: string[] = ['not checked yet'];
    for (let i = 0; i < 60 && failed.length; i++) {
      await sleep(1_000);
      const checks = await checkAgainstTruth(p.clickhouse, p.database, truth);
      failed = checks
        .filter((c) => !c.ok && !c.name.startsWith('raw-events') && !c.name.startsWith('recommendations'))
        .map((c) => `${c.name}: want ${c.want}, got ${c.got}`);
    }
    expect(failed).toEqual([]);
    expect(await retentionError(p.clickhouse, p.database, truth)).toBeLessThanOrEqual(1);
    // no counted view of a video with a length lacks its retention coverage
    const [empty] = await queryRows<{ n: string }>(
      p.clickhouse,
      sql`SELECT count() AS n FROM ${v.table(p.database, TABLES.sessions)} FINAL
          WHERE counted_view = 1 AND duration_ms > 0 AND empty(covered)`,
    );
    expect(Number(empty!.n)).toBe(0);
  }, 240_000);
});
