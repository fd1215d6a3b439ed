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
// The checks, the clean run and the pacer are exported for the test (harness/ would be their home).
//
//   tsx bench/kill-marathon.ts [--events 1000000] [--kills 20] [--partitions 12] [--seed 20] [--pump-seconds 400]
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { generateTraffic, type TruthReport } from '../generator/index.js';
import { Rng } from '../generator/rng.js';
import { projectRoot, stateDir } from '../infra/paths.js';
import { exec, queryRows } from '../lib/clickhouse/client.js';
import { migrate } from '../lib/clickhouse/migrations.js';
import { sql, v } from '../lib/clickhouse/sql.js';
import { recommendations } from '../processors/recommendations/processor.js';
import { groupIdOf, type ProcessorName } from '../runtime/registry.js';
import { TABLES } from '../schemas/tables.js';
import { catalogRows, pumpIntoKafka, seedCatalog } from '../harness/dataset.js';
import { endOffsets, pipeline, playEventsRunner, waitForCommitted, type Pipeline } from '../harness/pipeline.js';
import { committedRecords } from '../lib/kafka/topics-admin.js';
import { checkAgainstTruth, type Check } from '../harness/truth-check.js';
import { writeResults } from './results-file.js';

export const MARATHON_PROCESSORS = [
  'raw-events',
  'view-counts',
  'engagement',
  'recommendations',
] as const satisfies readonly ProcessorName[];

/** Exact engagement numbers beyond harness/truth-check.ts: sessions, plays, watch time, retention coverage. */
export async function engagementChecks(p: Pipeline, truth: TruthReport): Promise<Check[]> {
  const t = v.table(p.database, TABLES.sessions);
  const [s] = await queryRows<{ n: string; plays: string; watch: string }>(
    p.clickhouse,
    sql`SELECT count() AS n, sum(plays) AS plays, sum(watch_ms) AS watch FROM ${t} FINAL`,
  );
  const rows = await queryRows<{ video_id: string; bucket: number; n: string }>(
    p.clickhouse,
    sql`SELECT video_id, arrayJoin(covered) AS bucket, count() AS n FROM ${t} FINAL
        WHERE counted_view = 1 GROUP BY video_id, bucket`,
  );
  const views = await queryRows<{ video_id: string; n: string }>(
    p.clickhouse,
    sql`SELECT video_id, count() AS n FROM ${t} FINAL WHERE counted_view = 1 GROUP BY video_id`,
  );
  const cover = new Map(rows.map((r) => [`${r.video_id}|${r.bucket}`, Number(r.n)]));
  const viewsBy = new Map(views.map((r) => [r.video_id, Number(r.n)]));
  let differ = 0;
  for (const x of truth.retention) {
    if ((viewsBy.get(x.video_id) ?? 0) !== x.views) differ++;
    for (let b = 0; b <= 100; b++) if ((cover.get(`${x.video_id}|${b}`) ?? 0) !== x.covering[b]) differ++;
  }
  const exact = (name: string, got: number, want: number): Check => ({
    name,
    got: String(got),
    want: String(want),
    ok: got === want,
  });
  return [
    exact('engagement: sessions', Number(s?.n ?? 0), truth.totals.sessions),
    exact('engagement: plays', Number(s?.plays ?? 0), truth.totals.plays),
    exact('engagement: watch time (ms)', Number(s?.watch ?? 0), truth.totals.watch_ms),
    exact('engagement: retention cells (video views, video × percent) that differ', differ, 0),
  ];
}

/** Everything the recommendations read, as ClickHouse's uniqExact states count it. */
async function coviewCounts(p: Pipeline, database: string): Promise<Record<string, unknown[]>> {
  const q = <T>(f: ReturnType<typeof sql>): Promise<T[]> => queryRows<T>(p.clickhouse, f);
  return {
    'pair-days': await q(
      sql`SELECT toString(day) AS day, video_id, related_id, uniqExactMerge(viewers) AS n
          FROM ${v.table(database, TABLES.recommendationPairsDaily)}
          GROUP BY day, video_id, related_id ORDER BY day, video_id, related_id`,
    ),
    'video-days': await q(
      sql`SELECT toString(day) AS day, video_id, uniqExactMerge(viewers) AS n
          FROM ${v.table(database, TABLES.recommendationVideosDaily)}
          GROUP BY day, video_id ORDER BY day, video_id`,
    ),
    'viewer-days': await q(
      sql`SELECT toString(day) AS day, uniqExactMerge(viewers) AS n
          FROM ${v.table(database, TABLES.recommendationViewersDaily)} GROUP BY day ORDER BY day`,
    ),
    'late events': await q(
      sql`SELECT kafka_partition, kafka_offset, event_id, video_id, reason
          FROM ${v.table(database, TABLES.lateEvents)} FINAL
          WHERE processor = 'recommendations' ORDER BY kafka_partition, kafka_offset`,
    ),
  };
}

/** The recommendations in the pipeline's database against those of a clean run in `cleanDb`: rows that differ. */
export async function recommendationChecks(p: Pipeline, cleanDb: string): Promise<Check[]> {
  const got = await coviewCounts(p, p.database);
  const want = await coviewCounts(p, cleanDb);
  const checks: Check[] = [];
  for (const kind of Object.keys(want)) {
    const g = new Set(got[kind]!.map((r) => JSON.stringify(r)));
    const w = new Set(want[kind]!.map((r) => JSON.stringify(r)));
    let differ = 0;
    for (const x of w) if (!g.has(x)) differ++;
    for (const x of g) if (!w.has(x)) differ++;
    checks.push({
      name: `recommendations: ${kind} that differ from a clean run (of ${w.size})`,
      got: String(differ),
      want: '0',
      ok: differ === 0,
    });
  }
  const pairs = want['pair-days']!.length;
  checks.push({
    name: 'recommendations: pair-days in the clean run',
    got: String(pairs),
    want: '> 1000',
    ok: pairs > 1000,
  });
  return checks;
}

/** The clean run the recommendations are compared with: this process, its own group, into `cleanDb`. */
export async function cleanRecommendations(p: Pipeline, cleanDb: string, timeoutMs = 900_000): Promise<void> {
  const groupId = `${p.prefix}clean-recommendations`;
  const clean = playEventsRunner(p, recommendations(), { groupId, database: cleanDb });
  await clean.start();
  try {
    await waitForCommitted(p.kafka, groupId, p.topics.playEvents, timeoutMs);
  } finally {
    await clean.stop();
  }
}

/** Every check of the marathon: the truth, the exact engagement counts, the clean recommendations. */
export async function marathonChecks(p: Pipeline, truth: TruthReport, cleanDb: string): Promise<Check[]> {
  return [
    ...(await checkAgainstTruth(p.clickhouse, p.database, truth)),
    ...(await engagementChecks(p, truth)),
    ...(await recommendationChecks(p, cleanDb)),
  ];
}

/**
 * Deletes every topic of the pipeline's prefix — also the processors' state changelogs, which
 * Pipeline.cleanup does not know (it deletes the topics of schemas/topics.ts).
 */
export async function deletePrefixedTopics(p: Pipeline): Promise<void> {
  const admin = p.kafka.admin();
  await admin.connect();
  try {
    const mine = (await admin.listTopics()).filter((t) => t.startsWith(p.prefix));
    if (mine.length) await admin.deleteTopics({ topics: mine });
  } finally {
    await admin.disconnect();
  }
}

/**
 * The pump's sleep (generator/run.ts PumpOptions.sleep): paced until `hurry()`, then no more
 * waiting — so records keep arriving at the pump's rate for as long as the kills go on, and the
 * rest follows at full speed once they are over, whatever this machine's speed.
 */
export function pacer(): { sleep: (ms: number) => Promise<void>; hurry: () => void } {
  let hurrying = false;
  const waiting = new Set<() => void>();
  return {
    sleep: (ms) =>
      hurrying
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            const wake = (): void => {
              clearTimeout(timer);
              waiting.delete(wake);
              resolve();
            };
            const timer = setTimeout(wake, ms);
            waiting.add(wake);
          }),
    hurry: () => {
      hurrying = true;
      for (const wake of [...waiting]) wake();
    },
  };
}

/** Calls `then` once `n` calls of the returned function were made. */
export function countdown(n: number, then: () => void): () => void {
  let left = n;
  return () => {
    if (--left === 0) then();
  };
}

export const checkTable = (checks: readonly Check[]): string =>
  checks.map((c) => `${c.ok ? 'ok  ' : 'FAIL'}  ${c.name}: ${c.got} (want ${c.want})`).join('\n');

// ---- the benchmark ----

const log = (line: string): void => console.error(`[bench:kill-marathon] ${line}`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Child {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** `viewpulse run processors --only NAME` with its logs (info) kept and appended to `logFile`. */
function spawnProcessor(name: string, p: Pipeline, logFile: string): Child {
  const child = spawn(
    process.execPath,
    [join(projectRoot, 'bin', 'viewpulse.js'), 'run', 'processors', '--only', name, '--metrics-port', '-1'],
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
  return { child, output: () => out, exited };
}

const running = (c: Child): boolean => c.child.exitCode === null && c.child.signalCode === null;

async function waitForLog(c: Child, msg: string, timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!c.output().includes(`"msg":"${msg}"`)) {
    if (!running(c)) throw new Error(`the processor exited:\n${c.output().slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`no "${msg}" within ${timeoutMs / 1000} s:\n${c.output().slice(-3000)}`);
    await sleep(50);
  }
}

interface Progress {
  committed: number;
  inTopic: number;
}

/** Records committed by the processor's group, and in the topic. */
async function progress(p: Pipeline, name: string): Promise<Progress> {
  const ends = await endOffsets(p.kafka, p.topics.playEvents);
  return {
    committed: await committedRecords(p.kafka, groupIdOf(p.prefix, name), p.topics.playEvents),
    inTopic: [...ends.values()].reduce((a, b) => a + b, 0),
  };
}

/** Partitions the instance was assigned and has restored so far, from its log. */
function restoredOf(output: string): { assigned: number; restored: number } | undefined {
  const at = output.lastIndexOf('"msg":"assigned"');
  if (at < 0) return undefined;
  const line = output.slice(output.lastIndexOf('\n', at) + 1, output.indexOf('\n', at));
  const assigned = (/"partitions":\[([^\]]*)\]/.exec(line)?.[1] ?? '').split(',').filter(Boolean).length;
  return { assigned, restored: output.slice(at).split('"msg":"partition state restored"').length - 1 };
}

/**
 * Once the instance was assigned its n partitions and restored k of them (each on its first
 * batch), k = ⌊share · (n + 1)⌋ in 0..n for `share` in [0, 1) — or nothing is left to read (then
 * no batch comes).
 */
async function untilRestored(
  p: Pipeline,
  c: Child,
  name: string,
  share: number,
  done: () => boolean,
  timeoutMs = 300_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let asked = 0;
  for (;;) {
    const r = restoredOf(c.output());
    if (r && r.restored >= Math.floor(share * (r.assigned + 1))) return;
    if (!running(c)) throw new Error(`the processor exited:\n${c.output().slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`it did not start working:\n${c.output().slice(-3000)}`);
    if (r && done() && Date.now() - asked > 1_000) {
      asked = Date.now();
      const x = await progress(p, name);
      if (x.committed >= x.inTopic) return;
    }
    await sleep(50);
  }
}

type Phase = 'restoring' | 'processing' | 'caught up';

interface Marathon {
  kills: { after_ms: number; phase: Phase; checkpointed: boolean; committed: number; in_topic: number }[];
  restored_from_checkpoint: number;
  /** crashes the runtime handled inside a process (logged "consumer crashed; restarting …") */
  crashes_inside: number;
  exit_code: number | null;
}

/** K × (start, wait until it works, a random moment, kill -9); once every record is in Kafka, run to the end and SIGTERM. */
async function marathon(
  p: Pipeline,
  name: ProcessorName,
  o: {
    kills: number;
    seed: number;
    logDir: string;
    pumping: Promise<unknown>;
    pumped: () => boolean;
    killed: () => void;
  },
  live: Set<Child>,
): Promise<Marathon> {
  const r = new Rng(o.seed);
  const logFile = join(o.logDir, `${name}.log`);
  const start = (): Child => {
    const c = spawnProcessor(name, p, logFile);
    live.add(c);
    void c.exited.then(() => live.delete(c));
    return c;
  };
  const kills: Marathon['kills'] = [];
  let restored = 0;
  let crashes = 0;
  const count = (out: string): number =>
    (out.match(/"checkpoint":[0-9]+,"msg":"partition state restored"/g) ?? []).length;
  let instance = start();
  while (kills.length < o.kills) {
    await untilRestored(p, instance, name, r.next(), o.pumped);
    const after = Math.round(100 * 30 ** r.next()); // 0.1–3 s, log-uniform
    await sleep(after);
    const at = restoredOf(instance.output())!;
    const phase: Phase = at.restored < at.assigned ? 'restoring' : 'processing';
    instance.child.kill('SIGKILL');
    await instance.exited;
    const x = await progress(p, name);
    const caughtUp = o.pumped() && x.committed >= x.inTopic;
    kills.push({
      after_ms: after,
      phase: caughtUp ? 'caught up' : phase,
      checkpointed: x.committed > (kills.at(-1)?.committed ?? 0),
      committed: x.committed,
      in_topic: x.inTopic,
    });
    restored += count(instance.output());
    crashes += instance.output().split('"msg":"consumer crashed').length - 1;
    log(
      `${name}: kill ${kills.length} (${phase}, ${at.restored}/${at.assigned} partitions restored, ` +
        `${x.committed} of ${x.inTopic} records committed)`,
    );
    instance = start();
  }
  o.killed();
  await o.pumping;
  // fail fast (with its log) when the last instance gives up instead of catching up
  let caught = false;
  const gaveUp = instance.exited.then((code) => {
    if (!caught) throw new Error(`${name} exited (${code}) before it caught up:\n${instance.output().slice(-3000)}`);
  });
  try {
    await Promise.race([waitForCommitted(p.kafka, groupIdOf(p.prefix, name), p.topics.playEvents, 3_600_000), gaveUp]);
  } finally {
    caught = true;
  }
  await waitForLog(instance, 'processors running');
  instance.child.kill('SIGTERM');
  const exitCode = await instance.exited;
  restored += count(instance.output());
  crashes += instance.output().split('"msg":"consumer crashed').length - 1;
  return { kills, restored_from_checkpoint: restored, crashes_inside: crashes, exit_code: exitCode };
}

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
  const live = new Set<Child>();
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
          marathon(p, name, { kills: KILLS, seed: 900 + n, logDir, pumping, pumped: () => pumped, killed }, live),
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
        MARATHON_PROCESSORS.map((name, n) => [name, runs[n]!.kills.filter((k) => k.checkpointed).length]),
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
