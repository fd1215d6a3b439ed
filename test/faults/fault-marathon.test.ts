// The fault marathon (issue 11) at CI size: harness/fault-marathon.ts over
// VIEWPULSE_FAULT_MARATHON_EVENTS generated records (default 100,000; 4 partitions), with the
// faults spread over VIEWPULSE_FAULT_MARATHON_SECONDS (default 120): 24 SIGKILLs of a random
// processor (raw-events, view-counts, engagement, recommendations; each restarted), the Kafka
// broker restarted once, ClickHouse down for 60 s, and the collector killed with SIGKILL 3 times
// while the player SDK's trackers — carrying the events of 20 % of the viewers — have requests in
// flight. Afterwards every table equals the generator's truth, the recommendations a clean run's,
// and every event the collector acknowledged is in play_events. `npm run bench:faults` is the
// same run at 1,000,000 records.
//
// It restarts this suite's Kafka and ClickHouse: integration files run one at a time
// (vitest.config.ts), and the services are started again when the run ends, failed or not.
// Children's logs: .viewpulse/logs/fault-marathon/. VIEWPULSE_FAULT_MARATHON_KEEP=1 keeps the
// topics and databases of a failed run.
import { afterAll, describe, expect, it } from 'vitest';
import { clickhouse } from '../../infra/clickhouse.js';
import { kafka } from '../../infra/kafka.js';
import { stateDir } from '../../infra/paths.js';
import { runFaultMarathon, type FaultKind } from '../../harness/fault-marathon.js';
import { checkTable } from '../../harness/marathon.js';
import { kill9, type Instance } from '../../harness/processes.js';
import { testNow } from '../clock.js';

const EVENTS = Number(process.env.VIEWPULSE_FAULT_MARATHON_EVENTS ?? 100_000);
const FAULT_SECONDS = Number(process.env.VIEWPULSE_FAULT_MARATHON_SECONDS ?? 120);
const PROCESSOR_KILLS = 24;
const COLLECTOR_KILLS = 3;
const CLICKHOUSE_DOWN_SECONDS = 60;

const live = new Set<Instance>();
const log = (line: string): void => console.log(`[fault marathon] ${line}`);

describe(`fault marathon (${EVENTS} generated records, faults over ${FAULT_SECONDS} s)`, () => {
  afterAll(async () => {
    // also when the test timed out with the run still going: no child left, services up
    await Promise.all([...live].map((i) => kill9(i)));
    await kafka.start(log);
    await clickhouse.start(log);
  }, 300_000);

  it(`${PROCESSOR_KILLS} processor kills, a Kafka restart, ClickHouse down ${CLICKHOUSE_DOWN_SECONDS} s and ${COLLECTOR_KILLS} collector kills under SDK load: every table equals the truth, no acknowledged event lost`, async () => {
    const r = await runFaultMarathon({
      events: EVENTS,
      partitions: 4,
      seed: 31,
      now: testNow(),
      faultSeconds: FAULT_SECONDS,
      processorKills: PROCESSOR_KILLS,
      collectorKills: COLLECTOR_KILLS,
      clickhouseDownSeconds: CLICKHOUSE_DOWN_SECONDS,
      sdkShare: 0.2,
      sdkClients: 8,
      name: 'faultmarathon',
      logDir: stateDir('logs', 'fault-marathon'),
      log,
      live,
      keepOnFailure: process.env.VIEWPULSE_FAULT_MARATHON_KEEP === '1',
    });
    log(`checks:\n${checkTable(r.checks)}`);
    log(
      `faults: ${r.faults.map((f) => `${f.t_s} s ${f.kind}${f.processor ? ` ${f.processor}` : ''}`).join(', ')}; ` +
        `exits on their own: ${r.self_exits.map((x) => `${x.t_s} s ${x.process}`).join(', ') || 'none'}`,
    );
    log(`sizes ${JSON.stringify(r.sizes)}; durations ${JSON.stringify(r.durations_s)}; sdk ${JSON.stringify(r.sdk)}`);
    log(`late events ${JSON.stringify(r.late_events)}`);

    expect(r.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.got} (want ${c.want})`)).toEqual([]);
    expect(r.tables_equal_truth).toBe(true);
    expect(r.acknowledged_events_lost).toBe(0);
    // the acknowledged events are a real share of the run, not a handful
    expect(r.acknowledged.events).toBeGreaterThan(EVENTS / 10);
    // every fault was injected, and each was a real one
    const of = (kind: FaultKind) => r.faults.filter((f) => f.kind === kind);
    const kills = of('processor_kill');
    expect(kills.length).toBe(PROCESSOR_KILLS);
    expect(kills.filter((k) => k.kill!.phase !== 'caught up').length, JSON.stringify(kills)).toBeGreaterThanOrEqual(
      PROCESSOR_KILLS / 2,
    );
    expect(of('kafka_restart').length).toBe(1);
    expect(of('clickhouse_stop').map((f) => f.down_s! >= CLICKHOUSE_DOWN_SECONDS)).toEqual([true]);
    const collectorKills = of('collector_kill');
    expect(collectorKills.length).toBe(COLLECTOR_KILLS);
    for (const k of collectorKills) expect(k.sdk_events_in_flight, JSON.stringify(k)).toBeGreaterThan(0);
    // the collector's restarts were seen by the SDK: requests without an answer, retried
    expect(r.sdk.answers.network ?? 0).toBeGreaterThan(0);
    expect(r.sdk.retries).toBeGreaterThan(0);
    for (const [name, x] of Object.entries(r.processes)) expect(x.exit_code, `${name} stops cleanly`).toBe(0);
  }, 900_000);
});
