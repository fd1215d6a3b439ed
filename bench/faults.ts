// npm run bench:faults — the fault marathon of test/faults/fault-marathon.test.ts at full size
// (issue 11), harness/fault-marathon.ts over N generated records (default 1,000,000) into a
// 12-partition play-events topic: over F seconds (default 420) K SIGKILLs of a random
// processor (default 30), the Kafka broker restarted once, ClickHouse down for 60 s, and the
// collector killed with SIGKILL C times (default 5) while player SDK trackers — the events of
// 10 % of the viewers — have requests in flight. Then every table against the generator's
// truth and a clean recommendations run, and every acknowledged event against play_events.
// Writes bench/results/faults.json: figures.faults_injected (every fault with its time and
// kind), figures.tables_equal_truth, figures.acknowledged_events_lost, sizes and durations.
//
// It stops and restarts the Kafka broker and ClickHouse of the configuration it runs with: run
// it on a private set of services (VIEWPULSE_HOME and the port variables, README "Benchmarks"),
// never on services others use. Children's logs: .viewpulse/logs/faults-bench-<time>/.
//
//   tsx bench/faults.ts [--events 1000000] [--partitions 12] [--seed 31] [--fault-seconds 420]
//     [--processor-kills 30] [--collector-kills 5] [--clickhouse-down 60] [--sdk-share 0.1] [--sdk-clients 16]
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { stateDir } from '../infra/paths.js';
import { runFaultMarathon } from '../harness/fault-marathon.js';
import { checkTable } from '../harness/marathon.js';
import { kill9, type Instance } from '../harness/processes.js';
import { writeResults } from './results-file.js';

const log = (line: string): void => console.error(`[bench:faults] ${line}`);

async function main(): Promise<void> {
  const { values: a } = parseArgs({
    options: {
      events: { type: 'string', default: '1000000' },
      partitions: { type: 'string', default: '12' },
      seed: { type: 'string', default: '31' },
      'fault-seconds': { type: 'string', default: '420' },
      'processor-kills': { type: 'string', default: '30' },
      'collector-kills': { type: 'string', default: '5' },
      'clickhouse-down': { type: 'string', default: '60' },
      'sdk-share': { type: 'string', default: '0.1' },
      'sdk-clients': { type: 'string', default: '16' },
    },
  });
  const o = {
    events: Number(a.events),
    partitions: Number(a.partitions),
    seed: Number(a.seed),
    faultSeconds: Number(a['fault-seconds']),
    processorKills: Number(a['processor-kills']),
    collectorKills: Number(a['collector-kills']),
    clickhouseDownSeconds: Number(a['clickhouse-down']),
    sdkShare: Number(a['sdk-share']),
    sdkClients: Number(a['sdk-clients']),
  };
  const live = new Set<Instance>();
  // Ctrl-C: no child left behind (the run's own clean-up starts the services again)
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: killing the children`);
      void Promise.all([...live].map((i) => kill9(i))).finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
    });
  }
  const command =
    `tsx bench/faults.ts --events ${o.events} --partitions ${o.partitions} --seed ${o.seed} --fault-seconds ${o.faultSeconds} ` +
    `--processor-kills ${o.processorKills} --collector-kills ${o.collectorKills} --clickhouse-down ${o.clickhouseDownSeconds} ` +
    `--sdk-share ${o.sdkShare} --sdk-clients ${o.sdkClients}`;
  const logDir = stateDir('logs', `faults-bench-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  let r: Awaited<ReturnType<typeof runFaultMarathon>>;
  try {
    r = await runFaultMarathon({ ...o, now: Date.now(), name: 'faultsbench', logDir, log, live });
  } catch (err) {
    // a run that failed is recorded too: the error and the faults injected until then
    const e = err as Error & { faults?: unknown[]; selfExits?: unknown[] };
    const file = writeResults(
      'faults',
      command,
      { logs: logDir },
      {
        error: e.message.split('\n')[0],
        faults_injected: e.faults ?? [],
        exits_on_their_own: e.selfExits ?? [],
        tables_equal_truth: false,
        acknowledged_events_lost: null,
        all_ok: false,
      },
    );
    log(`the run failed (${e.message.split('\n')[0]}); wrote ${file}`);
    throw err;
  }
  console.error(checkTable(r.checks));
  const figures = {
    faults_injected: r.faults,
    tables_equal_truth: r.tables_equal_truth,
    acknowledged_events_lost: r.acknowledged_events_lost,
    faults_by_kind: r.faults.reduce<Record<string, number>>((n, f) => ({ ...n, [f.kind]: (n[f.kind] ?? 0) + 1 }), {}),
    exits_on_their_own: r.self_exits,
    acknowledged: r.acknowledged,
    sdk: r.sdk,
    sizes: r.sizes,
    processes: r.processes,
    durations_s: r.durations_s,
    records_per_s_during_faults: r.records_per_s_during_faults,
    checks: r.checks.map((c) => ({ name: c.name, expected: c.want, actual: c.got, ok: c.ok })),
    all_ok:
      r.checks.every((c) => c.ok) &&
      r.acknowledged_events_lost === 0 &&
      Object.values(r.processes).every((x) => x.exit_code === 0),
  };
  const file = writeResults(
    'faults',
    command,
    {
      traffic: `${o.events} generated records (seed ${o.seed}), catalog seeded; the events of ${o.sdkShare * 100} % of the viewers through the player SDK's tracker (${o.sdkClients} trackers) and \`viewpulse run collector\`, the rest straight into Kafka (re-sent while the broker is away)`,
      topic: `play-events with ${o.partitions} partitions`,
      pace: `records at ${r.records_per_s_during_faults}/s while the faults go on, the rest at full speed after them`,
      processors:
        'raw-events, view-counts, engagement, recommendations, each its own `viewpulse run processors --only NAME` child (session timeout 6 s, checkpoint every 1 s); one that exits on its own is started again with a backoff, as a supervisor would',
      faults: `over ${o.faultSeconds} s: ${o.processorKills} SIGKILLs of a random processor, each a random 0.1–3 s after it restored a random share of its partitions, restarted at once; the Kafka broker stopped and started (infra/kafka.ts) at 25 %; ClickHouse SIGKILLed at 50 %, started again (infra/clickhouse.ts) ${o.clickhouseDownSeconds} s later; the collector SIGKILLed ${o.collectorKills} times while SDK requests were in flight, restarted 1–3 s later`,
      checks:
        'harness/truth-check.ts against the generator truth, exact engagement sessions/plays/watch time/retention coverage, recommendations against a clean run into another database; every event the collector acknowledged (2xx, not rejected) looked up in play_events by event_id, with the event_time sent',
      note: 'Kafka, the registry, ClickHouse, the collector, the four processors and this process share one machine',
    },
    figures,
  );
  console.log(JSON.stringify({ ...figures, faults_injected: `${r.faults.length} faults (in the file)` }, null, 2));
  log(`wrote ${file}`);
  if (!figures.all_ok) process.exitCode = 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
