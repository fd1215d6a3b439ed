// ClickHouse losing a replica during ingestion. A private replica set (its own ZooKeeper and two
// ClickHouse 18.16 servers on free ports, harness/replica-set.ts; the shared ClickHouse is not
// touched) gets the replicated migrations; generated traffic flows at a fixed rate into the
// shared Kafka, the processors write through the failover client, and the insights API polls a
// video's stats the whole time. Replica 2 stops fetching for a moment, so that replica 1 holds
// acknowledged (and committed) rows alone when it is killed with SIGKILL mid-ingestion; it is
// started again 15 s later. Every API answer must be a 200 that never counts more than the truth; afterwards
// both replicas, each read on its own, must equal the generator's truth exactly.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../api/app.js';
import { signToken } from '../../api/auth.js';
import { generateTraffic, type Traffic, type TruthReport } from '../../generator/index.js';
import { catalogRows, pumpIntoKafka, seedCatalog } from '../../harness/dataset.js';
import { pipelineFor, setUpPipeline, startPipeline, waitForPipeline, type Pipeline } from '../../harness/pipeline.js';
import { startReplicaSet, type ReplicaSet } from '../../harness/replica-set.js';
import { realServices } from '../../harness/services.js';
import { checkAgainstTruth } from '../../harness/truth-check.js';
import {
  createClickHouse,
  createReplicaClients,
  exec,
  queryRows,
  type ClickHouseClient,
} from '../../lib/clickhouse/client.js';
import { FailoverClickHouse } from '../../lib/clickhouse/failover.js';
import { sql, v } from '../../lib/clickhouse/sql.js';
import { committedRecords } from '../../lib/kafka/topics-admin.js';
import type { Config } from '../../lib/config.js';
import { groupIdOf } from '../../runtime/registry.js';
import type { RunningProcessors } from '../../runtime/start.js';
import { TABLES } from '../../schemas/tables.js';
import { sleep } from './processes.js';

const EVENTS = Number(process.env.VIEWPULSE_REPLICA_FAULT_EVENTS ?? 36_000);
/** Kafka-direct traffic has no receive-time horizon: a fixed clock makes the data the same at any hour. */
const NOW = Date.UTC(2026, 10, 30, 12, 0, 0);
/** Deliveries per second into Kafka: ingestion lasts EVENTS / RATE seconds, across the outage. */
const RATE = 1_200;
const OUTAGE_MS = 15_000;
const HOUR = 3_600_000;

let set: ReplicaSet | undefined;
let p: Pipeline | undefined;
let replicas: ClickHouseClient[] = [];
let api: ClickHouseClient | undefined;
let app: FastifyInstance | undefined;
let processors: RunningProcessors | undefined;
let traffic: Traffic;
let truth: TruthReport;
const TRAFFIC = { events: EVENTS, seed: 61, videos: 60, creators: 10, now: NOW };
const started = Date.now();
const log = (line: string): void => console.log(`[replica] +${((Date.now() - started) / 1000).toFixed(1)}s ${line}`);

/** Rows of `table` on one replica, FINAL: what an analyst reading that replica alone sees. */
const countOn = async (ch: ClickHouseClient, database: string, table: string): Promise<number> =>
  Number(
    (await queryRows<{ n: string }>(ch, sql`SELECT count() AS n FROM ${v.table(database, table)} FINAL`))[0]?.n ?? 0,
  );

/**
 * Tables of `database` not caught up on a replica: a queue not empty, read-only, a replica
 * inactive, or an unread log entry (log_pointer, the next entry to read, not past log_max_index
 * while the log in ZooKeeper has entries: an empty log also reads 0 and 0).
 */
async function lateTables(ch: ClickHouseClient, database: string): Promise<string[]> {
  const rows = await queryRows<{ table: string; path: string; busy: number | string; unread: number | string }>(
    ch,
    sql`SELECT table, zookeeper_path AS path,
               (queue_size + inserts_in_queue > 0 OR is_readonly OR active_replicas < total_replicas) AS busy,
               log_pointer <= log_max_index AS unread
        FROM system.replicas WHERE database = ${v.string(database)}`,
  );
  if (rows.length === 0) return ['(no replicated tables)'];
  const late: string[] = [];
  for (const r of rows) {
    if (Number(r.busy)) late.push(r.table);
    else if (Number(r.unread)) {
      const [log] = await queryRows<{ n: string }>(
        ch,
        sql`SELECT toString(count()) AS n FROM system.zookeeper WHERE path = ${v.string(`${r.path}/log`)}`,
      );
      if (log?.n !== '0') late.push(r.table);
    }
  }
  return late;
}

/** Waits until every replicated table of `database` is caught up on every replica. */
async function waitInSync(database: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const behind: string[] = [];
    for (const [i, ch] of replicas.entries()) {
      const late = await lateTables(ch, database).catch((err: Error) => [`(${err.message.slice(0, 80)})`]);
      behind.push(...late.map((t) => `replica ${i + 1} ${t}`));
    }
    if (behind.length === 0) return;
    if (Date.now() > deadline) throw new Error(`replicas not in sync after ${timeoutMs / 1000}s: ${behind.join(', ')}`);
    await sleep(500);
  }
}

describe(`ClickHouse with 2 replicas: one killed with SIGKILL during ingestion (${EVENTS} generated records)`, () => {
  beforeAll(async () => {
    const s = realServices('replica');
    set = await startReplicaSet(`replica-test-${s.prefix.slice(-9, -1)}`, 2, log);
    log(`replica set up: ${set.urls.join(', ')}`);
    const config: Config = {
      ...s.config,
      kafka: { ...s.config.kafka, topicPrefix: s.prefix, playEventPartitions: 4 },
      clickhouse: {
        ...s.config.clickhouse,
        url: set.urls[0]!,
        urls: set.urls,
        cluster: set.cluster,
        database: s.database,
      },
    };
    p = await setUpPipeline(pipelineFor(config), 4);
    replicas = createReplicaClients(config.clickhouse, 'default');
    api = createClickHouse(config.clickhouse);
    traffic = generateTraffic(TRAFFIC);
    // the same traffic once more, run through without sending, gives the truth up front
    const ahead = generateTraffic(TRAFFIC);
    for (const _ of ahead.deliveriesSync());
    truth = ahead.truth();
    await seedCatalog(p.clickhouse, p.database, catalogRows(traffic));
    log('migrated on both replicas, catalog seeded');
  }, 300_000);

  afterAll(async () => {
    await processors?.stop().catch(() => undefined);
    await app?.close().catch(() => undefined);
    await api?.close().catch(() => undefined);
    await Promise.all(replicas.map((c) => c.close().catch(() => undefined)));
    await p?.cleanup().catch(() => undefined);
    await set?.remove();
  }, 120_000);

  it('loses nothing, doubles nothing, and the API answers throughout from the other replica', async () => {
    const database = p!.database;
    expect(api).toBeInstanceOf(FailoverClickHouse);

    // the video with the most views, and its truth over a range holding every event
    const byVideo = new Map<string, { plays: number; views: number; watch: number }>();
    for (const r of truth.minutes) {
      const t = byVideo.get(r.video_id) ?? { plays: 0, views: 0, watch: 0 };
      t.plays += r.plays;
      t.views += r.views;
      t.watch += r.watch_ms;
      byVideo.set(r.video_id, t);
    }
    const [video, want] = [...byVideo].sort((a, b) => b[1].views - a[1].views)[0]!;
    const from = new Date(Math.floor(truth.time.first_event / HOUR) * HOUR).toISOString();
    const to = new Date(Math.floor(truth.time.last_event / HOUR) * HOUR + 2 * HOUR).toISOString();
    const apiNow = truth.time.last_event + 5_000;
    const token = await signToken({
      secret: p!.testConfig.api.jwtSecret,
      sub: 'ops',
      role: 'admin',
      ttlSeconds: 3600,
      now: apiNow,
    });
    app = buildApp({
      clickhouse: api!,
      database,
      jwtSecret: p!.testConfig.api.jwtSecret,
      now: () => apiNow,
      rateLimit: false,
    });
    await app.ready();
    type Totals = { plays: number; views: number; watch_time_ms: number };
    const ask = async (): Promise<{ status: number; totals?: Totals; body: string }> => {
      const res = await app!.inject({
        url: `/v1/videos/${video}/stats?from=${from}&to=${to}&interval=day`,
        headers: { authorization: `Bearer ${token}` },
      });
      return {
        status: res.statusCode,
        body: res.body.slice(0, 300),
        totals: res.statusCode === 200 ? res.json<{ totals: Totals }>().totals : undefined,
      };
    };

    // The API polls the whole time; each answer is recorded with the phase it came in.
    const now: { phase: 'before' | 'outage' | 'after' } = { phase: 'before' };
    let polling = true;
    const answers: { phase: (typeof now)['phase']; status: number; totals?: Totals; body: string }[] = [];
    const poller = (async () => {
      while (polling) {
        const phase = now.phase;
        answers.push({ phase, ...(await ask()) });
        await sleep(200);
      }
    })();

    processors = await startPipeline(p!);
    const pump = pumpIntoKafka(p!, traffic, { rate: RATE, chunk: 200 });
    const group = groupIdOf(p!.prefix, 'view-counts');
    try {
      // Once the processors write to replica 1, replica 2 stops fetching its parts: what
      // replica 1 then acknowledges (and the processors commit) lives on replica 1 alone when
      // it is killed, the case where a peer must fetch it later.
      while ((await countOn(replicas[0]!, database, TABLES.counts)) === 0) await sleep(200);
      await exec(replicas[1]!, sql`SYSTEM STOP FETCHES`);
      const stopped = await committedRecords(p!.kafka, group, p!.topics.playEvents);
      let before = stopped;
      while (before <= stopped) {
        await sleep(200);
        before = await committedRecords(p!.kafka, group, p!.topics.playEvents);
      }
      const [only1, only2] = await Promise.all(replicas.map((ch) => countOn(ch, database, TABLES.playEvents)));
      expect(only1, 'replica 1 holds acknowledged rows replica 2 has not fetched').toBeGreaterThan(only2!);
      await set!.kill(0);
      await exec(replicas[1]!, sql`SYSTEM START FETCHES`);
      now.phase = 'outage';
      log(
        `replica 1 killed: view-counts had committed ${before} records; play_events ${only1} rows there, ${only2} on replica 2`,
      );
      await sleep(OUTAGE_MS);
      const during = await committedRecords(p!.kafka, group, p!.topics.playEvents);
      log(`view-counts committed ${during - before} records while replica 1 was down`);
      // the writes went on: to replica 2
      expect(during).toBeGreaterThan(before);
      expect((api as FailoverClickHouse).currentUrl).toBe(set!.urls[1]);
      await set!.restart(0);
      now.phase = 'after';
      log('replica 1 started again');
      const sent = await pump;
      log(`pump done: ${sent.delivered} deliveries`);
      await waitForPipeline(p!, 300_000);
      log('every processor committed the whole topic');
      await waitInSync(database);
      log('replicas in sync');
    } finally {
      polling = false;
      await poller;
    }

    // no processor gave up or crashed on the way
    for (const h of processors.runners.map((r) => r.health()))
      expect([h.name, h.state, h.crashes]).toEqual([h.name, 'running', 0]);

    // The API answered every time, also during the outage, and never more than the truth.
    const outage = answers.filter((a) => a.phase === 'outage');
    log(`API answers: ${answers.length} (${outage.length} during the outage)`);
    expect(outage.length).toBeGreaterThanOrEqual(20);
    for (const a of answers) {
      expect(a.status, a.body).toBe(200);
      expect(a.totals!.plays).toBeLessThanOrEqual(want.plays);
      expect(a.totals!.views).toBeLessThanOrEqual(want.views);
      expect(a.totals!.watch_time_ms).toBeLessThanOrEqual(want.watch);
    }
    const last = await ask();
    expect([last.totals!.plays, last.totals!.views, last.totals!.watch_time_ms]).toEqual([
      want.plays,
      want.views,
      want.watch,
    ]);

    // Each replica on its own holds exactly the truth: nothing lost, nothing counted twice.
    for (const [i, ch] of replicas.entries()) {
      const checks = await checkAgainstTruth(ch, database, truth);
      for (const c of checks) log(`replica ${i + 1}: ${c.name}: ${c.got} (want ${c.want})`);
      expect(checks.filter((c) => !c.ok)).toEqual([]);
    }
    // and the same rows: the catalog, the raw events, the sessions, the counts
    for (const table of [TABLES.videos, TABLES.playEvents, TABLES.sessions, TABLES.counts]) {
      const counts = await Promise.all(replicas.map((ch) => countOn(ch, database, table)));
      expect(counts[1], table).toBe(counts[0]);
    }
  }, 600_000);
});
