// The kill marathon (issue 9): each play-events processor — raw-events, view-counts,
// engagement, recommendations — runs as its own child process and is killed with SIGKILL at
// random moments, KILLS times, restarted each time; all four at once, over one topic of
// generated records that arrive live for as long as the kills go on (so there is always work
// under way, whatever this machine's speed) and at full speed after them. Each kill comes a
// random 0.1–3 s (log-uniform: half of them within 0.5 s) after the new instance was assigned
// its n partitions and restored a random k = 0..n of them (each on its first batch, from its
// checkpoint): while partitions are restored, mid-batch (the backlog of the downtime, then live
// records) and mid-checkpoint (one every second). Then the last instance runs to the end and
// stops cleanly, and ClickHouse must equal the generator's truth exactly (harness/truth-check.ts,
// plus exact session, watch-time and retention-coverage counts), and the recommendations' co-view
// counts those of a clean run over the same records into another database.
//
// The records go straight into Kafka with the catalog seeded into ClickHouse (harness/dataset.ts):
// the collector is not under test here (the processors read the same Kafka records either way;
// test/faults/processors.test.ts covers that path), and the paced pump is what keeps every kill
// mid-run. Children's logs: .viewpulse/logs/kill-marathon/. The checks, the clean run and the
// pacer are bench/kill-marathon.ts's (the same marathon at 1,000,000 records), which may not
// import test/; their natural home, harness/, was out of this change's reach.
//
//   VIEWPULSE_MARATHON_EVENTS (default 150000), VIEWPULSE_MARATHON_KILLS (default 20),
//   VIEWPULSE_MARATHON_PUMP_SECONDS (default 300: while the kills go on, the records arrive at
//   EVENTS / that per second; the rest at full speed once they are over)
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateTraffic, type Traffic } from '../../generator/index.js';
import { projectRoot, stateDir } from '../../infra/paths.js';
import { exec } from '../../lib/clickhouse/client.js';
import { migrate } from '../../lib/clickhouse/migrations.js';
import { sql, v } from '../../lib/clickhouse/sql.js';
import { groupIdOf, type ProcessorName } from '../../runtime/registry.js';
import { catalogRows, pumpIntoKafka, seedCatalog } from '../../harness/dataset.js';
import { endOffsets, pipeline, waitForCommitted, type Pipeline } from '../../harness/pipeline.js';
import { committedRecords } from '../../lib/kafka/topics-admin.js';
import {
  checkTable,
  cleanRecommendations,
  countdown,
  deletePrefixedTopics,
  marathonChecks,
  MARATHON_PROCESSORS,
  pacer,
} from '../../bench/kill-marathon.js';
import { rng } from '../unit/processors/fixtures.js';
import { testNow } from '../clock.js';
import { kill9, sleep, spawnProcessor, started, terminate, type Instance } from './processes.js';

const EVENTS = Number(process.env.VIEWPULSE_MARATHON_EVENTS ?? 150_000);
const KILLS = Number(process.env.VIEWPULSE_MARATHON_KILLS ?? 20);
const PUMP_SECONDS = Number(process.env.VIEWPULSE_MARATHON_PUMP_SECONDS ?? 300);
/** A kill comes this long (log-uniform) after the instance restored a random number (0..all) of its partitions. */
const KILL_AFTER_MS: [number, number] = [100, 3_000];

let p: Pipeline;
let cleanDb: string;
let traffic: Traffic;
/** Set once every record is in Kafka. */
let pumped = false;
const live = new Set<Instance>();
const logDir = stateDir('logs', 'kill-marathon');

type Phase = 'restoring' | 'processing' | 'caught up';
interface Kill {
  /** ms after the instance had restored a random number (0..all) of its partitions */
  after: number;
  /** restoring: not every assigned partition's state loaded yet; processing: all loaded; caught up: nothing left */
  phase: Phase;
  /** the instance checkpointed (and so committed) before it was killed */
  checkpointed: boolean;
  /** records the group had committed right after the kill, and how many were in the topic then */
  committed: number;
  inTopic: number;
}

const spawn = (name: string): Instance => {
  const i = spawnProcessor(name, p.testConfig);
  live.add(i);
  void i.exited.then(() => live.delete(i));
  return i;
};

const exitedEarly = (i: Instance): boolean => i.child.exitCode !== null || i.child.signalCode !== null;

/** Records committed by the processor's group, and in the topic. */
async function progress(name: string): Promise<{ committed: number; inTopic: number }> {
  const ends = await endOffsets(p.kafka, p.topics.playEvents);
  return {
    committed: await committedRecords(p.kafka, groupIdOf(p.prefix, name), p.topics.playEvents),
    inTopic: [...ends.values()].reduce((a, b) => a + b, 0),
  };
}

const caughtUp = (x: { committed: number; inTopic: number }): boolean => pumped && x.committed >= x.inTopic;

/** Partitions the instance was assigned and has restored so far, from its log. */
function restoredOf(output: string): { assigned: number; restored: number } | undefined {
  const at = output.lastIndexOf('"msg":"assigned"');
  if (at < 0) return undefined;
  const line = output.slice(output.lastIndexOf('\n', at) + 1, output.indexOf('\n', at));
  const assigned = (/"partitions":\[([^\]]*)\]/.exec(line)?.[1] ?? '').split(',').filter(Boolean).length;
  return { assigned, restored: output.slice(at).split('"msg":"partition state restored"').length - 1 };
}

/**
 * Resolves once the instance was assigned its n partitions and restored k of them (each on its
 * first batch), k = ⌊share · (n + 1)⌋ in 0..n for `share` in [0, 1) — or nothing is left to read
 * (then no batch comes).
 */
async function untilRestored(i: Instance, name: string, share: number, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let asked = 0;
  for (;;) {
    const r = restoredOf(i.output());
    if (r && r.restored >= Math.floor(share * (r.assigned + 1))) return;
    if (exitedEarly(i)) throw new Error(`the processor exited:\n${i.output().slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`the processor did not start working:\n${i.output().slice(-3000)}`);
    if (r && Date.now() - asked > 1_000) {
      asked = Date.now();
      if (caughtUp(await progress(name))) return;
    }
    await sleep(50);
  }
}

/**
 * KILLS × (start, wait until it works, a random moment, kill -9), then — once every record is
 * in Kafka — run to the end and stop cleanly.
 */
async function marathon(
  name: ProcessorName,
  seed: number,
  pumping: Promise<unknown>,
  killed: () => void,
): Promise<{ kills: Kill[]; outputs: string[] }> {
  const r = rng(seed);
  const kills: Kill[] = [];
  const outputs: string[] = [];
  const logFile = join(logDir, `${name}.log`);
  writeFileSync(logFile, '');
  const ended = (i: Instance): void => {
    outputs.push(i.output());
    appendFileSync(logFile, `=== instance ${outputs.length}\n${i.output()}\n`);
  };
  let instance = spawn(name);
  while (kills.length < KILLS) {
    await untilRestored(instance, name, r());
    const after = Math.round(KILL_AFTER_MS[0] * (KILL_AFTER_MS[1] / KILL_AFTER_MS[0]) ** r());
    await sleep(after);
    const at = restoredOf(instance.output())!;
    const phase: Phase = at.restored < at.assigned ? 'restoring' : 'processing';
    await kill9(instance);
    const x = await progress(name);
    const checkpointed = x.committed > (kills.at(-1)?.committed ?? 0);
    kills.push({ after, phase: caughtUp(x) ? 'caught up' : phase, checkpointed, ...x });
    ended(instance);
    instance = spawn(name);
  }
  killed();
  await pumping;
  // fail fast (with its log) when the last instance gives up instead of catching up
  let caught = false;
  const gaveUp = instance.exited.then((code) => {
    if (!caught) throw new Error(`${name} exited (${code}) before it caught up:\n${instance.output().slice(-3000)}`);
  });
  try {
    await Promise.race([waitForCommitted(p.kafka, groupIdOf(p.prefix, name), p.topics.playEvents, 300_000), gaveUp]);
  } finally {
    caught = true;
  }
  // the last instance may still be starting when an earlier one already committed everything
  await started(instance);
  expect(await terminate(instance), instance.output().slice(-3000)).toBe(0);
  ended(instance);
  return { kills, outputs };
}

describe(`kill marathon (${EVENTS} generated records, ${KILLS} kills of each processor)`, () => {
  beforeAll(async () => {
    p = await pipeline('marathon', 4);
    cleanDb = `${p.database}_clean`;
    await migrate(p.clickhouse, cleanDb, join(projectRoot, 'schemas', 'clickhouse'));
    traffic = generateTraffic({ events: EVENTS, seed: 20, now: testNow() });
    for (const db of [p.database, cleanDb]) await seedCatalog(p.clickhouse, db, catalogRows(traffic));
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
      Promise.all(MARATHON_PROCESSORS.map((name, n) => marathon(name, 900 + n, pumping, killed))),
      pumping,
    ]);
    const killSeconds = (Date.now() - t0) / 1000;
    const total = (await progress('raw-events')).inTopic;

    // the reference for the co-view graph: a clean run over the same records, into another database
    await cleanRecommendations(p, cleanDb, 300_000);
    const checks = await marathonChecks(p, traffic.truth(), cleanDb);
    const seconds = (Date.now() - t0) / 1000;
    const summary = MARATHON_PROCESSORS.map((name, n) => {
      const k = runs[n]!.kills;
      const by = (ph: Phase): number => k.filter((x) => x.phase === ph).length;
      const crashes = runs[n]!.outputs.join('\n').split('"msg":"consumer crashed').length - 1;
      return (
        `${name} ${k.length} kills (${by('restoring')} restoring, ${by('processing')} processing, ` +
        `${by('caught up')} caught up; ${k.filter((x) => x.checkpointed).length} after a checkpoint of that instance; ` +
        `${crashes} crashes inside the process)`
      );
    }).join('; ');
    console.log(
      `[kill marathon] ${total} records, 4 partitions, arriving at ${rate}/s during the kills: ${summary}; ` +
        `kills and catch-up ${killSeconds.toFixed(0)} s, with the clean run and the checks ${seconds.toFixed(0)} s`,
    );
    console.log(`[kill marathon] checks:\n${checkTable(checks)}`);

    expect(checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.got} (want ${c.want})`)).toEqual([]);
    for (const [n, name] of MARATHON_PROCESSORS.entries()) {
      const { kills, outputs } = runs[n]!;
      expect(kills.length, name).toBe(KILLS);
      // the kills came mid-run (with records still to do), and restarts resumed from checkpoints
      const midRun = kills.filter((k) => k.phase !== 'caught up').length;
      expect(midRun, `${name}: ${JSON.stringify(kills)}`).toBeGreaterThanOrEqual(KILLS / 2);
      // ... many of them after that instance had checkpointed (rows written past a checkpoint, replayed)
      expect(kills.filter((k) => k.checkpointed).length, name).toBeGreaterThanOrEqual(KILLS / 4);
      const resumed = outputs.join('\n').match(/"checkpoint":[0-9]+,"msg":"partition state restored"/g) ?? [];
      expect(resumed.length, `${name}: partitions restored from a checkpoint`).toBeGreaterThanOrEqual(KILLS / 2);
    }
  }, 900_000);
});
