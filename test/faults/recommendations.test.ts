// The recommendations processor killed with SIGKILL mid-run, again and again, and restarted:
// its pair and video counts must equal those of a clean run over the same Kafka records.
// The crashed run writes to one database, the clean run (the same topic, read again from
// offset 0 by a fresh consumer group) to another.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { relatedVideos, videoAudiences } from '../../api/queries/recommendations.js';
import { runProcessors } from '../../cli/run-processors.js';
import { generateTraffic } from '../../generator/index.js';
import { pump } from '../../generator/run.js';
import { KafkaSink } from '../../generator/sinks.js';
import { projectRoot } from '../../infra/paths.js';
import { exec, queryRows } from '../../lib/clickhouse/client.js';
import { migrate } from '../../lib/clickhouse/migrations.js';
import { sql, v } from '../../lib/clickhouse/sql.js';
import type { Config } from '../../lib/config.js';
import { dayOf } from '../../processors/recommendations/coview.js';
import { TABLES } from '../../schemas/tables.js';
import { rng } from '../unit/processors/fixtures.js';
import { endOffsets, pipeline, seedCatalog, waitForCommitted, type Pipeline } from '../integration/pipeline-helpers.js';
import { kill9, sleep, spawnProcessor, terminate, type Instance } from './processes.js';

const EVENTS = Number(process.env.VIEWPULSE_RECS_FAULT_EVENTS ?? 150_000);
const KILLS = 5;

let p: Pipeline;
let crashDb: string;
let instance: Instance | undefined;
let asOf: string;
const group = (): string => `${p.prefix}viewpulse-recommendations`;

/** Records the group has committed, summed over partitions. */
async function committed(): Promise<number> {
  const admin = p.kafka.admin();
  await admin.connect();
  try {
    const [t] = await admin.fetchOffsets({ groupId: group(), topics: [p.topics.playEvents] });
    return (t?.partitions ?? []).reduce((n, x) => n + Math.max(0, Number(x.offset)), 0);
  } finally {
    await admin.disconnect();
  }
}

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

describe(`recommendations under SIGKILL (${EVENTS} generated records)`, () => {
  beforeAll(async () => {
    p = await pipeline('recfaults', 4);
    crashDb = `${p.database}_k`;
    await migrate(p.clickhouse, crashDb, join(projectRoot, 'schemas', 'clickhouse'));
    const traffic = generateTraffic({ events: EVENTS, seed: 12, spanMs: 2 * 86_400_000, now: Date.now() });
    const catalog = traffic.catalog.videos.map((x) => ({
      video_id: x.video.video_id,
      creator_id: x.video.creator_id,
      duration_ms: x.video.duration_ms,
    }));
    await seedCatalog(p.clickhouse, p.database, catalog);
    await seedCatalog(p.clickhouse, crashDb, catalog);
    const sink = new KafkaSink(p.kafka, p.registry, p.topics.playEvents, { chunk: 2000 });
    await sink.connect();
    await pump(traffic, sink, { rate: 0 });
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
    instance = spawnProcessor('recommendations', crashConfig);
    for (let kill = 0; kill < KILLS; kill++) {
      // working (it restored a partition and reads records), or already done with everything
      const deadline = Date.now() + 120_000;
      let done = false;
      while (!instance.output().includes('partition state restored')) {
        if ((done = (await committed()) >= total)) break;
        if (Date.now() > deadline) throw new Error(`the processor did not start:\n${instance.output().slice(-3000)}`);
        await sleep(100);
      }
      if (done) break;
      await sleep(500 + r() * 2_000);
      await kill9(instance);
      progress.push(await committed());
      instance = spawnProcessor('recommendations', crashConfig);
    }
    await waitForCommitted(p.kafka, group(), p.topics.playEvents, 400_000);
    expect(await terminate(instance)).toBe(0);
    // the kills came mid-run — at least three with part of the topic committed — and a restart
    // resumed from a checkpoint
    const midRun = progress.filter((n) => n > 0 && n < total);
    expect(midRun.length, `committed at each kill: ${progress.join(', ')} of ${total}`).toBeGreaterThanOrEqual(3);
    expect(instance.output()).toMatch(/"checkpoint":\d+/);

    // the clean run: a fresh group over the same records, into the other database
    const admin = p.kafka.admin();
    await admin.connect();
    await admin.deleteGroups([group()]);
    await admin.disconnect();
    const clean = await runProcessors(['recommendations'], { config: p.testConfig, metricsPort: -1 });
    await waitForCommitted(p.kafka, group(), p.topics.playEvents, 400_000);
    await clean.stop();

    const want = await counts(p.database);
    const got = await counts(crashDb);
    expect(want.pairs!.length).toBeGreaterThan(1000);
    expect(got).toEqual(want);
    // and so are the answers served from them
    const top = (await videoAudiences({ clickhouse: p.clickhouse, database: p.database }, { asOf })).slice(0, 10);
    for (const { video_id } of top) {
      expect(await relatedVideos({ clickhouse: p.clickhouse, database: crashDb }, video_id, { asOf })).toEqual(
        await relatedVideos({ clickhouse: p.clickhouse, database: p.database }, video_id, { asOf }),
      );
    }
  }, 900_000);
});
