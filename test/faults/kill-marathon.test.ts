// The kill marathon (issue 9): each play-events processor — raw-events, view-counts,
// engagement, recommendations — runs as its own child process and is killed with SIGKILL at
// random moments, KILLS times, restarted each time; all four at once, over one topic of
// generated records that arrive live for as long as the kills go on (so there is always work
// under way, whatever this machine's speed) and at full speed after them. Each kill comes a
// random 0.1–3 s (log-uniform: half of them within 0.5 s) after the new instance was assigned
// its n partitions and restored a random k = 0..n of them (each on its first batch, from its
// checkpoint): while partitions are restored, mid-batch (the backlog of the downtime, then live
// records) and mid-checkpoint (one every second); every third kill only once that instance has
// checkpointed, so rows written past a checkpoint are replayed often on a slow machine too. Then the last instance runs to the end and
// stops cleanly, and ClickHouse must equal the generator's truth exactly (harness/truth-check.ts,
// plus exact session, watch-time and retention-coverage counts), and the recommendations' co-view
// counts those of a clean run over the same records into another database.
//
// The records go straight into Kafka with the catalog seeded into ClickHouse (harness/dataset.ts):
// the collector is not under test here (the processors read the same Kafka records either way;
// test/faults/processors.test.ts covers that path), and the paced pump is what keeps every kill
// mid-run. Children's logs: .viewpulse/logs/kill-marathon/. The marathon itself, the checks,
// the clean run and the pacer are harness/marathon.ts's, shared with bench/kill-marathon.ts (the
// same marathon at 1,000,000 records).
//
//   VIEWPULSE_MARATHON_EVENTS (default 150000), VIEWPULSE_MARATHON_KILLS (default 20),
//   VIEWPULSE_MARATHON_PUMP_SECONDS (default 300: while the kills go on, the records arrive at
//   EVENTS / that per second; the rest at full speed once they are over)
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateTraffic, type Traffic } from '../../generator/index.js';
import { projectRoot, stateDir } from '../../infra/paths.js';
import { exec } from '../../lib/clickhouse/client.js';
import { migrate } from '../../lib/clickhouse/migrations.js';
import { sql, v } from '../../lib/clickhouse/sql.js';
import { catalogRows, pumpIntoKafka, seedCatalog } from '../../harness/dataset.js';
import { pipeline, type Pipeline } from '../../harness/pipeline.js';
import {
  checkTable,
  cleanRecommendations,
  countdown,
  deletePrefixedTopics,
  killsAfterACheckpoint,
  marathon,
  marathonChecks,
  MARATHON_PROCESSORS,
  pacer,
  progress,
  type Phase,
} from '../../harness/marathon.js';
import { kill9, type Instance } from '../../harness/processes.js';
import { testNow } from '../clock.js';

const EVENTS = Number(process.env.VIEWPULSE_MARATHON_EVENTS ?? 150_000);
const KILLS = Number(process.env.VIEWPULSE_MARATHON_KILLS ?? 20);
const PUMP_SECONDS = Number(process.env.VIEWPULSE_MARATHON_PUMP_SECONDS ?? 300);

let p: Pipeline;
let cleanDb: string;
let traffic: Traffic;
/** Set once every record is in Kafka. */
let pumped = false;
const live = new Set<Instance>();
const logDir = stateDir('logs', 'kill-marathon');

describe(`kill marathon (${EVENTS} generated records, ${KILLS} kills of each processor)`, () => {
  beforeAll(async () => {
    p = await pipeline('marathon', 4);
    cleanDb = `${p.database}_clean`;
    await migrate(p.clickhouse, cleanDb, join(projectRoot, 'schemas', 'clickhouse'));
    traffic = generateTraffic({ events: EVENTS, seed: 20, now: testNow() });
    for (const db of [p.database, cleanDb]) await seedCatalog(p.clickhouse, db, catalogRows(traffic));
    for (const name of MARATHON_PROCESSORS) writeFileSync(join(logDir, `${name}.log`), '');
  }, 600_000);
  afterAll(async () => {
    // a failed test leaves no processor behind
    await Promise.all([...live].map((i) => kill9(i)));
    await exec(p.clickhouse, sql`DROP DATABASE IF EXISTS ${v.ident(cleanDb)}`);
    await deletePrefixedTopics(p);
    await p.cleanup();
  });

  it(`each processor killed with SIGKILL ${KILLS} times at random moments ends with exactly the truth`, async () => {
    const t0 = Date.now();
    // live at EVENTS / PUMP_SECONDS records/s while the kills go on, the rest at full speed after them
    const pace = pacer();
    const killed = countdown(MARATHON_PROCESSORS.length, pace.hurry);
    const rate = Math.ceil(EVENTS / PUMP_SECONDS);
    const pumping = pumpIntoKafka(p, traffic, { chunk: 250, rate, sleep: pace.sleep }).then((x) => {
      pumped = true;
      return x;
    });
    const [runs] = await Promise.all([
      Promise.all(
        MARATHON_PROCESSORS.map((name, n) =>
          marathon(p, name, {
            kills: KILLS,
            seed: 900 + n,
            logDir,
            pumping,
            pumped: () => pumped,
            killed,
            live,
            timeoutMs: 300_000,
          }),
        ),
      ),
      pumping,
    ]);
    const killSeconds = (Date.now() - t0) / 1000;
    const total = (await progress(p, 'raw-events')).inTopic;

    // the reference for the co-view graph: a clean run over the same records, into another database
    await cleanRecommendations(p, cleanDb, 300_000);
    const checks = await marathonChecks(p, traffic.truth(), cleanDb);
    const seconds = (Date.now() - t0) / 1000;
    const summary = MARATHON_PROCESSORS.map((name, n) => {
      const run = runs[n]!;
      const by = (ph: Phase): number => run.kills.filter((x) => x.phase === ph).length;
      return (
        `${name} ${run.kills.length} kills (${by('restoring')} restoring, ${by('processing')} processing, ` +
        `${by('caught up')} caught up; ${killsAfterACheckpoint(run.kills)} after a checkpoint of that instance; ` +
        `${run.crashes_inside} crashes inside the process)`
      );
    }).join('; ');
    console.log(
      `[kill marathon] ${total} records, 4 partitions, arriving at ${rate}/s during the kills: ${summary}; ` +
        `kills and catch-up ${killSeconds.toFixed(0)} s, with the clean run and the checks ${seconds.toFixed(0)} s`,
    );
    console.log(`[kill marathon] checks:\n${checkTable(checks)}`);

    expect(checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.got} (want ${c.want})`)).toEqual([]);
    for (const [n, name] of MARATHON_PROCESSORS.entries()) {
      const run = runs[n]!;
      expect(run.exit_code, `${name}: the last instance stops cleanly\n${run.outputs.at(-1)!.slice(-3000)}`).toBe(0);
      expect(run.kills.length, name).toBe(KILLS);
      // the kills came mid-run (with records still to do), and restarts resumed from checkpoints
      const midRun = run.kills.filter((k) => k.phase !== 'caught up').length;
      expect(midRun, `${name}: ${JSON.stringify(run.kills)}`).toBeGreaterThanOrEqual(KILLS / 2);
      // ... many of them after that instance had checkpointed (rows written past a checkpoint, replayed)
      expect(killsAfterACheckpoint(run.kills), name).toBeGreaterThanOrEqual(KILLS / 4);
      expect(run.restored_from_checkpoint, `${name}: partitions restored from a checkpoint`).toBeGreaterThanOrEqual(
        KILLS / 2,
      );
    }
  }, 900_000);
});
