// `viewpulse replay` on the real Kafka and ClickHouse, as docs/semantics.md ("Rule parameters")
// and README ("Replaying") promise: traffic counted live under the 30 s view threshold is rebuilt
// under 10 s into a shadow database while the live processors keep running; --diff shows what
// changed; a replay killed with SIGKILL resumes and still counts exactly; --swap swaps the tables
// in and hands the live processors over, which then go on counting new traffic under the new
// rule, with no gap and nothing counted twice. Every number is compared with the generator's
// truth under the same parameters.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateTraffic, type TruthReport } from '../../generator/index.js';
import { catalogRows, pumpIntoKafka, seedAndPump, seedCatalog } from '../../harness/dataset.js';
import { pipeline, type Pipeline } from '../../harness/pipeline.js';
import { checkAgainstTruth, unionTruth } from '../../harness/truth-check.js';
import { projectRoot } from '../../infra/paths.js';
import { exec, queryRows } from '../../lib/clickhouse/client.js';
import { migrate } from '../../lib/clickhouse/migrations.js';
import { sql, v } from '../../lib/clickhouse/sql.js';
import { createLogger } from '../../lib/logger.js';
import { committedRecords, waitForCommittedRecords } from '../../lib/kafka/topics-admin.js';
import { ruleParameters, type RuleParameters } from '../../processors/parameters.js';
import { currentGenerations } from '../../runtime/generations.js';
import { diffTables } from '../../runtime/replay-diff.js';
import { Replay, type ReplayRequest } from '../../runtime/replay.js';
import { processorRuntime, runProcessors, type RunningProcessors } from '../../runtime/start.js';
import { TABLES } from '../../schemas/tables.js';
import { testNow } from '../clock.js';

const EVENTS = 30_000;
const TEN_S = ruleParameters({ viewThresholdMs: 10_000 });
const MIGRATIONS = join(projectRoot, 'schemas', 'clickhouse');

let p: Pipeline;
let truth30: TruthReport;
let truth10: TruthReport;
/** When the traffic after the swap began to be written (its records' Kafka timestamps are later). */
let secondPumpAt = 0;
const live = new Set<RunningProcessors>();

const failing = (checks: Awaited<ReturnType<typeof checkAgainstTruth>>): string[] =>
  checks.filter((c) => !c.ok).map((c) => `${c.name}: got ${c.got}, want ${c.want}`);

const HOUR = 3_600_000;
/** Traffic of `seed`: two hours of visits; `phase` 1 starts 6 h after phase 0's, when all of it has ended. */
const options = (seed: number, phase: 0 | 1) => ({
  events: EVENTS,
  seed,
  start: testNow() - 12 * HOUR + phase * 6 * HOUR,
  spanMs: 2 * HOUR,
});
const traffic = (seed: number, phase: 0 | 1) => generateTraffic(options(seed, phase));

/** What the generator says the same traffic implies under `rules` (docs/semantics.md, its own implementation). */
function truthUnder(seed: number, phase: 0 | 1, rules: RuleParameters): TruthReport {
  const t = generateTraffic({ ...options(seed, phase), rules });
  for (const d of t.deliveriesSync()) void d;
  return t.truth();
}

async function replay(req: Partial<ReplayRequest> & Pick<ReplayRequest, 'processors' | 'shadowDatabase'>) {
  const config = p.testConfig;
  const logger = createLogger('warn');
  const runtime = await processorRuntime(config, logger);
  try {
    return await new Replay({
      kafka: runtime.kafka,
      migrate: (database) => migrate(runtime.clickhouse, database, MIGRATIONS),
      clickhouse: runtime.clickhouse,
      database: p.database,
      topicPrefix: p.prefix,
      topic: p.topics.playEvents,
      createRunner: (name, o) => runtime.createRunner(name, o),
      logger,
    }).run({ from: { kind: 'start' }, swap: false, fresh: false, rules: TEN_S, ...req });
  } finally {
    await runtime.close();
  }
}

describe(`viewpulse replay (${EVENTS} records, view threshold 30 s → 10 s)`, () => {
  beforeAll(async () => {
    p = await pipeline('replay', 4);
    const t = traffic(41, 0);
    await seedAndPump(p, t);
    truth30 = t.truth();
    truth10 = truthUnder(41, 0, TEN_S);
    const running = await runProcessors(['view-counts', 'engagement', 'raw-events', 'recommendations'], {
      config: p.testConfig,
      metricsPort: -1,
    });
    live.add(running);
    const end = await topicEnd();
    for (const name of ['view-counts', 'engagement', 'raw-events', 'recommendations'])
      await waitForCommittedRecords(p.kafka, `${p.prefix}viewpulse-${name}`, p.topics.playEvents, end);
  }, 600_000);
  afterAll(async () => {
    for (const r of live) await r.stop();
    await exec(p.clickhouse, sql`DROP DATABASE IF EXISTS ${v.ident(`${p.database}_replay`)}`);
    await p.cleanup();
  });

  it('the live tables count under 30 s, and 10 s is a different answer', async () => {
    expect(failing(await checkAgainstTruth(p.clickhouse, p.database, truth30))).toEqual([]);
    expect(truth10.totals.views).toBeGreaterThan(truth30.totals.views);
  });

  it('rebuilds view-counts and engagement under 10 s into a shadow database while the live ones run; killed with SIGKILL, it resumes', async () => {
    const shadow = `${p.database}_replay`;
    const env = {
      ...process.env,
      VIEWPULSE_TOPIC_PREFIX: p.prefix,
      VIEWPULSE_CLICKHOUSE_DATABASE: p.database,
      VIEWPULSE_RULE_VIEW_THRESHOLD_MS: '10000',
      VIEWPULSE_PROCESSOR_CHECKPOINT_MS: '200',
      // the killed instance leaves the replay group after this, not the default 30 s
      VIEWPULSE_PROCESSOR_SESSION_TIMEOUT_MS: '6000',
      VIEWPULSE_LOG_LEVEL: 'warn',
    };
    const cli = (): { child: ReturnType<typeof spawn>; output: () => string } => {
      const child = spawn(
        process.execPath,
        [join(projectRoot, 'bin', 'viewpulse.js'), 'replay', 'view-counts', 'engagement', '--database', shadow],
        { env, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
      child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
      return { child, output: () => out };
    };
    const end = await topicEnd();
    const first = cli();
    // kill it once view-counts' replay group has committed part of the log, not all of it
    let group = '';
    let committed = 0;
    const deadline = Date.now() + 120_000;
    while ((committed === 0 || committed >= end) && Date.now() < deadline && first.child.exitCode === null) {
      await new Promise((r) => setTimeout(r, 20));
      if (!group) group = (await replayRow('view-counts', shadow))?.group_id ?? '';
      if (group) committed = await committedRecords(p.kafka, group, p.topics.playEvents);
    }
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));
    expect(committed, first.output()).toBeGreaterThan(0);
    expect(committed, first.output()).toBeLessThan(end);

    const second = cli();
    const code = await new Promise((r) => second.child.once('exit', r));
    expect(code, second.output()).toBe(0);
    expect(second.output()).toMatch(/view-counts: resumed replay/);
    const checks = await checkAgainstTruth(p.clickhouse, shadow, truth10);
    // the shadow has no raw events (raw-events was not replayed): only the rebuilt numbers count
    expect(failing(checks.filter((c) => !c.name.startsWith('raw-events')))).toEqual([]);
    // the live tables are untouched
    expect(failing(await checkAgainstTruth(p.clickhouse, p.database, truth30))).toEqual([]);
  }, 400_000);

  it('--diff shows the views the new rule adds, and nothing else', async () => {
    const [counts] = await diffTables(p.clickhouse, 'view-counts', p.database, `${p.database}_replay`);
    // every grain and dimension holds each view once: video and creator, minute, hour, day
    expect(counts!.totals.views).toEqual({ live: 6 * truth30.totals.views, shadow: 6 * truth10.totals.views });
    expect(counts!.totals.plays).toEqual({ live: 6 * truth30.totals.plays, shadow: 6 * truth30.totals.plays });
    expect(counts!.totals.watch_ms!.live).toBe(counts!.totals.watch_ms!.shadow);
    expect(counts!.differing).toBeGreaterThan(0);
    // views move (a session qualifies sooner, so sometimes in an earlier window); plays never do
    expect(counts!.examples.length).toBeGreaterThan(0);
    expect(counts!.examples.every((e) => e.shadow.views !== e.live.views && e.shadow.plays === e.live.plays)).toBe(
      true,
    );
    const sessions = (await diffTables(p.clickhouse, 'engagement', p.database, `${p.database}_replay`))[0]!;
    expect(sessions.totals.views).toEqual({ live: truth30.totals.views, shadow: truth10.totals.views });
    expect(sessions.totals.sessions!.live).toBe(sessions.totals.sessions!.shadow);
  }, 120_000);

  it('--swap hands the live processors over while traffic arrives: history under 10 s, new traffic counted once, under 10 s', async () => {
    const running = [...live][0]!;
    // new traffic (later in event time; other videos and viewers) flows in over ~20 s, through
    // the rebuild's catch-up, the drain, the exchange and the take-over
    secondPumpAt = Date.now();
    const second = traffic(42, 1);
    await seedCatalog(p.clickhouse, p.database, catalogRows(second));
    const pumping = pumpIntoKafka(p, second, { rate: 1_500 });
    const results = await replay({
      processors: ['view-counts', 'engagement'],
      shadowDatabase: `${p.database}_replay`,
      swap: true,
    });
    const pumped = await pumping;
    // the hand-over happened while records were still coming
    expect(pumped.elapsedMs).toBeGreaterThan(10_000);
    expect(results.map((r) => [r.processor, r.resumed, r.swapped])).toEqual([
      ['view-counts', true, true],
      ['engagement', true, true],
    ]);
    const gens = await currentGenerations(p.clickhouse, p.database);
    expect(gens.get('view-counts')).toMatchObject({ generation: 1, state: 'active', rules: TEN_S });
    expect(gens.get('engagement')).toMatchObject({ generation: 1, state: 'active', rules: TEN_S });
    // the live instances took over as the replay's groups
    for (const name of ['view-counts', 'engagement']) {
      const slot = running.runners.find((r) => r.name === name)!;
      for (let i = 0; i < 200 && slot.state !== 'running'; i++) await new Promise((r) => setTimeout(r, 100));
      expect(slot.state).toBe('running');
    }
    const both = unionTruth([truth10, truthUnder(42, 1, TEN_S)]);
    const end = await topicEnd();
    for (const name of ['view-counts', 'engagement'])
      await waitForCommittedRecords(p.kafka, gens.get(name)!.groupId, p.topics.playEvents, end);
    await waitForCommittedRecords(p.kafka, `${p.prefix}viewpulse-raw-events`, p.topics.playEvents, end);
    expect(failing(await checkAgainstTruth(p.clickhouse, p.database, both))).toEqual([]);
    // the old tables (30 s) went to the shadow database: the first traffic as it was counted live
    // (the old instances also counted part of the second one before they drained)
    const firstVideos = [...new Set(truth30.minutes.map((m) => m.video_id))];
    const [old] = await queryRows<{ n: string }>(
      p.clickhouse,
      sql`SELECT count() AS n FROM ${v.table(`${p.database}_replay`, TABLES.sessions)} FINAL
          WHERE counted_view = 1 AND video_id IN ${v.inList(firstVideos, 'String')}`,
    );
    expect(Number(old!.n)).toBe(truth30.totals.views);
  }, 400_000);
  it('a rebuild under unchanged rules is identical: --diff finds nothing for recommendations and raw-events', async () => {
    const live = p.topics.playEvents;
    const end = await topicEnd();
    await waitForCommittedRecords(p.kafka, `${p.prefix}viewpulse-recommendations`, live, end);
    await replay({
      processors: ['recommendations', 'raw-events'],
      shadowDatabase: `${p.database}_replay`,
      rules: ruleParameters(),
    });
    for (const processor of ['recommendations', 'raw-events'] as const) {
      const diffs = await diffTables(p.clickhouse, processor, p.database, `${p.database}_replay`);
      for (const d of diffs) {
        expect(d.keys, d.table).toBeGreaterThan(0);
        expect([d.table, d.differing, d.examples]).toEqual([d.table, 0, []]);
      }
    }
  }, 300_000);

  it('--to stops every partition at the first record at or after the time; a log cut by retention is refused', async () => {
    const admin = p.kafka.admin();
    await admin.connect();
    try {
      const offsets = await admin.fetchTopicOffsets(p.topics.playEvents);
      // --to at the moment the second traffic began: the rebuild holds exactly the first one
      const stops = await admin.fetchTopicOffsetsByTimestamp(p.topics.playEvents, secondPumpAt);
      const [result] = await replay({
        processors: ['raw-events'],
        shadowDatabase: `${p.database}_replay`,
        toMs: secondPumpAt,
      });
      const [committed] = await admin.fetchOffsets({ groupId: result!.groupId, topics: [p.topics.playEvents] });
      const byPartition = new Map(committed!.partitions.map((x) => [x.partition, Number(x.offset)]));
      for (const s of stops) {
        const high = Number(offsets.find((o) => o.partition === s.partition)!.high);
        expect(Number(s.offset)).toBeGreaterThan(0);
        expect(Number(s.offset)).toBeLessThan(high);
        expect(byPartition.get(s.partition)).toBe(Number(s.offset));
      }
      const [raw] = await queryRows<{ n: string }>(
        p.clickhouse,
        sql`SELECT count() AS n FROM ${v.table(`${p.database}_replay`, TABLES.playEvents)} FINAL`,
      );
      expect(Number(raw!.n)).toBe(truth30.counts.events);
      // retention deletes the oldest records of partition 0: a rebuild from the start is refused
      await admin.deleteTopicRecords({ topic: p.topics.playEvents, partitions: [{ partition: 0, offset: '10' }] });
      await expect(
        replay({ processors: ['raw-events'], shadowDatabase: `${p.database}_replay`, fresh: true }),
      ).rejects.toThrow(/the log no longer reaches back to its beginning: partition 0 .* starts at offset 10/);
      await expect(
        replay({
          processors: ['raw-events'],
          shadowDatabase: `${p.database}_replay`,
          fresh: true,
          from: { kind: 'time', ms: truth30.time.first_event - 3_600_000 },
        }),
      ).rejects.toThrow(/no longer reaches back to --from/);
    } finally {
      await admin.disconnect();
    }
  }, 300_000);
});

async function topicEnd(): Promise<number> {
  const admin = p.kafka.admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(p.topics.playEvents)).reduce((n, o) => n + Number(o.high), 0);
  } finally {
    await admin.disconnect();
  }
}

async function replayRow(processor: string, shadow: string): Promise<{ group_id: string } | undefined> {
  const [row] = await queryRows<{ group_id: string }>(
    p.clickhouse,
    sql`SELECT group_id FROM ${v.table(p.database, TABLES.replays)}
        WHERE processor = ${v.string(processor)} AND shadow_database = ${v.string(shadow)} LIMIT 1`,
  );
  return row;
}
