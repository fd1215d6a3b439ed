// The machinery of the kill marathons (test/faults/kill-marathon.test.ts, bench/kill-marathon.ts,
// the fault marathon): processors as child processes (harness/processes.ts) killed with SIGKILL
// at random moments while they work, the progress of their consumer groups, the paced pump,
// and the checks against the generator's truth and a clean run.
//
//   progress(p, name)                        records the group committed, and in the topic
//   restoredOf(output) / untilRestored(...)  partitions an instance was assigned and has restored
//   killAtRandomMoment(p, i, name, rng, …)   wait until it restored a random share, a random 0.1–3 s, kill -9
//   retrying(fn)                             fn, again every second while it throws (Kafka restarting)
//   runUntilCommitted(p, i, name)            the last instance: until its group committed the topic, then SIGTERM
//   marathon(p, name, o)                     K × (start, killAtRandomMoment), then runUntilCommitted
//   pacer() / countdown(n, then)             records at a rate while faults go on, full speed after them
//   marathonChecks(p, truth, cleanDb)        every check: truth, exact engagement, recommendations vs a clean run
import { join } from 'node:path';
import type { TruthReport } from '../generator/index.js';
import { Rng } from '../generator/rng.js';
import { queryRows } from '../lib/clickhouse/client.js';
import { sql, v } from '../lib/clickhouse/sql.js';
import { committedRecords } from '../lib/kafka/topics-admin.js';
import { recommendations } from '../processors/recommendations/processor.js';
import { groupIdOf, type ProcessorName } from '../runtime/registry.js';
import { TABLES } from '../schemas/tables.js';
import { endOffsets, playEventsRunner, waitForCommitted, type Pipeline } from './pipeline.js';
import { exitedEarly, kill9, sleep, spawnProcessor, started, terminate, type Instance } from './processes.js';
import { checkAgainstTruth, type Check } from './truth-check.js';

/** The processors that read play-events, each its own consumer group (catalog aside). */
export const MARATHON_PROCESSORS = [
  'raw-events',
  'view-counts',
  'engagement',
  'recommendations',
] as const satisfies readonly ProcessorName[];

export interface Progress {
  /** records the processor's group has committed */
  committed: number;
  /** records in the play-events topic */
  inTopic: number;
}

/** Records committed by the processor's group, and in the topic. */
export async function progress(p: Pipeline, name: ProcessorName): Promise<Progress> {
  const ends = await endOffsets(p.kafka, p.topics.playEvents);
  return {
    committed: await committedRecords(p.kafka, groupIdOf(p.prefix, name), p.topics.playEvents),
    inTopic: [...ends.values()].reduce((a, b) => a + b, 0),
  };
}

/** `fn`, called again every second while it throws (a broker restarting), for at most `timeoutMs`. */
export async function retrying<T>(fn: () => Promise<T>, timeoutMs = 300_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(1_000);
    }
  }
}

/** Partitions the instance was last assigned and has restored since (each on its first batch), from its log. */
export function restoredOf(output: string): { assigned: number; restored: number } | undefined {
  const at = output.lastIndexOf('"msg":"assigned"');
  if (at < 0) return undefined;
  const line = output.slice(output.lastIndexOf('\n', at) + 1, output.indexOf('\n', at));
  const assigned = (/"partitions":\[([^\]]*)\]/.exec(line)?.[1] ?? '').split(',').filter(Boolean).length;
  return { assigned, restored: output.slice(at).split('"msg":"partition state restored"').length - 1 };
}

/** Partition restores from a checkpoint in an instance's output (not from an empty state). */
export const restoresFromCheckpoint = (output: string): number =>
  (output.match(/"checkpoint":[0-9]+,"msg":"partition state restored"/g) ?? []).length;

/** Crashes the runtime handled inside a process (logged "consumer crashed; restarting …"). */
export const crashesInside = (output: string): number => output.split('"msg":"consumer crashed').length - 1;

/**
 * Resolves once the instance was assigned its n partitions and restored k of them (each on its
 * first batch), k = ⌊share · (n + 1)⌋ in 0..n for `share` in [0, 1) — or, once `allIn()` says
 * every record is in Kafka, when its group committed them all (then no batch comes).
 */
export async function untilRestored(
  p: Pipeline,
  i: Instance,
  name: ProcessorName,
  share: number,
  allIn: () => boolean,
  timeoutMs = 300_000,
): Promise<void> {
  let asked = 0;
  await pollUntil(i, name, 'did not start working', timeoutMs, 50, async () => {
    const r = restoredOf(i.output());
    if (r && r.restored >= Math.floor(share * (r.assigned + 1))) return true;
    if (!r || !allIn() || Date.now() - asked <= 1_000) return false;
    asked = Date.now();
    const x = await retrying(() => progress(p, name));
    return x.committed >= x.inTopic;
  });
}

/** Until the group committed more than `above` records (or all of them), polling twice a second. */
async function untilCommittedAbove(
  p: Pipeline,
  i: Instance,
  name: ProcessorName,
  above: number,
  timeoutMs = 300_000,
): Promise<void> {
  await pollUntil(i, name, 'did not checkpoint', timeoutMs, 500, async () => {
    const x = await retrying(() => progress(p, name));
    return x.committed > above || x.committed >= x.inTopic;
  });
}

/** `done()` every `everyMs` until it holds; throws when the instance exits meanwhile, or after `timeoutMs` (saying it `failed`). */
async function pollUntil(
  i: Instance,
  name: ProcessorName,
  failed: string,
  timeoutMs: number,
  everyMs: number,
  done: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await done()) return;
    if (exitedEarly(i)) throw new Error(`${name} exited:\n${i.output().slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`${name} ${failed}:\n${i.output().slice(-3000)}`);
    await sleep(everyMs);
  }
}

export type Phase = 'restoring' | 'processing' | 'caught up';

export interface Kill {
  processor: ProcessorName;
  /** ms after the instance had restored a random number (0..all) of its partitions */
  after_ms: number;
  /** restoring: not every assigned partition's state loaded yet; processing: all loaded; caught up: nothing left */
  phase: Phase;
  /** partitions restored / assigned at the kill */
  restored: number;
  assigned: number;
  /** records the group had committed right after the kill, and how many were in the topic then */
  committed: number;
  in_topic: number;
}

/**
 * Waits until the instance restored a random share of its partitions, then a random 0.1–3 s
 * (log-uniform: half of them within 0.5 s), and kills it with SIGKILL (`o.kill`, default
 * kill9): while partitions are restored, mid-batch, mid-checkpoint. `allIn()`: every record is
 * in Kafka (see untilRestored). Throws when the instance exits on its own meanwhile.
 */
export async function killAtRandomMoment(
  p: Pipeline,
  i: Instance,
  name: ProcessorName,
  r: Rng,
  allIn: () => boolean,
  o: { timeoutMs?: number; kill?: (i: Instance) => Promise<void>; committedAbove?: number } = {},
): Promise<Kill> {
  await untilRestored(p, i, name, r.next(), allIn, o.timeoutMs);
  if (o.committedAbove !== undefined) await untilCommittedAbove(p, i, name, o.committedAbove, o.timeoutMs);
  const after = Math.round(100 * 30 ** r.next());
  await sleep(after);
  if (exitedEarly(i)) throw new Error(`${name} exited:\n${i.output().slice(-3000)}`);
  const at = restoredOf(i.output()) ?? { assigned: 0, restored: 0 };
  await (o.kill ?? kill9)(i);
  const x = await retrying(() => progress(p, name));
  const phase: Phase =
    allIn() && x.committed >= x.inTopic ? 'caught up' : at.restored < at.assigned ? 'restoring' : 'processing';
  return { processor: name, after_ms: after, phase, ...at, committed: x.committed, in_topic: x.inTopic };
}

/**
 * The last instance of a processor: waits until its group committed the whole topic (failing
 * fast, with its log, when the instance exits instead), then stops it with SIGTERM. Returns
 * the exit code (0 for a clean stop).
 */
export async function runUntilCommitted(
  p: Pipeline,
  i: Instance,
  name: ProcessorName,
  timeoutMs = 600_000,
): Promise<number | null> {
  let caught = false;
  const gaveUp = i.exited.then((code) => {
    if (!caught) throw new Error(`${name} exited (${code}) before it caught up:\n${i.output().slice(-3000)}`);
  });
  try {
    await Promise.race([waitForCommitted(p.kafka, groupIdOf(p.prefix, name), p.topics.playEvents, timeoutMs), gaveUp]);
  } finally {
    caught = true;
  }
  // the last instance may still be starting when an earlier one already committed everything
  await started(i);
  return terminate(i);
}

export interface MarathonRun {
  kills: Kill[];
  /** every instance's output, in order */
  outputs: string[];
  restored_from_checkpoint: number;
  crashes_inside: number;
  /** of the last instance, stopped with SIGTERM */
  exit_code: number | null;
}

export interface MarathonOptions {
  kills: number;
  seed: number;
  /** Each instance's output is appended to `<logDir>/<name>.log`. */
  logDir: string;
  /** Settles once every record is in Kafka. */
  pumping: Promise<unknown>;
  /** True once every record is in Kafka. */
  pumped: () => boolean;
  /** Called once this processor's kills are done. */
  killed?: () => void;
  onKill?: (k: Kill, n: number) => void;
  /** Every instance started goes in here until it exits (so a failed run can kill what is left). */
  live?: Set<Instance>;
  timeoutMs?: number;
}

/** Starts a processor instance that is kept in `live` while it runs. */
export function spawnTracked(p: Pipeline, name: ProcessorName, logFile: string, live?: Set<Instance>): Instance {
  const i = spawnProcessor(name, p.testConfig, {}, logFile);
  live?.add(i);
  void i.exited.then(() => live?.delete(i));
  return i;
}

/** K × (start, wait until it works, a random moment, kill -9); once every record is in Kafka, run to the end and SIGTERM. */
export async function marathon(p: Pipeline, name: ProcessorName, o: MarathonOptions): Promise<MarathonRun> {
  const r = new Rng(o.seed);
  const logFile = join(o.logDir, `${name}.log`);
  const kills: Kill[] = [];
  const outputs: string[] = [];
  let instance = spawnTracked(p, name, logFile, o.live);
  while (kills.length < o.kills) {
    // Every third kill waits until the instance has checkpointed (its group committed more than
    // at the kill before), so rows written past a checkpoint are replayed often, whatever this
    // machine's speed: a slow processor's first checkpoint can come after the other kills.
    const committedAbove = kills.length % 3 === 2 ? (kills.at(-1)?.committed ?? 0) : undefined;
    const k = await killAtRandomMoment(p, instance, name, r, o.pumped, { timeoutMs: o.timeoutMs, committedAbove });
    kills.push(k);
    outputs.push(instance.output());
    o.onKill?.(k, kills.length);
    instance = spawnTracked(p, name, logFile, o.live);
  }
  o.killed?.();
  await o.pumping;
  const exitCode = await runUntilCommitted(p, instance, name, o.timeoutMs ?? 3_600_000);
  outputs.push(instance.output());
  const all = outputs.join('\n');
  return {
    kills,
    outputs,
    restored_from_checkpoint: restoresFromCheckpoint(all),
    crashes_inside: crashesInside(all),
    exit_code: exitCode,
  };
}

/** Kills after which the group had committed more than at the kill before (the instance checkpointed). */
export const killsAfterACheckpoint = (kills: readonly Kill[]): number =>
  kills.filter((k, n) => k.committed > (n > 0 ? kills[n - 1]!.committed : 0)).length;

/**
 * The pump's sleep (generator/run.ts PumpOptions.sleep): paced until `hurry()`, then no more
 * waiting — so records keep arriving at the pump's rate for as long as the faults go on, and
 * the rest follows at full speed once they are over, whatever this machine's speed.
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

// ---- the checks ----

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

/** Every check of a marathon: the truth, the exact engagement counts, the clean recommendations. */
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

export const checkTable = (checks: readonly Check[]): string =>
  checks.map((c) => `${c.ok ? 'ok  ' : 'FAIL'}  ${c.name}: ${c.got} (want ${c.want})`).join('\n');
