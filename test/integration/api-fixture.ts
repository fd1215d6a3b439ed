// The insights API on data the real pipeline produced (generator → collector → Kafka →
// processors → ClickHouse), shared by the api-*.test.ts files (one per route family): each file
// calls useApiFixture() in its describe and reads the state below (live bindings, set in its
// beforeAll), and the helpers that compare answers with the generator's ground truth.
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect } from 'vitest';
import { buildApp } from '../../api/app.js';
import { signToken } from '../../api/auth.js';
import type { TruthReport } from '../../generator/index.js';
import type { GeneratedCatalog } from '../../generator/catalog.js';
import { sendThroughCollector, startPipeline, waitForPipeline } from './e2e-helpers.js';
import { pipeline, type Pipeline } from '../../harness/pipeline.js';
import { qs, type QueryValue } from '../url.js';

export const EVENTS = Number(process.env.VIEWPULSE_API_TEST_EVENTS ?? 30_000);
export const SEED = Number(process.env.VIEWPULSE_API_TEST_SEED ?? 7);
export const MIN = 60_000;
export const HOUR = 3_600_000;
export const DAY = 86_400_000;
export const floor = (t: number, s: number): number => Math.floor(t / s) * s;
export const iso = (t: number): string => new Date(t).toISOString();

export let p: Pipeline;
export let truth: TruthReport;
export let catalog: GeneratedCatalog;
export let app: FastifyInstance;
export let NOW: number;
export let tokens: { a: string; b: string; admin: string; w: string };
export let A: string; // the creator with most views
export let B: string; // the second
export let W: string; // the creator of the last active video (realtime)
export let first: number;
export let last: number;
/** [floorHour(first), floorHour(last) + 2h): every event, hour aligned */
export let FULL: { from: number; to: number };
/** an unaligned range in the middle */
export let ODD: { from: number; to: number };

export const creatorOf = (videoId: string): string => catalog.byId.get(videoId)?.video.creator_id ?? '';
export const videosOf = (creator: string): string[] =>
  catalog.videos.filter((x) => x.video.creator_id === creator).map((x) => x.video.video_id);

export function truthCounts(
  videos: readonly string[],
  from: number,
  to: number,
): { plays: number; views: number; watch: number } {
  const set = new Set(videos);
  const out = { plays: 0, views: 0, watch: 0 };
  for (const r of truth.minutes) {
    if (!set.has(r.video_id) || r.minute < from || r.minute >= to) continue;
    out.plays += r.plays;
    out.views += r.views;
    out.watch += r.watch_ms;
  }
  return out;
}

interface FixedZone {
  tz: string;
  /** the local midnight chosen, epoch ms */
  midnight: number;
  /** data before it and at or after it */
  splits: boolean;
}

/**
 * One fixed-offset zone west of UTC and one east of it, for day buckets, from the times of the
 * data (minute starts): Etc/GMT+N is N hours west (its midnight is N:00 UTC, N = 1..12),
 * Etc/GMT-N N hours east (midnight at (24 − N):00 UTC, N = 1..14). For each side, the zone
 * whose midnight falls inside the data nearest its median (a day boundary inside one UTC day:
 * two buckets, so a UTC day row must not be read whole); when the data lies in hours where no
 * zone of that side has its midnight (13..23 UTC for the west, 1..9 for the east), the zone of
 * that side whose midnight is nearest to the data. Either way the zone's name has a sign that
 * must be encoded (`+` is a space in a query string), and the sign must not be read backwards.
 */
export function fixedOffsetZones(times: readonly number[]): FixedZone[] {
  const sorted = [...times].sort((a, b) => a - b);
  const lo = sorted[0]!;
  const hi = sorted.at(-1)!;
  const median = sorted[Math.floor(sorted.length / 2)]!;
  const pick = (candidates: Array<{ tz: string; hour: number }>): FixedZone => {
    let best: (FixedZone & { score: number }) | undefined;
    for (const c of candidates) {
      for (const k of [-1, 0, 1]) {
        const midnight = floor(median, DAY) + k * DAY + c.hour * HOUR;
        const splits = lo < midnight && midnight <= hi;
        const score = splits ? Math.abs(midnight - median) : DAY + Math.max(lo - midnight, midnight - hi);
        if (!best || score < best.score) best = { tz: c.tz, midnight, splits, score };
      }
    }
    const { score: _score, ...zone } = best!;
    return zone;
  };
  const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);
  return [
    pick(range(12).map((n) => ({ tz: `Etc/GMT+${n}`, hour: n }))),
    pick(range(14).map((n) => ({ tz: `Etc/GMT-${n}`, hour: 24 - n }))),
  ];
}

export const within = (got: number, want: number, rel: number): boolean =>
  want === 0 ? got === 0 : Math.abs(got - want) / want <= rel;

export async function get(url: string, token: string | null = tokens.a, headers: Record<string, string> = {}) {
  return app.inject({ url, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers } });
}

export async function ok<T>(url: string, token: string = tokens.a): Promise<T> {
  const res = await get(url, token);
  expect(res.statusCode, `${url} → ${res.body.slice(0, 300)}`).toBe(200);
  return res.json() as T;
}

/** The query string of a range and other parameters, every value encoded (test/url.ts). */
export const q = (r: { from: number; to: number }, extra: Record<string, QueryValue> = {}): string =>
  qs({ ...extra, from: iso(r.from), to: iso(r.to) });

/** Prepares the dataset and the app for the calling file (in its describe), and cleans up after it. */
export function useApiFixture(): void {
  beforeAll(async () => {
    p = await pipeline('api');
    // Visits over 4 h before the pinned now (test/clock.ts): by default 22:00 to about 03:00
    // UTC, across UTC midnight and the midnights of a zone east and one west of UTC.
    const sent = await sendThroughCollector(p, {
      events: EVENTS,
      seed: SEED,
      spanMs: 4 * HOUR,
      faults: { outOfOrder: 0.03, late: 0.01, duplicate: 0.02, malformed: 0.005 },
    });
    await sent.collector.close();
    const processors = await startPipeline(p);
    await waitForPipeline(p);
    await processors.stop();
    truth = sent.truth;
    catalog = sent.traffic.catalog;
    first = truth.time.first_event;
    last = truth.time.last_event;
    NOW = last + 5_000;
    FULL = { from: floor(first, HOUR), to: floor(last, HOUR) + 2 * HOUR };
    ODD = { from: floor(first, MIN) + 17 * MIN, to: floor(last, MIN) - 23 * MIN };

    const views = new Map<string, number>();
    for (const r of truth.minutes) views.set(creatorOf(r.video_id), (views.get(creatorOf(r.video_id)) ?? 0) + r.views);
    const ranked = [...views].filter(([c]) => c !== '').sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1));
    A = ranked[0]![0];
    B = ranked[1]![0];
    const lastRow = truth.minutes.reduce((m, r) => (r.minute > m.minute ? r : m));
    W = creatorOf(lastRow.video_id);
    const secret = p.testConfig.api.jwtSecret;
    const sign = (sub: string, role: 'creator' | 'admin' = 'creator'): Promise<string> =>
      signToken({ secret, sub, role, ttlSeconds: 3600, now: NOW });
    tokens = { a: await sign(A), b: await sign(B), admin: await sign('ops', 'admin'), w: await sign(W) };
    app = buildApp({
      clickhouse: p.clickhouse,
      database: p.database,
      jwtSecret: secret,
      now: () => NOW,
      rateLimit: false,
    });
    await app.ready();
  }, 900_000);

  afterAll(async () => {
    await app?.close();
    await p?.cleanup();
  });
}
