// npm run bench:elastic — the elastic run of test/faults/elastic.test.ts at full size (issue 11):
// N generated records (default 1,000,000) into a 12-partition play-events topic at N/S records/s
// (S default 400 s), while raw-events, view-counts, engagement and recommendations each go from
// 1 to 3 to 2 instances (separate `viewpulse run processors --only NAME` children, each with its
// own /metrics): the changes come when the group committed 30 % and 60 % of the records (3 %
// later for each next processor), scaling down with SIGTERM (raw-events, engagement) or SIGKILL
// (view-counts, recommendations). Then the end state (each partition's lag on its owner's
// /metrics at 0, `viewpulse status --json`), a clean stop, and ClickHouse against the generator's
// truth (harness/elastic.ts). Writes bench/results/elastic.json; the children's logs go to
// .viewpulse/logs/elastic-bench-<time>/.
//
//   npm run bench:elastic -- [--events 1000000] [--partitions 12] [--seconds 400] [--seed 31]
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { generateTraffic } from '../generator/index.js';
import { projectRoot, stateDir } from '../infra/paths.js';
import { exec } from '../lib/clickhouse/client.js';
import { migrate } from '../lib/clickhouse/migrations.js';
import { sql, v } from '../lib/clickhouse/sql.js';
import { elasticRun } from '../harness/elastic.js';
import { checkTable, deletePrefixedTopics } from '../harness/marathon.js';
import { pipeline } from '../harness/pipeline.js';
import type { Instance } from '../harness/processes.js';
import { writeResults } from './results-file.js';

const log = (line: string): void => console.error(`[bench:elastic] ${line}`);

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    partitions: { type: 'string', default: '12' },
    seconds: { type: 'string', default: '400' },
    seed: { type: 'string', default: '31' },
  },
});
const EVENTS = Number(args.events);
const PARTITIONS = Number(args.partitions);
const SECONDS = Number(args.seconds);
const SEED = Number(args.seed);
const rate = SECONDS > 0 ? Math.ceil(EVENTS / SECONDS) : 0;
const logDir = stateDir('logs', `elastic-bench-${new Date().toISOString().replace(/[:.]/g, '-')}`);

const p = await pipeline('elasticbench', PARTITIONS);
const cleanDb = `${p.database}_clean`;
const live = new Set<Instance>();
let cleaning: Promise<void> | undefined;
const cleanUp = (): Promise<void> =>
  (cleaning ??= (async () => {
    for (const i of live) i.child.kill('SIGKILL');
    await exec(p.clickhouse, sql`DROP DATABASE IF EXISTS ${v.ident(cleanDb)}`).catch(() => undefined);
    await deletePrefixedTopics(p).catch(() => undefined);
    // a slow DROP (the machine is busy) must not turn a finished run into a failure
    await p.cleanup().catch((err: Error) => log(`clean-up incomplete: ${err.message}`));
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
  log(
    `${EVENTS} records into ${p.topics.playEvents} (${PARTITIONS} partitions) at ${rate || 'full speed'}/s; logs in ${logDir}`,
  );
  const t0 = Date.now();
  const r = await elasticRun(p, traffic, cleanDb, { rate, logDir, live, log });
  const seconds = (Date.now() - t0) / 1000;
  console.error(checkTable(r.checks));
  const byProcessor = <T>(f: (x: (typeof r.runs)[number]) => T): Record<string, T> =>
    Object.fromEntries(r.runs.map((x) => [x.processor, f(x)]));
  const figures = {
    records: r.records,
    distinct_events: traffic.truth().counts.events,
    partitions: PARTITIONS,
    instances: '1 → 3 → 2',
    records_per_s_offered: rate,
    pump_seconds: r.pump_s,
    caught_up_seconds: byProcessor((x) => x.caught_up_s),
    records_per_s_processed: byProcessor((x) => Math.round(r.records / x.caught_up_s)),
    changes: r.runs.flatMap((x) => x.changes),
    rebalances: byProcessor((x) => x.rebalances),
    assignments: byProcessor((x) => x.assignments),
    partition_states_handed_over: byProcessor((x) => x.handovers),
    instances_started: byProcessor((x) => x.instances_started),
    sigterm_exit_codes: byProcessor((x) => x.sigterm_exit_codes),
    final_lag_series: r.final.lag,
    final_status: r.final.status.map((s) => ({
      processor: s.processor,
      state: s.state,
      instances: s.members.length,
      lag: s.lag,
      watermark: s.watermark === null ? null : new Date(s.watermark).toISOString(),
      partitions_owned: s.partitions.filter((x) => x.owner !== null).length,
    })),
    seconds_with_clean_run_and_checks: Math.round(seconds),
    checks: r.checks.map((c) => ({ name: c.name, expected: c.want, actual: c.got, ok: c.ok })),
    tables_equal_truth: r.checks.every((c) => c.ok),
  };
  const file = writeResults(
    'elastic',
    `npm run bench:elastic -- --events ${EVENTS} --partitions ${PARTITIONS} --seconds ${SECONDS} --seed ${SEED}`,
    {
      topic: `play-events with ${PARTITIONS} partitions, ${r.records} generated records (seed ${SEED}), straight into Kafka at ${rate || 'full speed'} records/s, catalog seeded`,
      processors:
        'raw-events, view-counts, engagement, recommendations: each 1 → 3 → 2 instances, every instance its own `viewpulse run processors --only NAME --metrics-port 0` child',
      changes:
        'when the group committed 30 % (→ 3) and 60 % (→ 2) of the records, 3 % later per processor in that order; scale-down stops the oldest instance: SIGTERM for raw-events and engagement, SIGKILL for view-counts and recommendations; the rest stopped with SIGTERM at the end',
      processor_options: 'session timeout 6 s, checkpoint every 1 s, flush every 1 s',
      open_sessions:
        "sessions with records before the group's committed position at the change and after it (positions in delivery order)",
      settled_s: "from the change until the live instances' logged assignments covered every partition exactly once",
      records_per_s_processed: 'records ÷ seconds from the first start until the group committed every record',
      checks:
        'per change: open sessions and minute window, no stale lag series; at the end: lag series on the owners only, all 0, `viewpulse status --json`, SIGTERM exit codes; harness/truth-check.ts against the generator truth, exact engagement counts, recommendations against a clean run',
      note: 'Kafka, the registry, ClickHouse and up to 12 processor processes share this 2-core machine',
    },
    figures,
  );
  console.log(JSON.stringify({ ...figures, final_lag_series: '(in the file)' }, null, 2));
  log(`wrote ${file}`);
  if (!figures.tables_equal_truth) process.exitCode = 1;
} finally {
  await cleanUp();
}
