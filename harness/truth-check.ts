// ClickHouse against the generator's ground truth: what the pipeline tests assert and what
// `viewpulse verify --truth FILE` prints. The rules are the generator's (generator/truth.ts,
// written from docs/semantics.md); this file only reads ClickHouse the way an analyst would
// (FINAL, summed over partitions) and compares.
import { queryRows, type ClickHouseClient } from '../lib/clickhouse/client.js';
import { sql, v } from '../lib/clickhouse/sql.js';
import { TABLES } from '../schemas/tables.js';
import type { TruthReport } from '../generator/index.js';

/** "video|minute" → [plays, views, watch_ms] from the truth. */
export function truthMinutes(truth: TruthReport): Map<string, [number, number, number]> {
  return new Map(truth.minutes.map((r) => [`${r.video_id}|${r.minute}`, [r.plays, r.views, r.watch_ms]]));
}

/** The same from view_counts (minute grain, every non-zero cell). */
export async function clickhouseMinutes(
  ch: ClickHouseClient,
  database: string,
): Promise<Map<string, [number, number, number]>> {
  const rows = await queryRows<{ video_id: string; m: number; plays: string; views: string; watch: string }>(
    ch,
    sql`SELECT id AS video_id, toUInt32(window_start) AS m, sum(plays) AS plays, sum(views) AS views, sum(watch_ms) AS watch
        FROM ${v.table(database, TABLES.counts)} FINAL
        WHERE dim = 'video' AND grain = 'minute'
        GROUP BY video_id, m HAVING plays != 0 OR views != 0 OR watch != 0`,
  );
  return new Map(
    rows.map((r) => [`${r.video_id}|${Number(r.m) * 1000}`, [Number(r.plays), Number(r.views), Number(r.watch)]]),
  );
}

/** Relative error of each video-day unique viewer count, worst first. */
export async function uniquesError(ch: ClickHouseClient, database: string, truth: TruthReport): Promise<number> {
  const rows = await queryRows<{ video_id: string; day: string; n: string }>(
    ch,
    sql`SELECT video_id, toString(day) AS day, uniqCombinedMerge(viewers) AS n
        FROM ${v.table(database, TABLES.videoViewersDaily)} GROUP BY video_id, day`,
  );
  const got = new Map(rows.map((r) => [`${r.video_id}|${r.day}`, Number(r.n)]));
  let worst = 0;
  for (const t of truth.daily_uniques) {
    const g = got.get(`${t.video_id}|${t.day}`) ?? 0;
    worst = Math.max(worst, Math.abs(g - t.viewers) / t.viewers);
  }
  if (got.size !== truth.daily_uniques.length) worst = Math.max(worst, 1);
  return worst;
}

/** Worst absolute difference, in percentage points, of any retention point of any video. */
export async function retentionError(ch: ClickHouseClient, database: string, truth: TruthReport): Promise<number> {
  const rows = await queryRows<{ video_id: string; bucket: number; n: string }>(
    ch,
    sql`SELECT video_id, arrayJoin(covered) AS bucket, count() AS n
        FROM ${v.table(database, TABLES.sessions)} FINAL WHERE counted_view = 1 GROUP BY video_id, bucket`,
  );
  const views = await queryRows<{ video_id: string; n: string }>(
    ch,
    sql`SELECT video_id, count() AS n FROM ${v.table(database, TABLES.sessions)} FINAL WHERE counted_view = 1 GROUP BY video_id`,
  );
  const viewsBy = new Map(views.map((r) => [r.video_id, Number(r.n)]));
  const cover = new Map(rows.map((r) => [`${r.video_id}|${r.bucket}`, Number(r.n)]));
  let worst = 0;
  for (const t of truth.retention) {
    const n = viewsBy.get(t.video_id) ?? 0;
    for (let b = 0; b <= 100; b++) {
      const expected = t.views ? (100 * t.covering[b]!) / t.views : 0;
      const got = n ? (100 * (cover.get(`${t.video_id}|${b}`) ?? 0)) / n : 0;
      worst = Math.max(worst, Math.abs(expected - got));
    }
  }
  return worst;
}

/**
 * Truths of several generator runs whose seeds differ (their videos and viewers are disjoint)
 * as one: what ClickHouse holds after all of them went through the pipeline.
 */
export function unionTruth(truths: readonly TruthReport[]): TruthReport {
  const [first, ...rest] = truths;
  if (!first) throw new Error('no truth to combine');
  const out: TruthReport = structuredClone(first);
  for (const t of rest) {
    out.minutes = out.minutes.concat(t.minutes);
    out.daily_uniques = out.daily_uniques.concat(t.daily_uniques);
    out.creator_daily_uniques = out.creator_daily_uniques.concat(t.creator_daily_uniques);
    out.retention = out.retention.concat(t.retention);
    out.counts.events += t.counts.events;
    for (const k of Object.keys(out.totals) as (keyof TruthReport['totals'])[]) out.totals[k] += t.totals[k];
  }
  return out;
}

export interface Check {
  name: string;
  got: string;
  want: string;
  ok: boolean;
}

/** Every exact number of the truth, and the estimates within their bounds (2 %, 1 point). */
export async function checkAgainstTruth(ch: ClickHouseClient, database: string, truth: TruthReport): Promise<Check[]> {
  const checks: Check[] = [];
  const exact = (name: string, got: number, want: number): void => {
    checks.push({ name, got: String(got), want: String(want), ok: got === want });
  };
  const [raw] = await queryRows<{ n: string; distinct: string }>(
    ch,
    sql`SELECT count() AS n, uniqExact(event_id) AS distinct FROM ${v.table(database, TABLES.playEvents)} FINAL`,
  );
  exact('raw-events: rows in play_events', Number(raw?.n ?? 0), truth.counts.events);
  exact('raw-events: distinct event ids', Number(raw?.distinct ?? 0), truth.counts.events);

  const got = await clickhouseMinutes(ch, database);
  const want = truthMinutes(truth);
  let differ = 0;
  const sums = [0, 0, 0];
  for (const [k, w] of want) {
    const g = got.get(k);
    if (!g || g[0] !== w[0] || g[1] !== w[1] || g[2] !== w[2]) differ++;
  }
  for (const [k, g] of got) {
    if (!want.has(k)) differ++;
    for (let i = 0; i < 3; i++) sums[i]! += g[i]!;
  }
  exact('view-counts: video-minute cells that differ', differ, 0);
  exact('view-counts: plays', sums[0]!, truth.totals.plays);
  exact('view-counts: views', sums[1]!, truth.totals.views);
  exact('view-counts: watch time (ms)', sums[2]!, truth.totals.watch_ms);

  const [views] = await queryRows<{ n: string }>(
    ch,
    sql`SELECT count() AS n FROM ${v.table(database, TABLES.sessions)} FINAL WHERE counted_view = 1`,
  );
  exact('engagement: sessions counted as views', Number(views?.n ?? 0), truth.totals.views);
  const uniques = await uniquesError(ch, database, truth);
  checks.push({
    name: 'engagement: unique viewers per video-day, worst error',
    got: `${(uniques * 100).toFixed(2)} %`,
    want: '≤ 2 %',
    ok: uniques <= 0.02,
  });
  const retention = await retentionError(ch, database, truth);
  checks.push({
    name: 'engagement: retention, worst point',
    got: `${retention.toFixed(2)} pt`,
    want: '≤ 1 pt',
    ok: retention <= 1,
  });
  return checks;
}
