// Elastic processors (issue 11): raw-events, view-counts, engagement and recommendations each
// run as 1, then 3, then 2 instances of their consumer group — separate `viewpulse run
// processors --only NAME` child processes — while generated records arrive over a 12-partition
// topic. Each change comes when the group has committed 30 % and 60 % of the records (3 %
// later for each next processor), with sessions and minute windows open across it; raw-events
// and engagement scale down with SIGTERM, view-counts and recommendations with SIGKILL.
// Checked (harness/elastic.ts): every rebalance settles with each partition owned once and no
// instance reporting the lag of a partition it lost; at the end each partition's lag gauge is
// on its owner's /metrics only, at 0, `viewpulse status --json` lists every partition owned by
// a live instance with lag 0, every SIGTERM stop exits 0, and ClickHouse equals the
// generator's truth exactly (harness/marathon.ts marathonChecks: the truth, exact engagement
// counts, co-view counts equal to a clean run's). bench/elastic.ts runs the same at 1,000,000.
//
//   VIEWPULSE_ELASTIC_EVENTS (default 120000), VIEWPULSE_ELASTIC_SECONDS (default 100: the
//   records arrive at EVENTS / SECONDS per second)
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateTraffic, type Traffic } from '../../generator/index.js';
import { projectRoot, stateDir } from '../../infra/paths.js';
import { exec } from '../../lib/clickhouse/client.js';
import { migrate } from '../../lib/clickhouse/migrations.js';
import { sql, v } from '../../lib/clickhouse/sql.js';
import { elasticRun } from '../../harness/elastic.js';
import { checkTable, deletePrefixedTopics } from '../../harness/marathon.js';
import { pipeline, type Pipeline } from '../../harness/pipeline.js';
import { kill9, type Instance } from '../../harness/processes.js';
import { testNow } from '../clock.js';

const EVENTS = Number(process.env.VIEWPULSE_ELASTIC_EVENTS ?? 120_000);
const SECONDS = Number(process.env.VIEWPULSE_ELASTIC_SECONDS ?? 100);
const PARTITIONS = 12;

let p: Pipeline;
let cleanDb: string;
let traffic: Traffic;
const live = new Set<Instance>();

describe(`elastic processors (${EVENTS} generated records, ${PARTITIONS} partitions, 1 → 3 → 2 instances)`, () => {
  beforeAll(async () => {
    p = await pipeline('elastic', PARTITIONS);
    cleanDb = `${p.database}_clean`;
    await migrate(p.clickhouse, cleanDb, join(projectRoot, 'schemas', 'clickhouse'));
    traffic = generateTraffic({ events: EVENTS, seed: 31, now: testNow() });
  }, 600_000);
  afterAll(async () => {
    // a failed test leaves no processor behind
    await Promise.all([...live].map((i) => kill9(i)));
    await exec(p.clickhouse, sql`DROP DATABASE IF EXISTS ${v.ident(cleanDb)}`);
    await deletePrefixedTopics(p);
    await p.cleanup();
  });

  it('every processor scaled 1 → 3 → 2 mid-window ends with exactly the truth, its lag on its owners at 0', async () => {
    const t0 = Date.now();
    const r = await elasticRun(p, traffic, cleanDb, {
      rate: Math.ceil(EVENTS / SECONDS),
      logDir: stateDir('logs', 'elastic'),
      live,
    });
    const changes = r.runs
      .map(
        (x) =>
          `${x.processor}: ${x.changes.map((c) => `${c.from}→${c.to} ${c.how} at ${c.at_s} s (${c.open_sessions} open sessions, settled ${c.settled_s} s)`).join(', ')}; ` +
          `${x.rebalances} rebalances, ${x.handovers} partition states handed over`,
      )
      .join('\n');
    console.log(
      `[elastic] ${r.records} records, ${PARTITIONS} partitions, pumped in ${r.pump_s} s, all caught up at ` +
        `${r.caught_up_s} s, ${((Date.now() - t0) / 1000).toFixed(0)} s with the clean run and the checks\n${changes}`,
    );
    console.log(`[elastic] checks:\n${checkTable(r.checks)}`);
    expect(r.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.got} (want ${c.want})`)).toEqual([]);
    // each processor went through both changes, and partitions moved with their state
    for (const x of r.runs) {
      expect(
        x.changes.map((c) => [c.from, c.to]),
        x.processor,
      ).toEqual([
        [1, 3],
        [3, 2],
      ]);
      expect(x.handovers, x.processor).toBeGreaterThan(0);
    }
  }, 900_000);
});
