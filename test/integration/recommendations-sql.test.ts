// The serving SQL (api/queries/recommendations.ts) on the real ClickHouse computes exactly the
// scoring of processors/recommendations/score.ts; and the observation tables really are
// idempotent: writing every observation again (what a replay does) changes no number.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  alsoWatchedCreators,
  relatedVideos,
  servedAlsoWatched,
  servedRelatedVideos,
  videoAudiences,
} from '../../api/queries/recommendations.js';
import { RelatedRefresher } from '../../api/related-refresher.js';
import { generateTraffic } from '../../generator/index.js';
import { KafkaSink } from '../../generator/sinks.js';
import { exec, queryRows } from '../../lib/clickhouse/client.js';
import { migrate } from '../../lib/clickhouse/migrations.js';
import { sql, v } from '../../lib/clickhouse/sql.js';
import { ClickHouseWriter } from '../../lib/clickhouse/writer.js';
import { projectRoot } from '../../infra/paths.js';
import { TestDriver } from '../../processors/driver.js';
import { dayOf, type PairObservation, type VideoObservation } from '../../processors/recommendations/coview.js';
import { recommendations } from '../../processors/recommendations/processor.js';
import { CoviewIndex } from '../../processors/recommendations/score.js';
import { DEFAULT_READ, type ReadOptions } from '../../processors/semantics.js';
import { TABLES } from '../../schemas/tables.js';
import type { PlayEvent } from '../../schemas/types.js';
import { realServices } from '../../harness/services.js';
import { catalogRows, seedCatalog } from '../../harness/dataset.js';

const s = realServices('recsql');
const db = { clickhouse: s.clickhouse, database: s.database };
let index: CoviewIndex;
let creatorOf: Map<string, string>;
let ownerOf: Map<string, string>;
let videoIds: string[];
let creatorIds: string[];
let pairs: PairObservation[];
let videos: VideoObservation[];
let asOf: string;
const DELETED = new Set<string>();

const write = async (): Promise<void> => {
  const w = new ClickHouseWriter(s.clickhouse, s.database);
  await w.write({ table: TABLES.recommendationVideoObservations, rows: videos });
  await w.write({ table: TABLES.recommendationPairObservations, rows: pairs });
};

describe('recommendations SQL on ClickHouse', () => {
  beforeAll(async () => {
    await migrate(s.clickhouse, s.database, join(projectRoot, 'schemas', 'clickhouse'));
    // Three days of traffic, so the decay and the lookback have several days to weigh.
    const traffic = generateTraffic({
      events: 60_000,
      seed: 8,
      videos: 120,
      creators: 24,
      spanMs: 3 * 86_400_000,
      now: Date.UTC(2026, 10, 21, 12),
    });
    const byId = traffic.catalog.byId;
    const driver = new TestDriver<PlayEvent>(recommendations(), {
      get: (id) => {
        const x = byId.get(id);
        return x ? { creatorId: x.video.creator_id, durationMs: x.video.duration_ms } : undefined;
      },
    });
    for (const d of traffic.deliveriesSync()) {
      if (d.kind !== 'event') continue;
      const e = KafkaSink.record(d);
      driver.pipe(Number(e.viewer_id.slice(-1)) % 3, e);
    }
    driver.flush();
    pairs = driver.table(TABLES.recommendationPairObservations).rows() as unknown as PairObservation[];
    videos = driver.table(TABLES.recommendationVideoObservations).rows() as unknown as VideoObservation[];
    index = CoviewIndex.from(pairs, videos);
    asOf = dayOf(traffic.truth().time.last_event);
    // Two videos are deleted from the catalog: they are never recommended.
    const popular = [...index.videos.keys()].sort(
      (a, b) => index.videoViewers(b, { asOf, lookbackDays: 90 }) - index.videoViewers(a, { asOf, lookbackDays: 90 }),
    );
    DELETED.add(popular[1]!).add(popular[7]!);
    ownerOf = new Map(traffic.catalog.videos.map((x) => [x.video.video_id, x.video.creator_id]));
    creatorOf = new Map(
      traffic.catalog.videos
        .filter((x) => !DELETED.has(x.video.video_id))
        .map((x) => [x.video.video_id, x.video.creator_id]),
    );
    await seedCatalog(s.clickhouse, s.database, catalogRows(traffic));
    await new ClickHouseWriter(s.clickhouse, s.database).write({
      table: TABLES.videos,
      times: ['published_at'],
      rows: [...DELETED].map((id) => ({
        video_id: id,
        creator_id: byId.get(id)!.video.creator_id,
        title: id,
        duration_ms: 1,
        published_at: 0,
        category: 'test',
        deleted: 1,
        version: 2,
      })),
    });
    await write();
    videoIds = popular.slice(0, 40);
    creatorIds = [...new Set(videoIds.map((id) => byId.get(id)!.video.creator_id))].slice(0, 12);
  }, 300_000);
  afterAll(async () => {
    await exec(s.clickhouse, sql`DROP DATABASE IF EXISTS ${v.ident(s.database)}`);
    await s.clickhouse.close();
  });

  const reads = (): ReadOptions[] => [
    { ...DEFAULT_READ, asOf, limit: 20 },
    { ...DEFAULT_READ, asOf, limit: 20, halfLifeDays: 0.5 },
    { ...DEFAULT_READ, asOf, limit: 20, lookbackDays: 2, minViewers: 6 },
  ];

  /** Same ids in the same order, scores equal to 1e-9 (sums in another order differ in the last bits). */
  function expectSameRanking(got: object[], want: object[], id: string, numbers: string[]): void {
    const at = (x: object, k: string): unknown => (x as Record<string, unknown>)[k];
    expect(got.map((g) => at(g, id))).toEqual(want.map((w) => at(w, id)));
    got.forEach((g, i) => {
      for (const k of numbers) expect(Math.abs(Number(at(g, k)) - Number(at(want[i]!, k)))).toBeLessThan(1e-9);
    });
  }

  it('related videos: the SQL equals the reference scoring, with and without the same creator', async () => {
    let compared = 0;
    for (const o of reads())
      for (const id of videoIds)
        for (const exclude of [false, true]) {
          const got = await relatedVideos(db, id, { ...o, excludeSameCreator: exclude });
          const want = index.related(
            id,
            o,
            // only catalog videos are listed; a deleted video's owner is still known
            (y) => !creatorOf.has(y) || (exclude && creatorOf.get(y) === ownerOf.get(id)),
          );
          expectSameRanking(got, want, 'video_id', ['score', 'support']);
          for (const g of got) expect(DELETED.has(g.video_id)).toBe(false);
          compared += got.length;
        }
    expect(compared).toBeGreaterThan(500);
  });

  it('also-watched creators: the SQL equals the reference share and lift', async () => {
    let compared = 0;
    for (const o of reads())
      for (const c of creatorIds)
        for (const sort of ['share', 'lift'] as const) {
          const got = await alsoWatchedCreators(db, c, { ...o, sort });
          const want = index.alsoWatched(c, (vid) => creatorOf.get(vid), o, sort);
          expectSameRanking(got, want, 'creator_id', ['share', 'lift', 'support']);
          compared += got.length;
        }
    expect(compared).toBeGreaterThan(50);
  });

  it('stop() during a round waits for the query in flight only, and the round writes nothing: its videos stay due', async () => {
    const now = Date.parse(`${asOf}T12:00:00Z`);
    let queries = 0;
    let stopped: Promise<void> | undefined;
    // the real server, counted: stopped while the round scores its first video
    const counting = new Proxy(s.clickhouse, {
      get(target, key, receiver) {
        const f = Reflect.get(target, key, receiver) as unknown;
        if (key !== 'query' || typeof f !== 'function') return f;
        return (...a: unknown[]) => {
          queries++;
          if (queries === 2) stopped = refresher.stop();
          return (f as (...x: unknown[]) => unknown).apply(target, a);
        };
      },
    });
    const refresher = new RelatedRefresher(
      { clickhouse: counting, database: s.database },
      { now: () => now, batch: 1000 },
    );
    refresher.start();
    while (!stopped) await new Promise((r) => setTimeout(r, 5));
    await stopped;
    // the due list, then the first video's few queries (a whole round: hundreds): it gave up
    // before the next video, and scored nothing else
    expect(queries).toBeLessThan(8);
    for (const table of [TABLES.relatedVideos, TABLES.relatedCreators]) {
      const [n] = await queryRows<{ n: string }>(
        s.clickhouse,
        sql`SELECT count() AS n FROM ${v.table(s.database, table)}`,
      );
      expect(Number(n!.n)).toBe(0);
    }
  });

  it('materialized: after the refresher ran, the served related videos and also-watched creators are the live scoring, read from one row', async () => {
    const now = Date.parse(`${asOf}T12:00:00Z`);
    const refresher = new RelatedRefresher(db, { now: () => now, batch: 1000 });
    const first = await refresher.refreshOnce();
    expect(first.videos).toBeGreaterThan(videoIds.length);
    expect(first.creators).toBeGreaterThan(0);
    // nothing changed since: nothing is due
    expect(await refresher.refreshOnce()).toEqual({ videos: 0, creators: 0 });
    const [stored] = await queryRows<{ n: string }>(
      s.clickhouse,
      sql`SELECT count() AS n FROM ${v.table(s.database, TABLES.relatedVideos)} FINAL WHERE as_of = toDate(${v.string(asOf)})`,
    );
    expect(Number(stored!.n)).toBe(first.videos);
    let compared = 0;
    for (const id of videoIds)
      for (const exclude of [false, true]) {
        const served = await servedRelatedVideos(db, id, { limit: 20, excludeSameCreator: exclude }, now);
        const live = await relatedVideos(db, id, { ...DEFAULT_READ, asOf, limit: 20, excludeSameCreator: exclude });
        expectSameRanking(served, live, 'video_id', ['score', 'support']);
        expect(served.map((x) => x.title)).toEqual(live.map((x) => x.title));
        compared += served.length;
      }
    for (const c of creatorIds)
      for (const sort of ['share', 'lift'] as const) {
        const served = await servedAlsoWatched(db, c, { limit: 20, sort }, now);
        const live = await alsoWatchedCreators(db, c, { ...DEFAULT_READ, asOf, limit: 20, sort });
        expectSameRanking(served, live, 'creator_id', ['share', 'lift', 'support']);
        compared += served.length;
      }
    expect(compared).toBeGreaterThan(300);
    // a stored entry the catalog does not know is left out; a stored empty list is served empty
    // (not scored live again)
    const id = videoIds[0]!;
    const live = await relatedVideos(db, id, { ...DEFAULT_READ, asOf, limit: 20 });
    expect(live.length).toBeGreaterThan(0);
    let version = 9e15;
    const store = async (ids: string[]): Promise<void> =>
      s.clickhouse
        .insert({
          table: `${s.database}.${TABLES.relatedVideos}`,
          values: [
            {
              video_id: id,
              as_of: asOf,
              version: (version += 1), // above any version the refresher wrote
              related_ids: ids,
              scores: ids.map((_, i) => 1 - i / 10),
              supports: ids.map(() => 9),
            },
          ],
          format: 'JSONEachRow',
        })
        .then(() => undefined);
    await store(['not-in-the-catalog', live[0]!.video_id]);
    expect(await servedRelatedVideos(db, id, { limit: 20 }, now)).toEqual([
      { video_id: live[0]!.video_id, creator_id: live[0]!.creator_id, title: live[0]!.title, score: 0.9, support: 9 },
    ]);
    await store([]);
    expect(await servedRelatedVideos(db, id, { limit: 20 }, now)).toEqual([]);
    // new co-views of a video make it due again
    await write();
    expect((await refresher.refreshOnce()).videos).toBeGreaterThan(0);
  });

  it('writing every observation a second time (a replay) changes no number', async () => {
    const snapshot = async (): Promise<unknown> => ({
      pairs: await queryRows(
        s.clickhouse,
        sql`SELECT day, video_id, related_id, uniqExactMerge(viewers) AS n
            FROM ${v.table(s.database, TABLES.recommendationPairsDaily)}
            GROUP BY day, video_id, related_id ORDER BY day, video_id, related_id`,
      ),
      videos: await videoAudiences(db, { asOf }),
      related: await relatedVideos(db, videoIds[0]!, { asOf }),
      creators: await alsoWatchedCreators(db, creatorIds[0]!, { asOf }),
    });
    const before = await snapshot();
    await write();
    expect(await snapshot()).toEqual(before);
  });
});
