// Elastic processors (issue 11): every play-events processor — raw-events, view-counts,
// engagement, recommendations — runs as several instances of its consumer group (each a
// `viewpulse run processors --only NAME` child process with its own /metrics), and the number of
// instances changes during the run, 1 → 3 → 2 by default, while records arrive. Each change
// comes when the processor's group has committed a given share of the records (so it is
// mid-stream: sessions and minute windows of the records before it get more records after it,
// and the state handed over with the partitions is in flight); scaling down stops the oldest
// instance, with SIGTERM (it flushes, commits and leaves) or SIGKILL (the group notices after
// the session timeout). After each change: how long until the partitions were all owned again,
// and whether an instance still reports the lag of a partition it no longer owns. At the end:
// each instance's lag gauges (every partition on exactly one live instance, all 0),
// `viewpulse status --json` (every partition owned, lag 0, the live instances as members), a
// clean stop, and ClickHouse against the generator's truth (harness/marathon.ts marathonChecks).
// Used by test/faults/elastic.test.ts (CI size) and bench/elastic.ts (≥ 1,000,000 records).
import { execFile, spawn } from 'node:child_process';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Delivery, Traffic } from '../generator/index.js';
import { pump } from '../generator/run.js';
import { KafkaSink, type Sink, type SinkStats } from '../generator/sinks.js';
import { projectRoot } from '../infra/paths.js';
import { maxOf, pushAll } from '../lib/arrays.js';
import type { ProcessorName } from '../runtime/registry.js';
import type { ProcessorPosition } from '../runtime/status.js';
import { catalogRows, seedCatalog } from './dataset.js';
import {
  cleanRecommendations,
  MARATHON_PROCESSORS,
  marathonChecks,
  progress,
  restoresFromCheckpoint,
} from './marathon.js';
import type { Pipeline } from './pipeline.js';
import { exitedEarly, kill9, sleep, terminate, untilLogged, type Instance } from './processes.js';
import type { Check } from './truth-check.js';

export const ELASTIC_PROCESSORS = MARATHON_PROCESSORS;

export type StopHow = 'SIGTERM' | 'SIGKILL';

export interface ElasticOptions {
  /** Instances over the run (default 1 → 3 → 2). */
  steps?: readonly number[];
  /** Share of the records committed by a processor's group when it changes to steps[j] (j ≥ 1). */
  at?: readonly number[];
  /** Each processor's changes come this much (share of the records) after the previous processor's. */
  stagger?: number;
  /** How each processor scales down (default: SIGTERM for raw-events and engagement, SIGKILL for the others). */
  stop?: Partial<Record<ProcessorName, StopHow>>;
  /** Records arrive at this rate (records/s; 0: as fast as the sink takes them). */
  rate: number;
  /** Each instance's output goes to `<logDir>/<processor>.log`. */
  logDir: string;
  /** Every instance started goes in here until it exits (so a failed run can kill what is left). */
  live: Set<Instance>;
  /** Progress lines (the bench prints them). */
  log?: (line: string) => void;
  timeoutMs?: number;
}

const DEFAULT_STOP: Record<ProcessorName, StopHow> = {
  'raw-events': 'SIGTERM',
  engagement: 'SIGTERM',
  'view-counts': 'SIGKILL',
  recommendations: 'SIGKILL',
  catalog: 'SIGTERM',
};

/** One instance of a processor: a child process with its own health and metrics port. */
export interface ElasticInstance extends Instance {
  processor: ProcessorName;
  /** 1, 2, … per processor, in start order */
  n: number;
}

/**
 * `viewpulse run processors --only NAME --metrics-port 0` (an ephemeral port, read from its log):
 * harness/processes.ts spawnProcessor has no metrics port, and every instance's /metrics is
 * under test here. Same settings as there: 6 s session timeout, a checkpoint every second.
 */
export function spawnInstance(p: Pipeline, name: ProcessorName, n: number, logFile: string): ElasticInstance {
  const child = spawn(
    process.execPath,
    [join(projectRoot, 'bin', 'viewpulse.js'), 'run', 'processors', '--only', name, '--metrics-port', '0'],
    {
      env: {
        ...process.env,
        VIEWPULSE_TOPIC_PREFIX: p.prefix,
        VIEWPULSE_CLICKHOUSE_DATABASE: p.database,
        VIEWPULSE_PROCESSOR_SESSION_TIMEOUT_MS: '6000',
        VIEWPULSE_PROCESSOR_CHECKPOINT_MS: '1000',
        VIEWPULSE_LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  const keep = (b: Buffer): void => {
    out += b.toString();
    appendFileSync(logFile, b);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, exited, processor: name, n };
}

/** The instance's health and metrics address, once it listens. */
export async function metricsUrl(i: Instance): Promise<string> {
  await untilLogged(i, 'processor metrics and health listening');
  const line = i.output().match(/^.*"msg":"processor metrics and health listening".*$/m)![0];
  return `http://127.0.0.1:${JSON.parse(line).port}`;
}

/** What the instance logged at its last assignment: its partitions (undefined before the first). */
export function lastAssignment(output: string): number[] | undefined {
  const lines = output.match(/^.*"msg":"assigned".*$/gm);
  if (!lines) return undefined;
  return (JSON.parse(lines.at(-1)!) as { partitions: number[] }).partitions.sort((a, b) => a - b);
}

/** Rebalances the group went through: each has one leader, which logs its assignment with leader: true. */
export const leaderAssignments = (output: string): number =>
  (output.match(/"leader":true,"msg":"assigned"/g) ?? []).length;

/** Assignments logged by an instance (one per rebalance it took part in). */
export const assignments = (output: string): number => (output.match(/"msg":"assigned"/g) ?? []).length;

/** Kafka's client id of an instance (runtime/start.ts: `<client id>-<host>-<pid>`) ends with its pid. */
const isClientOf = (clientId: string, i: Instance): boolean => clientId.endsWith(`-${i.child.pid}`);

/** The consumer-lag series of one processor in an instance's /metrics: partition → lag. */
export async function lagSeries(url: string, processor: string): Promise<Map<number, number>> {
  const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5_000) });
  const out = new Map<number, number>();
  for (const m of (await res.text()).matchAll(/^viewpulse_processor_consumer_lag\{([^}]*)\} (\S+)$/gm)) {
    const labels = Object.fromEntries([...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (labels.processor === processor) out.set(Number(labels.partition), Number(m[2]));
  }
  return out;
}

/** `viewpulse status --json` against the pipeline, asking each instance's health endpoint. */
export async function statusJson(p: Pipeline, healthUrls: readonly string[]): Promise<ProcessorPosition[]> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [join(projectRoot, 'bin', 'viewpulse.js'), 'status', '--json', '--health-url', healthUrls.join(',')],
    {
      env: { ...process.env, VIEWPULSE_TOPIC_PREFIX: p.prefix, VIEWPULSE_CLICKHOUSE_DATABASE: p.database },
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  return JSON.parse(stdout) as ProcessorPosition[];
}

/**
 * The sink that writes every delivery to Kafka and remembers, per playback session, the first
 * and last record's position, and per minute of event time its last record: what was in flight
 * at a given position of the stream.
 */
export class TrackingSink implements Sink {
  readonly name: string;
  /** records handed to Kafka so far */
  written = 0;
  private readonly sessions = new Map<string, [number, number]>();
  private readonly minuteLast = new Map<number, number>();
  private readonly minuteAt: number[] = [];

  constructor(private readonly inner: Sink) {
    this.name = inner.name;
  }

  async write(d: Delivery): Promise<void> {
    const i = this.written;
    if (d.kind === 'event') {
      const s = this.sessions.get(d.event.session_id);
      if (s) s[1] = i;
      else this.sessions.set(d.event.session_id, [i, i]);
      const minute = Math.floor(d.acceptedEventTime / 60_000);
      this.minuteLast.set(minute, i);
      this.minuteAt[i] = minute;
    }
    await this.inner.write(d);
    this.written = i + 1;
  }

  /** Sessions with records before position k and at or after it. */
  sessionsAcross(k: number): number {
    let n = 0;
    for (const [first, last] of this.sessions.values()) if (first < k && last >= k) n++;
    return n;
  }

  /** The minute of event time of the newest event before position k, and whether records of it come at or after k. */
  minuteAcross(k: number): { minute: number; open: boolean } | undefined {
    for (let i = k - 1; i >= 0; i--) {
      const minute = this.minuteAt[i];
      if (minute !== undefined) return { minute: minute * 60_000, open: (this.minuteLast.get(minute) ?? -1) >= k };
    }
    return undefined;
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  stats(): SinkStats {
    return this.inner.stats();
  }
}

export interface Change {
  processor: ProcessorName;
  from: number;
  to: number;
  /** start: new instances joined; SIGTERM / SIGKILL: how the oldest one was stopped */
  how: 'start' | StopHow;
  /** seconds since the run began */
  at_s: number;
  /** records the group had committed at the change, and records in Kafka then */
  committed: number;
  in_topic: number;
  /** sessions with records before the group's committed position and after it: open in the handed-over state */
  open_sessions: number;
  /** the minute of event time at the committed position (ISO), and whether it still got records after it */
  minute: string;
  minute_open: boolean;
  /** seconds from the change until the live instances' assignments covered every partition exactly once */
  settled_s: number;
  /** partitions whose lag an instance reported after the change without owning them (stale series) */
  stale_lag_series: number;
}

export interface ProcessorRun {
  processor: ProcessorName;
  changes: Change[];
  instances_started: number;
  /** rebalances of the group (its leader's assignments) and assignments over all instances */
  rebalances: number;
  assignments: number;
  /** partition states restored from a checkpoint (a partition handed over with its state) */
  handovers: number;
  /** seconds from the first start until the group had committed every record */
  caught_up_s: number;
  /** exit codes of the instances stopped with SIGTERM: mid-run (scale-down) and at the end */
  sigterm_exit_codes: (number | null)[];
}

export interface ElasticResult {
  runs: ProcessorRun[];
  records: number;
  pump_s: number;
  /** until every group had committed every record */
  caught_up_s: number;
  /** the end state: each processor's lag series per instance, and `viewpulse status --json` */
  final: {
    lag: Record<string, { instance: number; pid: number | undefined; series: Record<number, number> }[]>;
    status: ProcessorPosition[];
  };
  checks: Check[];
}

/** Until the live instances' last assignments cover all `partitions` exactly once (every one non-empty). */
async function untilSettled(
  live: readonly ElasticInstance[],
  partitions: number,
  since: number,
  timeoutMs: number,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const sets = live.map((i) => lastAssignment(i.output()) ?? []);
    const all = sets.flat();
    const exact = all.length === partitions && new Set(all).size === partitions;
    if (exact && sets.every((s) => s.length > 0 || live.length > partitions)) return (Date.now() - since) / 1000;
    for (const i of live)
      if (exitedEarly(i)) throw new Error(`${i.processor} #${i.n} exited:\n${i.output().slice(-3000)}`);
    if (Date.now() > deadline)
      throw new Error(`${live[0]?.processor}: the assignment did not settle: ${JSON.stringify(sets)}`);
    await sleep(100);
  }
}

/** Partitions whose lag the instances report without owning them now. */
async function staleSeries(live: readonly ElasticInstance[]): Promise<number> {
  let stale = 0;
  for (const i of live) {
    const owned = new Set(lastAssignment(i.output()) ?? []);
    const series = await lagSeries(await metricsUrl(i), i.processor);
    for (const p of series.keys()) if (!owned.has(p)) stale++;
  }
  return stale;
}

/** One processor through the steps, changing when its group committed each share; the last instances keep running. */
async function scale(
  p: Pipeline,
  name: ProcessorName,
  index: number,
  sink: TrackingSink,
  total: number,
  t0: number,
  o: Required<Pick<ElasticOptions, 'steps' | 'at' | 'stagger'>> & ElasticOptions,
): Promise<{ run: ProcessorRun; instances: ElasticInstance[]; stopped: ElasticInstance[] }> {
  const logFile = join(o.logDir, `${name}.log`);
  writeFileSync(logFile, '');
  const timeoutMs = o.timeoutMs ?? 600_000;
  const how = o.stop?.[name] ?? DEFAULT_STOP[name];
  let n = 0;
  const instances: ElasticInstance[] = [];
  const stopped: ElasticInstance[] = [];
  const sigterm: (number | null)[] = [];
  const start = (): ElasticInstance => {
    const i = spawnInstance(p, name, ++n, logFile);
    instances.push(i);
    o.live.add(i);
    void i.exited.then(() => o.live.delete(i));
    return i;
  };
  for (let k = 0; k < o.steps[0]!; k++) start();
  await Promise.all(instances.map((i) => metricsUrl(i)));
  const changes: Change[] = [];
  for (let j = 1; j < o.steps.length; j++) {
    const share = o.at[j - 1]! + index * o.stagger;
    const deadline = Date.now() + timeoutMs;
    let x = await progress(p, name);
    while (x.committed < share * total) {
      for (const i of instances)
        if (exitedEarly(i)) throw new Error(`${name} #${i.n} exited:\n${i.output().slice(-3000)}`);
      if (Date.now() > deadline) throw new Error(`${name} did not reach ${share} of the records`);
      await sleep(250);
      x = await progress(p, name);
    }
    const from = instances.length;
    const to = o.steps[j]!;
    const at = Date.now();
    if (to > from) {
      for (let k = from; k < to; k++) start();
    } else {
      for (const i of instances.splice(0, from - to)) {
        stopped.push(i);
        if (how === 'SIGKILL') await kill9(i);
        else sigterm.push(await terminate(i));
      }
    }
    await Promise.all(instances.map((i) => metricsUrl(i)));
    const settled = await untilSettled(instances, p.testConfig.kafka.playEventPartitions, at, timeoutMs);
    const across = sink.minuteAcross(x.committed);
    const change: Change = {
      processor: name,
      from,
      to,
      how: to > from ? 'start' : how,
      at_s: Math.round((at - t0) / 100) / 10,
      committed: x.committed,
      in_topic: x.inTopic,
      open_sessions: sink.sessionsAcross(x.committed),
      minute: across ? new Date(across.minute).toISOString() : '–',
      minute_open: across?.open ?? false,
      settled_s: Math.round(settled * 10) / 10,
      stale_lag_series: await staleSeries(instances),
    };
    changes.push(change);
    o.log?.(
      `${name}: ${from} → ${to} (${change.how}) at ${change.at_s} s, ${x.committed} of ${total} records committed, ` +
        `${change.open_sessions} sessions open across it, settled in ${change.settled_s} s`,
    );
  }
  return {
    instances,
    stopped,
    run: {
      processor: name,
      changes,
      instances_started: n,
      rebalances: 0,
      assignments: 0,
      handovers: 0,
      caught_up_s: 0,
      sigterm_exit_codes: sigterm,
    },
  };
}

/**
 * The whole elastic run over `traffic` (catalog seeded into the pipeline's database and
 * `cleanDb`): the records pumped at `o.rate`, every processor scaled through the steps, the end
 * state checked (lag series, status), the instances stopped with SIGTERM, the clean
 * recommendations run, and every number compared with the truth.
 */
export async function elasticRun(
  p: Pipeline,
  traffic: Traffic,
  cleanDb: string,
  options: ElasticOptions,
): Promise<ElasticResult> {
  const o = { steps: [1, 3, 2], at: [0.3, 0.6], stagger: 0.03, ...options };
  const total = traffic.options.events;
  for (const db of [p.database, cleanDb]) await seedCatalog(p.clickhouse, db, catalogRows(traffic));
  const kafkaSink = new KafkaSink(p.kafka, p.registry, p.topics.playEvents, { chunk: 500 });
  await kafkaSink.connect();
  const sink = new TrackingSink(kafkaSink);
  const t0 = Date.now();
  let pumpS = 0;
  const pumping = pump(traffic, sink, { rate: o.rate }).then((r) => {
    pumpS = (Date.now() - t0) / 1000;
    o.log?.(`every record in Kafka after ${pumpS.toFixed(0)} s`);
    return r;
  });
  const scaled = await Promise.all([
    Promise.all(ELASTIC_PROCESSORS.map((name, k) => scale(p, name, k, sink, total, t0, o))),
    pumping,
  ]).then(([s]) => s);

  // every group to the end (each at its own pace)
  const caughtUp = await Promise.all(
    ELASTIC_PROCESSORS.map(async (name) => {
      const deadline = Date.now() + (o.timeoutMs ?? 600_000);
      for (;;) {
        const x = await progress(p, name);
        if (x.committed >= x.inTopic) break;
        if (Date.now() > deadline) throw new Error(`${name} did not commit every record`);
        await sleep(250);
      }
      return (Date.now() - t0) / 1000;
    }),
  );
  o.log?.(`every group committed every record after ${maxOf(caughtUp).toFixed(0)} s`);
  const records = (await progress(p, 'raw-events')).inTopic;

  const checks: Check[] = [];
  const check = (name: string, got: string | number | boolean, want: string | number | boolean, ok: boolean): void => {
    checks.push({ name, got: String(got), want: String(want), ok });
  };
  const partitions = p.testConfig.kafka.playEventPartitions;
  // The end state while they run: each partition's lag on exactly one live instance (its owner), 0.
  const final: ElasticResult['final'] = { lag: {}, status: [] };
  for (const { instances } of scaled) {
    const name = instances[0]!.processor;
    const deadline = Date.now() + 60_000;
    let rows: ElasticResult['final']['lag'][string] = [];
    for (;;) {
      rows = [];
      for (const i of instances) {
        const series = await lagSeries(await metricsUrl(i), name);
        rows.push({ instance: i.n, pid: i.child.pid, series: Object.fromEntries(series) });
      }
      const all = rows.flatMap((r) => Object.entries(r.series));
      const once = all.length === partitions && new Set(all.map(([k]) => k)).size === partitions;
      if ((once && all.every(([, v]) => v === 0)) || Date.now() > deadline) break;
      await sleep(500);
    }
    final.lag[name] = rows;
    const all = rows.flatMap((r) => Object.entries(r.series));
    check(
      `${name}: partitions with a lag series on the live instances (each on one)`,
      new Set(all.map(([k]) => k)).size === all.length ? all.length : `${all.length} series, some twice`,
      partitions,
      all.length === partitions && new Set(all.map(([k]) => k)).size === partitions,
    );
    check(
      `${name}: lag series not 0 at the end`,
      all.filter(([, v]) => v !== 0).length,
      0,
      all.every(([, v]) => v === 0),
    );
    const owned = instances.every((i) => {
      const s = rows.find((r) => r.instance === i.n)!.series;
      return (
        JSON.stringify(
          Object.keys(s)
            .map(Number)
            .sort((a, b) => a - b),
        ) === JSON.stringify(lastAssignment(i.output()))
      );
    });
    check(`${name}: each instance reports the lag of exactly the partitions it owns`, owned, true, owned);
  }
  const urls = await Promise.all(scaled.flatMap((s) => s.instances.map((i) => metricsUrl(i))));
  final.status = await statusJson(p, urls);
  for (const { instances } of scaled) {
    const name = instances[0]!.processor;
    const s = final.status.find((x) => x.processor === name);
    const parts = s?.partitions ?? [];
    check(`${name}: status --json partitions`, parts.length, partitions, parts.length === partitions);
    check(
      `${name}: status --json partitions with lag ≠ 0`,
      parts.filter((x) => x.lag !== 0).length,
      0,
      parts.every((x) => x.lag === 0),
    );
    const ownedByLive = parts.filter((x) => x.owner !== null && instances.some((i) => isClientOf(x.owner!, i)));
    check(
      `${name}: status --json partitions owned by a live instance`,
      ownedByLive.length,
      partitions,
      ownedByLive.length === partitions,
    );
    check(
      `${name}: status --json instances`,
      s?.members.length ?? 0,
      instances.length,
      s?.members.length === instances.length,
    );
    check(`${name}: status --json state`, s?.state ?? 'none', 'running', s?.state === 'running');
  }

  // a clean stop of what is left
  for (const s of scaled) for (const i of s.instances) s.run.sigterm_exit_codes.push(await terminate(i));
  for (const [k, s] of scaled.entries()) {
    const out = [...s.stopped, ...s.instances].map((i) => i.output()).join('\n');
    s.run.rebalances = leaderAssignments(out);
    s.run.assignments = assignments(out);
    s.run.handovers = restoresFromCheckpoint(out);
    s.run.caught_up_s = Math.round(caughtUp[k]! * 10) / 10;
    const name = s.run.processor;
    check(
      `${name}: exit codes of the SIGTERM stops`,
      s.run.sigterm_exit_codes.join(','),
      'all 0',
      s.run.sigterm_exit_codes.every((c) => c === 0),
    );
    check(`${name}: rebalances`, s.run.rebalances, `≥ ${o.steps.length}`, s.run.rebalances >= o.steps.length);
    for (const c of s.run.changes) {
      const what = `${name} ${c.from} → ${c.to} (${c.how})`;
      check(`${what}: sessions open across the change`, c.open_sessions, '> 0', c.open_sessions > 0);
      check(`${what}: its minute window (${c.minute}) still open`, c.minute_open, true, c.minute_open);
      check(
        `${what}: mid-stream (records committed)`,
        `${c.committed} of ${total}`,
        `0 < … < ${total}`,
        c.committed > 0 && c.committed < total,
      );
      check(`${what}: stale lag series after it`, c.stale_lag_series, 0, c.stale_lag_series === 0);
    }
  }

  // the numbers: the truth, exact engagement counts, the co-view counts of a clean run
  await cleanRecommendations(p, cleanDb, o.timeoutMs ?? 900_000);
  pushAll(checks, await marathonChecks(p, traffic.truth(), cleanDb));
  return {
    runs: scaled.map((s) => s.run),
    records,
    pump_s: Math.round(pumpS * 10) / 10,
    caught_up_s: Math.round(maxOf(caughtUp) * 10) / 10,
    final,
    checks,
  };
}
