// The fault marathon (issue 11), shared by test/faults/fault-marathon.test.ts (CI size) and
// bench/faults.ts (≥ 1,000,000 records): one run of generated traffic through the whole
// pipeline while, over `faultSeconds`,
//
//   - processors are killed with SIGKILL `processorKills` times — a random one of raw-events,
//     view-counts, engagement, recommendations each time, each a child process
//     (`viewpulse run processors --only NAME`), at a random moment after it restored a random
//     share of its partitions (harness/marathon.ts killAtRandomMoment), and started again;
//   - the Kafka broker is restarted once (infra/kafka.ts stop, then start);
//   - ClickHouse is stopped abruptly (SIGKILL, as a crash) for `clickhouseDownSeconds`, then
//     started again (infra/clickhouse.ts);
//   - the collector (`viewpulse run collector`) is killed with SIGKILL `collectorKills` times
//     while player SDK trackers have requests in flight, and started again 1–3 s later.
//
// The records: most go straight into Kafka (harness/patient-kafka-sink.ts, which rides out the
// broker restart); the events of a share `sdkShare` of the viewers go through the collector
// with the player SDK's tracker (harness/sdk-clients.ts), which retries with backoff. Neither
// way gets more than 2 simulated minutes ahead of the other (the pump waits), so the generator's
// late deliveries (≤ 15 min) stay within the 20 minutes a session keeps its events apart
// (docs/semantics.md "Allowed lateness"): the truth assumes none is folded. Records
// arrive at events / (1.5 × (faultSeconds + clickhouseDownSeconds)) per second while the faults go on
// (kills wait for a processor that works, so some come late), the rest at full speed after them. A processor or collector that exits on its own (it gave up while Kafka or
// ClickHouse was away) is started again with a backoff, as a process supervisor would, and
// listed apart from the faults injected.
//
// Afterwards every table must equal the generator's truth (harness/truth-check.ts, the exact
// engagement counts, and the recommendations against a clean run over the same records), and
// every event the collector acknowledged must be in play_events, with the event_time sent, and
// be a generated event (the truth counts each once). Services are started again when the run
// ends, failed or not. Children's logs: <logDir>/<name>.log.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateTraffic, type TruthReport } from '../generator/index.js';
import type { Delivery } from '../generator/faults.js';
import { hash32, Rng } from '../generator/rng.js';
import { pump } from '../generator/run.js';
import type { Sink, SinkStats } from '../generator/sinks.js';
import { clickhouse as clickhouseService } from '../infra/clickhouse.js';
import { kafka as kafkaService } from '../infra/kafka.js';
import { projectRoot } from '../infra/paths.js';
import { isAlive, runningPid } from '../infra/process.js';
import { exec, queryRows } from '../lib/clickhouse/client.js';
import { migrate } from '../lib/clickhouse/migrations.js';
import { sql, v } from '../lib/clickhouse/sql.js';
import { waitForCommitted } from '../lib/kafka/topics-admin.js';
import { groupIdOf, type ProcessorName } from '../runtime/registry.js';
import { TABLES } from '../schemas/tables.js';
import { catalogRows, seedCatalog } from './dataset.js';
import {
  cleanRecommendations,
  crashesInside,
  deletePrefixedTopics,
  killAtRandomMoment,
  marathonChecks,
  MARATHON_PROCESSORS,
  pacer,
  progress,
  restoresFromCheckpoint,
  type Kill,
} from './marathon.js';
import { PatientKafkaSink } from './patient-kafka-sink.js';
import { pipeline, type Pipeline } from './pipeline.js';
import {
  exitedEarly,
  freePort,
  kill9,
  sleep,
  spawnCollector,
  spawnProcessor,
  terminate,
  untilLogged,
  type Instance,
} from './processes.js';
import { SdkClients, type SdkLedger } from './sdk-clients.js';
import type { Check } from './truth-check.js';

export interface FaultMarathonOptions {
  /** Records to generate (events, duplicate copies, malformed records). */
  events: number;
  partitions: number;
  seed: number;
  /** The generator's "now" (its traffic ends before it). */
  now: number;
  /** Seconds over which the faults are spread (kill n is due at n / kills of it). */
  faultSeconds: number;
  /** SIGKILLs of a random processor (at least 20 for the marathon). */
  processorKills: number;
  /** SIGKILLs of the collector under load. */
  collectorKills: number;
  clickhouseDownSeconds: number;
  /** Share (0..1) of the viewers whose events go through the collector with the SDK. */
  sdkShare: number;
  /** SDK trackers (players) sending them. */
  sdkClients: number;
  /** Pipeline name (topic prefix and database are derived from it). */
  name: string;
  /** Children's logs go to <logDir>/<name>.log (emptied first). */
  logDir: string;
  log: (line: string) => void;
  /** Every child started goes in here until it exits (so a caller that gives up can kill what is left). */
  live?: Set<Instance>;
  /** Keep the topics and databases when a check fails (to look into them); the default removes them. */
  keepOnFailure?: boolean;
}

export type FaultKind = 'processor_kill' | 'kafka_restart' | 'clickhouse_stop' | 'collector_kill';

export interface InjectedFault {
  kind: FaultKind;
  /** when it was injected (ISO 8601) and seconds since the faults began */
  at: string;
  t_s: number;
  /** services and the collector: seconds until it answered again */
  down_s?: number;
  processor?: ProcessorName;
  /** processor kills: the moment (see harness/marathon.ts Kill) */
  kill?: Omit<Kill, 'processor'>;
  /** collector kills: events the SDK trackers had in flight (sent, not answered, or waiting for a retry) */
  sdk_events_in_flight?: number;
}

export interface SelfExit {
  process: string;
  at: string;
  t_s: number;
  code: number | null;
  signal: string | null;
}

export interface FaultMarathonResult {
  faults: InjectedFault[];
  /** processes that exited on their own (not a fault injected) and were started again */
  self_exits: SelfExit[];
  checks: Check[];
  tables_equal_truth: boolean;
  acknowledged: {
    /** distinct event ids the collector acknowledged (2xx, not rejected) */
    events: number;
    accepted_count: number;
    duplicate_count: number;
    missing_from_play_events: number;
    not_generated: number;
    event_time_differs: number;
  };
  acknowledged_events_lost: number;
  /** late_events by processor, reason and applied (docs/semantics.md "Late events") */
  late_events: { processor: string; reason: string; applied: number; n: number; max_lateness_s: number }[];
  sdk: Omit<SdkLedger, 'acknowledged'> & { viewers: number };
  sizes: {
    records_in_topic: number;
    deliveries: number;
    distinct_events: number;
    through_collector: number;
    straight_to_kafka: number;
    partitions: number;
    kafka_chunks_resent: number;
  };
  processes: Record<
    string,
    { instances: number; restored_from_checkpoint: number; crashes_inside: number; exit_code: number | null }
  >;
  durations_s: {
    generate_and_seed: number;
    faults: number;
    until_every_record_in_kafka: number;
    catch_up_after_faults: number;
    clean_recommendations_run: number;
    checks: number;
    total: number;
  };
  records_per_s_during_faults: number;
}

/**
 * A process kept running: started again when it exits on its own (after 1, 2, 4 … 10 s while
 * it keeps failing), not when this code killed or stopped it.
 */
class Keeper {
  current!: Instance;
  instances = 0;
  restored = 0;
  crashes = 0;
  private stopping = false;
  private readonly ours = new WeakSet<Instance>();
  private failing = 0;

  constructor(
    readonly name: string,
    private readonly spawn: () => Instance,
    private readonly live: Set<Instance>,
    private readonly onSelfExit: (i: Instance) => void,
  ) {}

  start(): Instance {
    const i = this.spawn();
    const born = Date.now();
    this.current = i;
    this.instances++;
    this.live.add(i);
    void i.exited.then(() => {
      this.live.delete(i);
      this.restored += restoresFromCheckpoint(i.output());
      this.crashes += crashesInside(i.output());
      if (this.stopping || this.ours.has(i)) return;
      this.onSelfExit(i);
      this.failing = Date.now() - born > 20_000 ? 1 : this.failing + 1;
      setTimeout(
        () => {
          if (!this.stopping && this.current === i) this.start();
        },
        Math.min(10_000, 1_000 * 2 ** (this.failing - 1)),
      );
    });
    return i;
  }

  /** No more restarts (the run is over, or failed). */
  halt(): void {
    this.stopping = true;
  }

  /** SIGKILL, by us (not started again here). */
  async kill(i: Instance): Promise<void> {
    this.ours.add(i);
    await kill9(i);
  }

  /** Resolves once an instance other than `i` runs. */
  async replaced(i: Instance): Promise<void> {
    while (this.current === i) await sleep(100);
  }

  /** Resolves once the current instance logged `msg` (following restarts). */
  async ready(msg: string, timeoutMs = 300_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.current;
      try {
        await untilLogged(i, msg, Math.max(1, deadline - Date.now()));
        return;
      } catch (err) {
        if (!exitedEarly(i) || Date.now() > deadline) throw err;
        await this.replaced(i);
      }
    }
  }

  /** SIGTERM (a clean stop) once it runs; no restart after. Returns the exit code. */
  async stop(readyMsg: string): Promise<number | null> {
    await this.ready(readyMsg);
    this.stopping = true;
    return terminate(this.current);
  }
}

/** Most deliveries straight into Kafka; the events of a share of the viewers through the SDK and the collector. */
class SplitSink implements Sink {
  readonly name = 'split';
  viaCollector = 0;
  direct = 0;

  constructor(
    private readonly kafka: PatientKafkaSink,
    private readonly sdk: SdkClients,
    private readonly share: number,
  ) {}

  async write(d: Delivery): Promise<void> {
    // neither way runs ahead of the other by more than the SDK clients' lag bound
    await this.sdk.holdBack(d.deliverAt);
    if (d.kind === 'event' && hash32('via-collector', d.viewer_id) / 2 ** 32 < this.share) {
      this.viaCollector++;
      return this.sdk.write(d);
    }
    this.direct++;
    return this.kafka.write(d);
  }

  async close(): Promise<void> {
    await Promise.all([this.kafka.close(), this.sdk.close()]);
  }

  stats(): SinkStats {
    return this.kafka.stats();
  }
}

const seconds = (ms: number): number => Math.round(ms / 100) / 10;
const since = (when: { at: string }): number => seconds(Date.now() - Date.parse(when.at));

/** Acknowledged events against play_events: missing ones, and ones stored with another event_time. */
async function acknowledgedInClickHouse(
  p: Pipeline,
  acknowledged: Map<string, number>,
): Promise<{ missing: number; timeDiffers: number }> {
  const ids = [...acknowledged.keys()];
  const found = new Map<string, number>();
  for (let i = 0; i < ids.length; i += 5_000) {
    const rows = await queryRows<{ event_id: string; t: string }>(
      p.clickhouse,
      sql`SELECT event_id, event_time_ms AS t FROM ${v.table(p.database, TABLES.playEvents)} FINAL
          WHERE event_id IN ${v.inList(ids.slice(i, i + 5_000), 'String')}`,
    );
    for (const r of rows) found.set(r.event_id, Number(r.t));
  }
  let missing = 0;
  let timeDiffers = 0;
  for (const [id, t] of acknowledged) {
    const got = found.get(id);
    if (got === undefined) missing++;
    else if (got !== t) timeDiffers++;
  }
  return { missing, timeDiffers };
}

export async function runFaultMarathon(o: FaultMarathonOptions): Promise<FaultMarathonResult> {
  const { log } = o;
  const tStart = Date.now();
  const p = await pipeline(o.name, o.partitions);
  const cleanDb = `${p.database}_clean`;
  const live = o.live ?? new Set<Instance>();
  for (const name of ['collector', ...MARATHON_PROCESSORS]) writeFileSync(join(o.logDir, `${name}.log`), '');
  const serviceLog = (line: string): void => log(`  ${line}`);
  let failed = true;
  const keepers: Keeper[] = [];
  const faults: InjectedFault[] = [];
  const selfExits: SelfExit[] = [];
  try {
    await migrate(p.clickhouse, cleanDb, join(projectRoot, 'schemas', 'clickhouse'));
    const traffic = generateTraffic({ events: o.events, seed: o.seed, now: o.now });
    for (const db of [p.database, cleanDb]) await seedCatalog(p.clickhouse, db, catalogRows(traffic));
    const generated = Date.now();

    let t0 = Date.now();
    const stamp = (): { at: string; t_s: number } => ({ at: new Date().toISOString(), t_s: seconds(Date.now() - t0) });
    const inject = (f: Omit<InjectedFault, 'at' | 't_s'>, when = stamp()): void => {
      faults.push({ ...when, ...f });
      log(`fault ${faults.length} at ${when.t_s} s: ${f.kind}${f.processor ? ` ${f.processor}` : ''}`);
    };
    const selfExit = (name: string) => (i: Instance) => {
      selfExits.push({ process: name, ...stamp(), code: i.child.exitCode, signal: i.child.signalCode });
      log(`${name} exited on its own (${i.child.exitCode ?? i.child.signalCode}); starting it again`);
    };

    const port = await freePort();
    const collector = new Keeper(
      'collector',
      () =>
        spawnCollector(
          p.testConfig,
          port,
          { VIEWPULSE_COLLECTOR_RATE_LIMIT: '100000', VIEWPULSE_COLLECTOR_RATE_BURST: '200000' },
          join(o.logDir, 'collector.log'),
        ),
      live,
      selfExit('collector'),
    );
    const processors = new Map(
      MARATHON_PROCESSORS.map((name) => [
        name,
        new Keeper(
          name,
          () => spawnProcessor(name, p.testConfig, {}, join(o.logDir, `${name}.log`)),
          live,
          selfExit(name),
        ),
      ]),
    );
    keepers.push(collector);
    for (const k of processors.values()) keepers.push(k);
    collector.start();
    for (const k of processors.values()) k.start();
    await collector.ready('collector listening');

    const sdk = new SdkClients({
      endpoint: `http://127.0.0.1:${port}`,
      writeKey: p.testConfig.collector.writeKeys[0]!,
      clients: o.sdkClients,
    });
    const direct = new PatientKafkaSink(p.kafka, p.registry, p.topics.playEvents, 500, 4, 5_000, (err) =>
      log(`a chunk for Kafka is sent again (${(err as Error).message})`),
    );
    await direct.connect();
    const split = new SplitSink(direct, sdk, o.sdkShare);

    t0 = Date.now();
    const F = o.faultSeconds * 1000;
    const until = (ms: number): Promise<void> => sleep(Math.max(0, t0 + ms - Date.now()));
    // Slow enough that records still arrive when kills stalled by the outages come late (the
    // kills wait for restores, which wait for Kafka and ClickHouse: the faults took 250 s of a
    // planned 210 in CI); the rest at full speed once the faults are over.
    const rate = Math.ceil(o.events / (1.5 * (o.faultSeconds + o.clickhouseDownSeconds)));
    const pace = pacer();
    let pumped = false;
    let pumpedAt = 0;
    const pumping = pump(traffic, split, { rate, sleep: pace.sleep }).then((x) => {
      pumped = true;
      pumpedAt = Date.now();
      log(`every record in Kafka after ${seconds(pumpedAt - t0)} s`);
      return x;
    });
    // a failed pump fails the run at once, not after the faults
    const pumpFailed = pumping.then(() => new Promise<never>(() => undefined));

    const r = new Rng(o.seed + 1);
    const processorKills = async (): Promise<void> => {
      for (let n = 0; n < o.processorKills; n++) {
        await until((n * F) / o.processorKills);
        const name = r.pick(MARATHON_PROCESSORS);
        const keeper = processors.get(name)!;
        for (;;) {
          const i = keeper.current;
          let when = stamp();
          let killed = false;
          try {
            const k = await killAtRandomMoment(p, i, name, r, () => pumped, {
              kill: async (x) => {
                when = stamp();
                killed = true;
                await keeper.kill(x);
                keeper.start();
              },
            });
            const { processor: _, ...kill } = k;
            inject({ kind: 'processor_kill', processor: name, kill }, when);
            break;
          } catch (err) {
            if (killed || !exitedEarly(i)) throw err;
            await keeper.replaced(i); // it exited on its own meanwhile: the kill goes to the next instance
          }
        }
      }
    };

    const collectorKill = async (at: number): Promise<void> => {
      await until(at);
      await collector.ready('collector listening');
      // under load: while the trackers have events sent and not answered
      while (sdk.inFlight() === 0 && !pumped) await sleep(10);
      const i = collector.current;
      const when = stamp();
      const inFlight = sdk.inFlight();
      await collector.kill(i);
      await sleep(1_000 + r.next() * 2_000);
      collector.start();
      await collector.ready('collector listening');
      inject({ kind: 'collector_kill', sdk_events_in_flight: inFlight, down_s: since(when) }, when);
    };

    const kafkaRestart = async (at: number): Promise<void> => {
      await until(at);
      const when = stamp();
      await kafkaService.stop();
      await kafkaService.start(serviceLog);
      inject({ kind: 'kafka_restart', down_s: since(when) }, when);
    };

    const clickhouseStop = async (at: number): Promise<void> => {
      await until(at);
      const pid = runningPid('clickhouse');
      if (!pid)
        throw new Error('ClickHouse must be run by `viewpulse services up` (no pid file) for the fault marathon');
      const when = stamp();
      process.kill(pid, 'SIGKILL'); // abrupt, as a crash: a graceful stop would wait for the inserts under way
      while (isAlive(pid)) await sleep(50);
      await sleep(o.clickhouseDownSeconds * 1000);
      await clickhouseService.start(serviceLog);
      inject({ kind: 'clickhouse_stop', down_s: since(when) }, when);
    };

    log(
      `${o.events} records (${Math.round(o.sdkShare * 100)} % of the viewers through the SDK and the collector) at ${rate}/s; ` +
        `over ${o.faultSeconds} s: ${o.processorKills} processor kills, a Kafka restart, ClickHouse down ${o.clickhouseDownSeconds} s, ` +
        `${o.collectorKills} collector kills; logs in ${o.logDir}`,
    );
    await Promise.race([
      Promise.all([
        processorKills(),
        ...Array.from({ length: o.collectorKills }, (_, n) => collectorKill(((n + 0.5) / o.collectorKills) * 0.9 * F)),
        kafkaRestart(0.25 * F),
        clickhouseStop(0.5 * F),
      ]),
      pumpFailed,
    ]);
    const faultsDone = Date.now();
    log(`every fault injected after ${seconds(faultsDone - t0)} s: the rest of the records at full speed`);
    pace.hurry();
    await pumping;
    const collectorExit = await collector.stop('collector listening');
    const exits: Record<string, number | null> = { collector: collectorExit };
    for (const [name, keeper] of processors) {
      await waitForCommitted(p.kafka, groupIdOf(p.prefix, name), p.topics.playEvents, 3_600_000);
      exits[name] = await keeper.stop('processors running');
    }
    const caughtUp = Date.now();
    log(`all four caught up and stopped after ${seconds(caughtUp - t0)} s; the clean recommendations run`);
    await cleanRecommendations(p, cleanDb, 3_600_000);
    const cleaned = Date.now();

    const truth: TruthReport = traffic.truth();
    const checks = await marathonChecks(p, truth, cleanDb);
    const tablesEqualTruth = checks.every((c) => c.ok);
    const { ledger } = sdk;
    const inClickHouse = await acknowledgedInClickHouse(p, ledger.acknowledged);
    let notGenerated = 0;
    for (const id of ledger.acknowledged.keys()) if (!sdk.trackedIds.has(id)) notGenerated++;
    const lost = inClickHouse.missing + notGenerated;
    const exact = (name: string, got: number, want: number): Check => ({
      name,
      got: String(got),
      want: String(want),
      ok: got === want,
    });
    const dropped = Object.values(ledger.dropped).reduce((a, b) => a + b, 0);
    checks.push(
      {
        name: 'collector: events acknowledged',
        got: String(ledger.acknowledged.size),
        want: '> 0',
        ok: ledger.acknowledged.size > 0,
      },
      exact('collector: acknowledged events missing from play_events', inClickHouse.missing, 0),
      exact('collector: acknowledged events that are not generated events', notGenerated, 0),
      exact('collector: acknowledged events stored with another event_time', inClickHouse.timeDiffers, 0),
      exact('collector: valid events rejected', ledger.rejected.length, 0),
      exact('SDK: events given up (retries exhausted, queue full)', dropped, 0),
      exact('SDK: generated events never acknowledged', ledger.tracked - ledger.acknowledged.size, 0),
    );
    const late = await queryRows<{ processor: string; reason: string; applied: number; n: string; worst: string }>(
      p.clickhouse,
      sql`SELECT processor, reason, applied, count() AS n, max(lateness_ms) AS worst
          FROM ${v.table(p.database, TABLES.lateEvents)} FINAL GROUP BY processor, reason, applied
          ORDER BY processor, reason, applied`,
    );
    failed = !checks.every((c) => c.ok);
    const done = Date.now();

    const { acknowledged: _a, ...ledgerFigures } = ledger;
    const total = await progress(p, 'raw-events');
    return {
      faults,
      self_exits: selfExits,
      checks,
      tables_equal_truth: tablesEqualTruth,
      acknowledged: {
        events: ledger.acknowledged.size,
        accepted_count: ledger.acceptedCount,
        duplicate_count: ledger.duplicateCount,
        missing_from_play_events: inClickHouse.missing,
        not_generated: notGenerated,
        event_time_differs: inClickHouse.timeDiffers,
      },
      acknowledged_events_lost: lost,
      late_events: late.map((x) => ({
        processor: x.processor,
        reason: x.reason,
        applied: Number(x.applied),
        n: Number(x.n),
        max_lateness_s: seconds(Number(x.worst)),
      })),
      sdk: { ...ledgerFigures, viewers: sdk.viewers.size },
      sizes: {
        records_in_topic: total.inTopic,
        deliveries: truth.counts.deliveries,
        distinct_events: truth.counts.events,
        through_collector: split.viaCollector,
        straight_to_kafka: split.direct,
        partitions: o.partitions,
        kafka_chunks_resent: direct.resends,
      },
      processes: Object.fromEntries(
        [collector, ...processors.values()].map((k) => [
          k.name,
          {
            instances: k.instances,
            restored_from_checkpoint: k.restored,
            crashes_inside: k.crashes,
            exit_code: exits[k.name] ?? null,
          },
        ]),
      ),
      durations_s: {
        generate_and_seed: seconds(generated - tStart),
        faults: seconds(faultsDone - t0),
        until_every_record_in_kafka: seconds(pumpedAt - t0),
        catch_up_after_faults: seconds(caughtUp - faultsDone),
        clean_recommendations_run: seconds(cleaned - caughtUp),
        checks: seconds(done - cleaned),
        total: seconds(done - tStart),
      },
      records_per_s_during_faults: rate,
    };
  } catch (err) {
    // what was injected before the failure, for the caller's record
    throw Object.assign(err as Error, { faults, selfExits });
  } finally {
    for (const k of keepers) k.halt();
    await Promise.all([...live].map((i) => kill9(i)));
    // whatever happened, the services are up again for whoever comes next
    await kafkaService.start(serviceLog).catch((err: Error) => log(`Kafka did not start again: ${err.message}`));
    await clickhouseService
      .start(serviceLog)
      .catch((err: Error) => log(`ClickHouse did not start again: ${err.message}`));
    if (failed && o.keepOnFailure) {
      log(`kept for a look: databases ${p.database} and ${cleanDb}, topics ${p.prefix}*`);
    } else {
      await exec(p.clickhouse, sql`DROP DATABASE IF EXISTS ${v.ident(cleanDb)}`).catch(() => undefined);
      await deletePrefixedTopics(p).catch(() => undefined);
      await p.cleanup().catch(() => undefined);
    }
  }
}
