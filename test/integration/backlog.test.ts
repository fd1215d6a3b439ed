// A large backlog: every record is in Kafka before the processors start. A little recent
// traffic comes first and moves each partition's watermark to "now"; then a large traffic of
// hours before, over 2,000 videos, arrives behind it. Every event of it lands in windows that
// are already closed, so each becomes delta rows (3 grains × video and creator): one gzip Kafka
// batch of ~30,000 records drains into ~180,000 view_counts rows — more than a spread into call
// arguments can take (the view-counts crash: `list.push(...rows)` overflows V8's stack past
// ~125,000 rows, the same at every restart). Every processor must catch up, and its tables
// must equal the generator's truth; recommendations (which the truth does not model) must equal
// a run of the same processor in small batches.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProcessors, type RunningProcessors } from '../../runtime/start.js';
import { processorStatus } from '../../runtime/status.js';
import { projectRoot } from '../../infra/paths.js';
import { exec, queryRows } from '../../lib/clickhouse/client.js';
import { migrate } from '../../lib/clickhouse/migrations.js';
import { sql, v } from '../../lib/clickhouse/sql.js';
import { recommendations } from '../../processors/recommendations/processor.js';
import { generateTraffic, type TruthReport } from '../../generator/index.js';
import { TABLES } from '../../schemas/tables.js';
import { clickhouseMinutes, retentionError, truthMinutes, uniquesError } from './e2e-helpers.js';
import { unionTruth } from '../../harness/truth-check.js';
import { writeTruthFile } from '../../generator/truth-file.js';
import { catalogRows, pumpIntoKafka, seedCatalog } from '../../harness/dataset.js';
import { pipeline, playEventsRunner, waitForCommitted, type Pipeline } from '../../harness/pipeline.js';

const EVENTS = Number(process.env.VIEWPULSE_BACKLOG_EVENTS ?? 100_000);
const RECENT_EVENTS = 2_000;
/** What the old code could take in one spread (V8, Node 20): a drain larger than this crashed it. */
const SPREAD_LIMIT = 125_000;
// Kafka-direct traffic has no receive-time horizon: a fixed clock makes the data the same at any hour.
const NOW = Date.UTC(2026, 10, 30, 12, 0, 0);
const HOUR = 3_600_000;
const PROCESSORS = ['view-counts', 'engagement', 'raw-events', 'recommendations'] as const;

let p: Pipeline;
let truth: TruthReport;
let smallDb: string;
let drains: Map<string, { count: number; overLimit: number }>;
let tmp: string;
let truthFiles: string[];

/** Drains per processor, and how many were larger than SPREAD_LIMIT rows (from /metrics). */
async function drainSizes(running: RunningProcessors): Promise<Map<string, { count: number; overLimit: number }>> {
  const port = (running.server!.address() as { port: number }).port;
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const out = new Map<string, { count: number; overLimit: number }>();
  const at = (processor: string, le: string): number => {
    const line = text
      .split('\n')
      .find(
        (l) =>
          l.startsWith('viewpulse_processor_drain_rows_bucket{') &&
          l.includes(`processor="${processor}"`) &&
          l.includes(`le="${le}"`),
      );
    return Number(line?.split(' ').at(-1) ?? NaN);
  };
  for (const name of PROCESSORS) {
    const count = at(name, '+Inf');
    out.set(name, { count, overLimit: count - at(name, String(SPREAD_LIMIT)) });
  }
  return out;
}

async function recommendationCounts(database: string): Promise<unknown[][]> {
  const q = (f: ReturnType<typeof sql>): Promise<unknown[]> => queryRows(p.clickhouse, f);
  return [
    await q(sql`SELECT toString(day) AS day, video_id, related_id, uniqExactMerge(viewers) AS n
                FROM ${v.table(database, TABLES.recommendationPairsDaily)}
                GROUP BY day, video_id, related_id ORDER BY day, video_id, related_id`),
    await q(sql`SELECT toString(day) AS day, video_id, uniqExactMerge(viewers) AS n
                FROM ${v.table(database, TABLES.recommendationVideosDaily)}
                GROUP BY day, video_id ORDER BY day, video_id`),
  ];
}

describe(`a backlog of ${EVENTS} records over 2,000 videos behind the watermark, consumed from the start`, () => {
  beforeAll(async () => {
    p = await pipeline('backlog', 2);
    tmp = mkdtempSync(join(tmpdir(), 'vp-backlog-'));
    smallDb = `${p.database}_small`;
    await migrate(p.clickhouse, smallDb, join(projectRoot, 'schemas', 'clickhouse'));
    // Two generated traffics (seeds give disjoint videos and viewers): recent, then older.
    const recent = generateTraffic({ events: RECENT_EVENTS, seed: 14, videos: 50, creators: 10, now: NOW });
    const older = generateTraffic({ events: EVENTS, seed: 13, videos: 2_000, creators: 200, now: NOW - 6 * HOUR });
    const catalog = catalogRows(recent, older);
    await seedCatalog(p.clickhouse, p.database, catalog);
    await seedCatalog(p.clickhouse, smallDb, catalog);
    // gzip: a fetch of 1 MB per partition then holds ~30,000 records (uncompressed, the
    // default, about a third of that), the batch size whose drain crashed the old code
    for (const traffic of [recent, older]) {
      await pumpIntoKafka(p, traffic, { chunk: 5_000, compression: 'gzip' });
    }
    truth = unionTruth([recent.truth(), older.truth()]);
    truthFiles = [];
    for (const [i, traffic] of [recent, older].entries()) {
      truthFiles.push(join(tmp, `truth-${i}.json`));
      await writeTruthFile(truthFiles[i]!, traffic.truth(), traffic.viewerClusters());
    }

    // A processor that gives up (the old code, after 5 crashes at one position) fails the test at once.
    let gaveUp: (err: Error) => void = () => undefined;
    const failed = new Promise<never>((_, reject) => (gaveUp = reject));
    const running = await runProcessors([...PROCESSORS], {
      config: p.testConfig,
      metricsPort: 0,
      onFailed: (name, err) => gaveUp(new Error(`${name} failed: ${err.message}`)),
    });
    for (const name of PROCESSORS)
      await Promise.race([
        failed,
        waitForCommitted(p.kafka, `${p.prefix}viewpulse-${name}`, p.topics.playEvents, 600_000),
      ]);
    drains = await drainSizes(running);
    expect(running.runners.map((r) => [r.name, r.state])).toEqual(PROCESSORS.map((n) => [n, 'running']));
    await running.stop();

    // The same recommendations processor in small batches (64 KiB fetches), into its own database.
    const small = playEventsRunner(p, recommendations(), {
      groupId: `${p.prefix}small-recommendations`,
      database: smallDb,
      options: { maxBytesPerPartition: 64 * 1024 },
    });
    await small.start();
    await waitForCommitted(p.kafka, `${p.prefix}small-recommendations`, p.topics.playEvents, 600_000);
    await small.stop();
  }, 1_200_000);
  afterAll(async () => {
    await exec(p.clickhouse, sql`DROP DATABASE IF EXISTS ${v.ident(smallDb)}`);
    rmSync(tmp, { recursive: true, force: true });
    await p.cleanup();
  });

  it(`view-counts drained more than ${SPREAD_LIMIT} rows at once: the size that crashed the old code`, () => {
    console.log(`[backlog] drains per processor: ${JSON.stringify(Object.fromEntries(drains))}`);
    expect(drains.get('view-counts')!.overLimit).toBeGreaterThan(0);
  });

  it('view-counts: plays, views and watch time per video and minute equal the truth', async () => {
    const got = await clickhouseMinutes(p.clickhouse, p.database);
    expect(got.size).toBe(truth.minutes.length);
    expect(got).toEqual(truthMinutes(truth));
  });

  it('raw-events: every event once; engagement: views, uniques and retention as the truth says', async () => {
    const [raw] = await queryRows<{ n: string; distinct: string }>(
      p.clickhouse,
      sql`SELECT count() AS n, uniqExact(event_id) AS distinct FROM ${v.table(p.database, TABLES.playEvents)} FINAL`,
    );
    expect(Number(raw!.n)).toBe(truth.counts.events);
    expect(Number(raw!.distinct)).toBe(truth.counts.events);
    const [views] = await queryRows<{ n: string }>(
      p.clickhouse,
      sql`SELECT count() AS n FROM ${v.table(p.database, TABLES.sessions)} FINAL WHERE counted_view = 1`,
    );
    expect(Number(views!.n)).toBe(truth.totals.views);
    expect(await uniquesError(p.clickhouse, p.database, truth)).toBeLessThanOrEqual(0.02);
    expect(await retentionError(p.clickhouse, p.database, truth)).toBeLessThanOrEqual(1);
  });

  it('recommendations: pair and video counts equal those of the same processor in small batches', async () => {
    // The older traffic's co-view windows close only as the watermark moves on past them, so
    // the pairs are the recent traffic's; the equality with small batches is the point here.
    const large = await recommendationCounts(p.database);
    expect(large[0]!.length).toBeGreaterThan(0);
    expect(large).toEqual(await recommendationCounts(smallDb));
  });

  it('`viewpulse status`: every play-events processor at lag 0, with a watermark per partition', async () => {
    const list = await processorStatus({
      kafka: p.kafka,
      clickhouse: p.clickhouse,
      database: p.database,
      topicPrefix: p.prefix,
      now: () => NOW,
    });
    for (const name of PROCESSORS) {
      const s = list.find((x) => x.processor === name)!;
      expect(
        s.partitions.map((x) => [x.partition, x.lag, x.committed === x.end]),
        name,
      ).toEqual([
        [0, 0, true],
        [1, 0, true],
      ]);
    }
    // view-counts' watermark: the newest event time of each partition minus the 10 s allowed lateness
    const vc = list.find((x) => x.processor === 'view-counts')!;
    expect(vc.watermark).not.toBeNull();
    expect(vc.watermark!).toBeLessThanOrEqual(truth.time.last_event - 10_000);
    expect(vc.freshnessMs).toBe(NOW - vc.watermark!);
  });

  it('`viewpulse verify --truth` over both truth files finds every number equal', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [join(projectRoot, 'bin', 'viewpulse.js'), 'verify', '--truth', ...truthFiles],
      {
        env: {
          ...process.env,
          VIEWPULSE_TOPIC_PREFIX: p.prefix,
          VIEWPULSE_CLICKHOUSE_DATABASE: p.database,
        },
      },
    );
    expect(stdout).toMatch(/✓ view-counts: video-minute cells that differ +0 +\(truth 0\)/);
    expect(stdout).toMatch(new RegExp(`✓ raw-events: rows in play_events +${truth.counts.events} `));
    expect(stdout).toMatch(/all \d+ checks equal the truth/);
  });
});
