// Recommendations on the real pipeline: generated traffic with planted taste clusters →
// Kafka → the recommendations processor (ProcessorRunner) → ClickHouse → the serving SQL and
// the API. A smaller sample of the benchmark's evaluation (bench/recommendations.ts): recall@10
// of same-cluster videos at least 0.9 and at least 3 × the "most popular videos" baseline.
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../api/app.js';
import { signToken } from '../../api/auth.js';
import { relatedVideos, videoAudiences } from '../../api/queries/recommendations.js';
import { runProcessors } from '../../runtime/start.js';
import { generateTraffic, type TruthReport } from '../../generator/index.js';
import { queryRows } from '../../lib/clickhouse/client.js';
import { sql, v } from '../../lib/clickhouse/sql.js';
import { dayOf } from '../../processors/recommendations/coview.js';
import { TABLES } from '../../schemas/tables.js';
import { seedAndPump } from '../../harness/dataset.js';
import { pipeline, waitForCommitted, type Pipeline } from '../../harness/pipeline.js';
import { evaluateQuality, MIN_VIEWERS_FOR_RECALL, type Quality } from '../../harness/recommendations-quality.js';
import { Partitioners } from 'kafkajs';
import { TestDriver } from '../../processors/driver.js';
import { recommendations } from '../../processors/recommendations/processor.js';
import type { PairObservation, VideoObservation } from '../../processors/recommendations/coview.js';
import { CoviewIndex } from '../../processors/recommendations/score.js';
import { DEFAULT_READ, type ReadOptions } from '../../processors/semantics.js';
import { KafkaSink } from '../../generator/sinks.js';
import type { PlayEvent } from '../../schemas/types.js';
import { testNow } from '../clock.js';

const EVENTS = Number(process.env.VIEWPULSE_RECS_EVENTS ?? 80_000);
/** The traffic ends before it, and the API and the direct queries read "today" from it. */
const NOW = testNow();

let p: Pipeline;
let truth: TruthReport;
let creatorOf: Map<string, string>;
let asOf: string;
let quality: Quality;
let app: FastifyInstance;
/** The reference: the processor's observations in memory, scored by the in-memory scoring (not the serving SQL). */
let reference: CoviewIndex;

const PARTITIONS = 4;

/** The partition Kafka gives a viewer's records (kafkajs' default partitioner, as the sink uses). */
function kafkaPartitionOf(): (viewerId: string) => number {
  const partitioner = Partitioners.DefaultPartitioner();
  const partitionMetadata = Array.from({ length: PARTITIONS }, (_, partitionId) => ({
    partitionId,
    leader: 0,
    partitionErrorCode: 0,
    replicas: [0],
    isr: [0],
  }));
  return (viewerId) =>
    partitioner({ topic: 'play-events', partitionMetadata, message: { key: viewerId, value: null } });
}
const db = (): { clickhouse: Pipeline['clickhouse']; database: string } => ({
  clickhouse: p.clickhouse,
  database: p.database,
});

/** Same videos in the same order, the catalog's creator, support exact, scores equal to 1e-9. */
function expectSameRelated(
  got: { video_id: string; creator_id: string; score: number; support: number }[],
  want: { video_id: string; score: number; support: number }[],
): void {
  expect(got.map((r) => r.video_id)).toEqual(want.map((r) => r.video_id));
  got.forEach((r, i) => {
    expect(r.creator_id).toBe(creatorOf.get(r.video_id));
    expect(r.support).toBe(want[i]!.support);
    expect(Math.abs(r.score - want[i]!.score)).toBeLessThan(1e-9);
  });
}

describe(`recommendations end to end (${EVENTS} generated records)`, () => {
  beforeAll(async () => {
    p = await pipeline('recs', PARTITIONS);
    // A smaller catalog than the benchmark's, so a small sample still gives videos enough viewers.
    const options = {
      events: EVENTS,
      seed: 5,
      videos: 150,
      creators: 30,
      spanMs: 86_400_000,
      now: NOW,
    };
    const traffic = generateTraffic(options);
    creatorOf = new Map(traffic.catalog.videos.map((x) => [x.video.video_id, x.video.creator_id]));
    await seedAndPump(p, traffic, { chunk: 2000 });
    const driver = new TestDriver<PlayEvent>(recommendations(), {
      get: (id) => {
        const x = traffic.catalog.byId.get(id);
        return x ? { creatorId: x.video.creator_id, durationMs: x.video.duration_ms } : undefined;
      },
    });
    const partitionOf = kafkaPartitionOf();
    // the same traffic again (a seed makes it; its deliveries can be iterated once)
    for (const d of generateTraffic(options).deliveriesSync()) {
      if (d.kind !== 'event') continue;
      const e = KafkaSink.record(d);
      driver.pipe(partitionOf(e.viewer_id), e);
    }
    driver.flush();
    reference = CoviewIndex.from(
      driver.table(TABLES.recommendationPairObservations).rows() as unknown as PairObservation[],
      driver.table(TABLES.recommendationVideoObservations).rows() as unknown as VideoObservation[],
    );
    truth = traffic.truth();
    const processors = await runProcessors(['recommendations'], { config: p.testConfig, metricsPort: -1 });
    await waitForCommitted(p.kafka, `${p.prefix}viewpulse-recommendations`, p.topics.playEvents);
    await processors.stop();
    asOf = dayOf(truth.time.last_event);
    quality = await evaluateQuality(db(), truth.clusters.videos, { asOf });
    app = buildApp({
      clickhouse: p.clickhouse,
      database: p.database,
      jwtSecret: p.testConfig.api.jwtSecret,
      now: () => NOW,
      rateLimit: false,
    });
    await app.ready();
  }, 300_000);
  afterAll(async () => {
    await app?.close();
    await p.cleanup();
  });

  it(`recall@10 of same-cluster videos ≥ 0.9 for videos with ≥ ${MIN_VIEWERS_FOR_RECALL} viewers, ≥ 3 × the popular baseline`, () => {
    console.log(`[recommendations] ${JSON.stringify(quality)}`);
    expect(quality.eligible_videos).toBeGreaterThanOrEqual(8);
    expect(quality.recall_at_10).toBeGreaterThanOrEqual(0.9);
    expect(quality.recall_at_10).toBeGreaterThanOrEqual(3 * quality.baseline_recall_at_10);
  });

  it('keeps the k threshold: every shown pair has at least 5 distinct co-viewers in ClickHouse', async () => {
    const [top] = await videoAudiences(db(), { asOf });
    const recs = await relatedVideos(db(), top!.video_id, { asOf, limit: 50 });
    expect(recs.length).toBeGreaterThan(0);
    const support = await queryRows<{ related_id: string; n: string }>(
      p.clickhouse,
      sql`SELECT related_id, uniqExactMerge(viewers) AS n FROM ${v.table(p.database, TABLES.recommendationPairsDaily)}
          WHERE video_id = ${v.string(top!.video_id)} GROUP BY related_id`,
    );
    const byId = new Map(support.map((r) => [r.related_id, Number(r.n)]));
    for (const r of recs) {
      expect(r.support).toBe(byId.get(r.video_id));
      expect(r.support).toBeGreaterThanOrEqual(5);
    }
    // pairs below the threshold exist, and are hidden
    expect([...byId.values()].some((n) => n < 5)).toBe(true);
    expect(recs.map((r) => r.video_id)).not.toContain(top!.video_id);
  });

  it('GET /v1/videos/:id/recommendations answers what the query computes, and keeps the auth rules', async () => {
    const [top] = await videoAudiences(db(), { asOf });
    const video = top!.video_id;
    const owner = creatorOf.get(video)!;
    const secret = p.testConfig.api.jwtSecret;
    const creatorToken = await signToken({ secret, sub: owner, role: 'creator', ttlSeconds: 600, now: NOW });
    const otherToken = await signToken({ secret, sub: `${owner}-other`, role: 'creator', ttlSeconds: 600, now: NOW });
    const res = await app.inject({
      url: `/v1/videos/${video}/recommendations?limit=5`,
      headers: { authorization: `Bearer ${creatorToken}` },
    });
    expect(res.statusCode, res.body).toBe(200);
    const body = JSON.parse(res.body) as {
      video_id: string;
      min_viewers: number;
      recommendations: { video_id: string; creator_id: string; score: number; support: number }[];
    };
    expect(body.video_id).toBe(video);
    expect(body.min_viewers).toBe(5);
    // The reference scoring over the processor's observations, read on the API's "today"
    // (the pinned now): the same videos in the same order, with the same score and support.
    const read: ReadOptions = { ...DEFAULT_READ, asOf: dayOf(NOW), limit: 5 };
    const want = reference.related(video, read, (y) => !creatorOf.has(y));
    expect(want).toHaveLength(5);
    expectSameRelated(body.recommendations, want);

    const excluded = await app.inject({
      url: `/v1/videos/${video}/recommendations?exclude_same_creator=true&limit=50`,
      headers: { authorization: `Bearer ${creatorToken}` },
    });
    const ex = JSON.parse(excluded.body) as typeof body;
    const wantEx = reference.related(
      video,
      { ...read, limit: 50 },
      (y) => !creatorOf.has(y) || creatorOf.get(y) === owner,
    );
    expect(wantEx.length).toBeGreaterThan(0);
    expectSameRelated(ex.recommendations, wantEx);
    expect(ex.recommendations.every((r) => r.creator_id !== owner)).toBe(true);

    const csv = await app.inject({
      url: `/v1/videos/${video}/recommendations?format=csv`,
      headers: { authorization: `Bearer ${creatorToken}` },
    });
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    expect(csv.body.split(/\r?\n/)[0]).toBe('video_id,title,creator_id,score,support');

    const other = await app.inject({
      url: `/v1/videos/${video}/recommendations`,
      headers: { authorization: `Bearer ${otherToken}` },
    });
    expect(other.statusCode).toBe(404);
    expect(other.headers['content-type']).toMatch(/^application\/problem\+json/);
    const anonymous = await app.inject({ url: `/v1/videos/${video}/recommendations` });
    expect(anonymous.statusCode).toBe(401);
    const bad = await app.inject({
      url: `/v1/videos/${video}/recommendations?limit=0`,
      headers: { authorization: `Bearer ${creatorToken}` },
    });
    expect(bad.statusCode).toBe(400);
  });

  it('GET /v1/creators/:id/audience/also-watched lists other creators with share and lift', async () => {
    const [top] = await videoAudiences(db(), { asOf });
    const creator = creatorOf.get(top!.video_id)!;
    const token = await signToken({
      secret: p.testConfig.api.jwtSecret,
      sub: creator,
      role: 'creator',
      ttlSeconds: 600,
      now: NOW,
    });
    const res = await app.inject({
      url: `/v1/creators/${creator}/audience/also-watched?sort=lift`,
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.statusCode, res.body).toBe(200);
    const body = JSON.parse(res.body) as {
      creators: { creator_id: string; share: number; lift: number; support: number }[];
    };
    expect(body.creators.every((c) => c.creator_id !== creator && c.support >= 5 && c.lift > 0)).toBe(true);
    // the reference share and lift over the processor's observations, on the API's "today"
    const want = reference.alsoWatched(
      creator,
      (vid) => creatorOf.get(vid),
      { ...DEFAULT_READ, asOf: dayOf(NOW) },
      'lift',
    );
    expect(want.length).toBeGreaterThan(0);
    expect(body.creators.map((c) => c.creator_id)).toEqual(want.map((c) => c.creator_id));
    body.creators.forEach((c, i) => {
      expect(c.support).toBe(want[i]!.support);
      expect(Math.abs(c.share - want[i]!.share)).toBeLessThan(1e-9);
      expect(Math.abs(c.lift - want[i]!.lift)).toBeLessThan(1e-9);
    });
    const lifts = body.creators.map((c) => c.lift);
    expect(lifts).toEqual([...lifts].sort((a, b) => b - a));
    const forbidden = await app.inject({
      url: `/v1/creators/${creator}x/audience/also-watched`,
      headers: { authorization: `Bearer ${token}` },
    });
    expect(forbidden.statusCode).toBe(404);
  });
});
