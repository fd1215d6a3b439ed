// The recommendations processor killed with SIGKILL mid-run, again and again, and restarted:
// its pair and video counts must equal those of a clean run over the same Kafka records.
// The crashed run writes to one database, the clean run (the same topic, read again from
// offset 0 by a fresh consumer group) to another. Progress is read from the processor's
// checkpoints in ClickHouse (what a restart trusts), not from Kafka's committed offsets.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { relatedVideos, videoAudiences } from '../../api/queries/recommendations.js';
import { ProcessorRunner } from '../../runtime/runner.js';
import { recommendations } from '../../processors/recommendations/processor.js';
import type { PlayEvent } from '../../schemas/types.js';
import { generateTraffic } from '../../generator/index.js';
import { projectRoot } from '../../infra/paths.js';
import { exec, queryRows } from '../../lib/clickhouse/client.js';
import { migrate } from '../../lib/clickhouse/migrations.js';
import { sql, v } from '../../lib/clickhouse/sql.js';
import type { Config } from '../../lib/config.js';
import { dayOf } from '../../processors/recommendations/coview.js';
import { TABLES } from '../../schemas/tables.js';
import { rng } from '../unit/processors/fixtures.js';
import { seedAndPump } from '../../harness/dataset.js';
import { endOffsets, pipeline, playEventsRunner, type Pipeline } from '../../harness/pipeline.js';
import { kill9, sleep, spawnProcessor, started, terminate, type Instance } from './processes.js';
import { committedRecords, waitForCommittedRecords } from '../../lib/kafka/topics-admin.js';
import type { Db } from '../../api/queries/db.js';
import { testNow } from '../clock.js';
import { groupIdOf } from '../../runtime/registry.js';

const EVENTS = Number(process.env.VIEWPULSE_RECS_FAULT_EVENTS ?? 400_000);
const KILLS = 5;

let p: Pipeline;
let crashDb: string;
let instance: Instance | undefined;
const main = (): Db => ({ clickhouse: p.clickhouse, database: p.database });
const crash = (): Db => ({ clickhouse: p.clickhouse, database: crashDb });
/** The killed instance's consumer group (the configuration's prefix). */
const crashGroup = (): string => groupIdOf(p.prefix, 'recommendations');
let asOf: string;

/** Everything the recommendations read, as ClickHouse's uniqExact states count it. */
async function counts(database: string): Promise<Record<string, unknown[]>> {
  const q = <T>(f: ReturnType<typeof sql>): Promise<T[]> => queryRows<T>(p.clickhouse, f);
  return {
    pairs: await q(
      sql`SELECT toString(day) AS day, video_id, related_id, uniqExactMerge(viewers) AS n
          FROM ${v.table(database, TABLES.recommendationPairsDaily)}
          GROUP BY day, video_id, related_id ORDER BY day, video_id, related_id`,
    ),
    videos: await q(
      sql`SELECT toString(day) AS day, video_id, uniqExactMerge(viewers) AS n
          FROM ${v.table(database, TABLES.recommendationVideosDaily)}
          GROUP BY day, video_id ORDER BY day, video_id`,
    ),
    viewers: await q(
      sql`SELECT toString(day) AS day, uniqExactMerge(viewers) AS n
          FROM ${v.table(database, TABLES.recommendationViewersDaily)} GROUP BY day ORDER BY day`,
    ),
    late: await q(
      sql`SELECT kafka_partition, kafka_offset, event_id, video_id, reason
          FROM ${v.table(database, TABLES.lateEvents)} FINAL
          WHERE processor = 'recommendations' ORDER BY kafka_partition, kafka_offset`,
    ),
  };
}

/** The recommendations processor in this process, with its own consumer group. */
function cleanRunner(): ProcessorRunner<PlayEvent> {
  return playEventsRunner(p, recommendations(), { groupId: `${p.prefix}clean-recommendations` });
}

describe(`recommendations under SIGKILL (${EVENTS} generated records)`, () => {
  beforeAll(async () => {
    p = await pipeline('recfaults', 4);
    crashDb = `${p.database}_k`;
    await migrate(p.clickhouse, crashDb, join(projectRoot, 'schemas', 'clickhouse'));
    const traffic = generateTraffic({ events: EVENTS, seed: 12, spanMs: 2 * 86_400_000, now: testNow() });
    await seedAndPump(p, traffic, { chunk: 2000, databases: [p.database, crashDb] });
    asOf = dayOf(traffic.truth().time.last_event);
  }, 600_000);
  afterAll(async () => {
    // a failed test leaves no processor behind
    if (instance && instance.child.exitCode === null && instance.child.signalCode === null) await kill9(instance);
    await exec(p.clickhouse, sql`DROP DATABASE IF EXISTS ${v.ident(crashDb)}`);
    await p.cleanup();
  });

  it(`killed with SIGKILL up to ${KILLS} times mid-run, it ends with exactly the pair counts of a clean run`, async () => {
    const total = [...(await endOffsets(p.kafka, p.topics.playEvents)).values()].reduce((a, b) => a + b, 0);
    const crashConfig: Config = { ...p.testConfig, clickhouse: { ...p.testConfig.clickhouse, database: crashDb } };
    const r = rng(17);
    const progress: number[] = [];
    const outputs: string[] = [];
    instance = spawnProcessor('recommendations', crashConfig);
    for (let kill = 0; kill < KILLS; kill++) {
      // working (it restored a partition and reads records), or already done with everything
      const deadline = Date.now() + 120_000;
      let done = false;
      while (!instance.output().includes('partition state restored')) {
        if ((done = (await committedRecords(p.kafka, crashGroup(), p.topics.playEvents)) >= total)) break;
        if (Date.now() > deadline) throw new Error(`the processor did not start:\n${instance.output().slice(-3000)}`);
        await sleep(100);
      }
      if (done) break;
      // The first kill comes at a random moment soon after the start (before or after its
      // first checkpoint); each later one once the group has committed a further sixth of
      // the topic, and a random moment after that — mid-run however fast this machine is.
      if (kill === 0) await sleep(300 + r() * 1_000);
      else {
        const target = (total * kill) / (KILLS + 1);
        while ((await committedRecords(p.kafka, crashGroup(), p.topics.playEvents)) < target) {
          if (Date.now() > deadline)
            throw new Error(`no progress to ${target} records:\n${instance.output().slice(-3000)}`);
          await sleep(100);
        }
        await sleep(r() * 700);
      }
      await kill9(instance);
      outputs.push(instance.output());
      progress.push(await committedRecords(p.kafka, crashGroup(), p.topics.playEvents));
      instance = spawnProcessor('recommendations', crashConfig);
    }
    await waitForCommittedRecords(p.kafka, crashGroup(), p.topics.playEvents, total);
    await started(instance);
    expect(await terminate(instance)).toBe(0);
    outputs.push(instance.output());
    // the kills came mid-run: at least three, two or more of them with part of the topic
    // checkpointed (and so rows written that a restart replays), and a restart resumed from a checkpoint
    console.log(`[recommendations faults] checkpointed at each kill: ${progress.join(', ')} of ${total} records`);
    expect(progress.length).toBeGreaterThanOrEqual(3);
    const midRun = progress.filter((n) => n > 0 && n < total);
    expect(midRun.length, `checkpointed at each kill: ${progress.join(', ')} of ${total}`).toBeGreaterThanOrEqual(2);
    expect(outputs.join('\n')).toMatch(/"checkpoint":\d+,"msg":"partition state restored"/);

    // the clean run: the same records, read by another consumer group, into the other database
    const clean = cleanRunner();
    await clean.start();
    await waitForCommittedRecords(p.kafka, `${p.prefix}clean-recommendations`, p.topics.playEvents, total);
    await clean.stop();

    const want = await counts(p.database);
    const got = await counts(crashDb);
    expect(want.pairs!.length).toBeGreaterThan(1000);
    expect(got).toEqual(want);
    // and so are the answers served from them
    // (scores are sums of decayed floats: ClickHouse may add them in another order, so the
    // last bits can differ between two databases holding equal counts)
    const rounded = (list: Awaited<ReturnType<typeof relatedVideos>>) =>
      list.map((r) => ({ ...r, score: Number(r.score.toFixed(9)) }));
    const top = (await videoAudiences(main(), { asOf })).slice(0, 10);
    for (const { video_id } of top) {
      expect(rounded(await relatedVideos(crash(), video_id, { asOf }))).toEqual(
        rounded(await relatedVideos(main(), video_id, { asOf })),
      );
    }
  }, 900_000);
});
