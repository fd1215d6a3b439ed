// tsx bench/kill-marathon.ts — the kill marathon of test/faults/kill-marathon.test.ts at full
// size (issue 9): N generated records (default 1,000,000) into a 12-partition play-events topic,
// arriving at N/P records/s (P default 400 s) for as long as the kills go on and at full speed
// after them, while raw-events, view-counts, engagement and recommendations — each its own child
// process (`viewpulse run processors --only NAME`), all four at once — are each killed with
// SIGKILL K times (default 20) and restarted. Each kill comes a random 0.1–3 s (log-uniform)
// after the instance was assigned its n partitions and restored a random k = 0..n of them (each
// on its first batch): while partitions are restored, mid-batch, mid-checkpoint (one every second). Once
// every record is in Kafka, the last instance runs until its group committed the whole topic and
// stops with SIGTERM. ClickHouse is then compared with the generator's truth
// (harness/truth-check.ts and the exact session, watch-time and retention-coverage counts below),
// and the recommendations' co-view counts with those of a clean run over the same records into
// another database. Writes bench/results/kill-marathon.json; the children's logs go to
// .viewpulse/logs/kill-marathon-bench-<time>/.
//
// The marathon, the checks, the clean run and the pacer are harness/marathon.ts's, shared with the test.
//
//   tsx bench/kill-marathon.ts [--events 1000000] [--kills 20] [--partitions 12] [--seed 20] [--pump-seconds 400]
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { generateTraffic } from '../generator/index.js';
import { projectRoot, stateDir } from '../infra/paths.js';
import { exec } from '../lib/clickhouse/client.js';
import { migrate } from '../lib/clickhouse/migrations.js';
import { sql, v } from '../lib/clickhouse/sql.js';
import { catalogRows, pumpIntoKafka, seedCatalog } from '../harness/dataset.js';
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
} from '../harness/marathon.js';
import { pipeline } from '../harness/pipeline.js';
import type { Instance } from '../harness/processes.js';
import { writeResults } from './results-file.js';

const log = (line: string): void => console.error(`[bench:kill-marathon] ${line}`);

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      events: { type: 'string', default: '1000000' },
      kills: { type: 'string', default: '20' },
      partitions: { type: 'string', default: '12' },
      seed: { type: 'string', default: '20' },
      'pump-seconds': { type: 'string', default: '400' },
    },
  });
  const EVENTS = Number(args.events);
  const KILLS = Number(args.kills);
  const PARTITIONS = Number(args.partitions);
  const SEED = Number(args.seed);
  const PUMP_SECONDS = Number(args['pump-seconds']);
  const logDir = stateDir('logs', `kill-marathon-bench-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  const p = await pipeline('killbench', PARTITIONS);
  const cleanDb = `${p.database}_clean`;
  const live = new Set<Instance>();
  let cleaning: Promise<void> | undefined;
  const cleanUp = (): Promise<void> =>
    (cleaning ??= (async () => {
      for (const c of live) c.child.kill('SIGKILL');
      await exec(p.clickhouse, sql`DROP DATABASE IF EXISTS ${v.ident(cleanDb)}`).catch(() => undefined);
      await deletePrefixedTopics(p).catch(() => undefined);
      await p.cleanup();
    })());
  // stopped (Ctrl-C, SIGTERM): no processor, topic or database left behind
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping the processors and removing the pipeline`);
      void cleanUp().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
    });
  }
  try {
    await migrate(p.clickhouse, cleanDb, join(projectRoot, 'schemas', 'clickhouse'));
    const traffic = generateTraffic({ events: EVENTS, seed: SEED, now: Date.now() });
    for (const db of [p.database, cleanDb]) await seedCatalog(p.clickhouse, db, catalogRows(traffic));
    log(
      `${EVENTS} records into ${p.topics.playEvents} (${PARTITIONS} partitions) at ${EVENTS / PUMP_SECONDS}/s while ` +
        `${MARATHON_PROCESSORS.join(', ')} are each killed ${KILLS} times; logs in ${logDir}`,
    );
    const t0 = Date.now();
    let pumped = false;
    const rate = PUMP_SECONDS > 0 ? Math.ceil(EVENTS / PUMP_SECONDS) : 0;
    const pace = pacer();
    let killsSeconds = 0;
    const killed = countdown(MARATHON_PROCESSORS.length, () => {
      killsSeconds = (Date.now() - t0) / 1000;
      log(`every kill done after ${((Date.now() - t0) / 1000).toFixed(0)} s: the rest of the records at full speed`);
      pace.hurry();
    });
    const pumping = pumpIntoKafka(p, traffic, { chunk: 1000, rate, sleep: pace.sleep }).then((x) => {
      pumped = true;
      log(`every record in Kafka after ${((Date.now() - t0) / 1000).toFixed(0)} s`);
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
            onKill: (k, count) =>
              log(
                `${name}: kill ${count} (${k.phase}, ${k.restored}/${k.assigned} partitions restored, ` +
                  `${k.committed} of ${k.in_topic} records committed)`,
              ),
          }),
        ),
      ),
      pumping,
    ]);
    const marathonSeconds = (Date.now() - t0) / 1000;
    log(`all four caught up and stopped after ${marathonSeconds.toFixed(0)} s; the clean recommendations run`);
    const t1 = Date.now();
    await cleanRecommendations(p, cleanDb);
    const cleanSeconds = (Date.now() - t1) / 1000;

    const truth = traffic.truth();
    const total = (await progress(p, 'raw-events')).inTopic;
    const checks = await marathonChecks(p, truth, cleanDb);
    console.error(checkTable(checks));
    const figures = {
      events: total,
      distinct_events: truth.counts.events,
      partitions: PARTITIONS,
      kills_per_processor: Object.fromEntries(MARATHON_PROCESSORS.map((name, n) => [name, runs[n]!.kills.length])),
      kills_by_phase: Object.fromEntries(
        MARATHON_PROCESSORS.map((name, n) => {
          const by = (ph: Phase): number => runs[n]!.kills.filter((k) => k.phase === ph).length;
          return [name, { restoring: by('restoring'), processing: by('processing'), caught_up: by('caught up') }];
        }),
      ),
      kills_after_a_checkpoint_of_that_instance: Object.fromEntries(
        MARATHON_PROCESSORS.map((name, n) => [name, killsAfterACheckpoint(runs[n]!.kills)]),
      ),
      restores_from_a_checkpoint: Object.fromEntries(
        MARATHON_PROCESSORS.map((name, n) => [name, runs[n]!.restored_from_checkpoint]),
      ),
      crashes_inside_the_processes: Object.fromEntries(
        MARATHON_PROCESSORS.map((name, n) => [name, runs[n]!.crashes_inside]),
      ),
      final_exit_codes: Object.fromEntries(MARATHON_PROCESSORS.map((name, n) => [name, runs[n]!.exit_code])),
      records_per_s_during_the_kills: rate,
      kills_seconds: Math.round(killsSeconds),
      seconds: Math.round(marathonSeconds),
      clean_recommendations_run_seconds: Math.round(cleanSeconds),
      checks: checks.map((c) => ({ name: c.name, expected: c.want, actual: c.got, ok: c.ok })),
      all_equal_truth: checks.every((c) => c.ok) && runs.every((r) => r.exit_code === 0),
    };
    const file = writeResults(
      'kill-marathon',
      `tsx bench/kill-marathon.ts --events ${EVENTS} --kills ${KILLS} --partitions ${PARTITIONS} --seed ${SEED} --pump-seconds ${PUMP_SECONDS}`,
      {
        topic: `play-events with ${PARTITIONS} partitions, ${total} generated records (seed ${SEED}), straight into Kafka at ${rate || 'full speed'} records/s while the kills go on (the rest at full speed once they are over), catalog seeded`,
        processors:
          'raw-events, view-counts, engagement, recommendations, each its own `viewpulse run processors --only NAME` child, all four at once',
        kills: `each processor: SIGKILL ${KILLS} times, each a random 0.1–3 s (seeded, log-uniform) after the instance was assigned n partitions and restored a random k = 0..n of them (seeded; from its log), restarted at once; then run until committed to the end and SIGTERM`,
        processor_options: 'session timeout 6 s, checkpoint every 1 s, flush every 1 s',
        seconds:
          'from the first start until all four caught up and stopped (the clean run and the checks not included); kills_seconds: until the last of the 4 × K kills',
        checks:
          'harness/truth-check.ts against the generator truth, exact engagement sessions/plays/watch time/retention coverage, recommendations against a clean run into another database',
        note: 'Kafka, the registry, ClickHouse and the four processors share this 2-core machine',
      },
      figures,
    );
    console.log(JSON.stringify(figures, null, 2));
    log(`wrote ${file}`);
    if (!figures.all_equal_truth) process.exitCode = 1;
  } finally {
    await cleanUp();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
