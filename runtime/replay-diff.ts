// `viewpulse replay --diff`: what a rebuild changed. For each table a processor owns
// (REBUILT_TABLES), both sides are aggregated to the grain people read (a window of a video, a
// video's sessions, a day's viewers) and compared key by key; the numbers are the ones the API
// shows, so a changed rule shows up as changed views, not as changed versions or partitions.
import { queryRows, type ClickHouseClient } from '../lib/clickhouse/client.js';
import { join, sql, v, type SqlFragment } from '../lib/clickhouse/sql.js';
import { REBUILT_TABLES, TABLES } from '../schemas/tables.js';

interface DiffSpec {
  table: string;
  keys: readonly string[];
  measures: readonly string[];
  /** SELECT <keys>, <measures> FROM <t> ... GROUP BY <keys>: one row per key, exact values. */
  select: (t: SqlFragment) => SqlFragment;
}

const uniqPerWindow = (table: string, key: 'video_id' | 'creator_id', time: 'hour' | 'day' | 'week'): DiffSpec => ({
  table,
  keys: [key, time],
  measures: ['viewers'],
  select: (t) =>
    sql`SELECT ${v.ident(key)}, ${v.ident(time)}, uniqCombinedMerge(viewers) AS viewers FROM ${t} GROUP BY ${v.ident(key)}, ${v.ident(time)}`,
});

const SPECS: Record<string, DiffSpec> = {
  [TABLES.counts]: {
    table: TABLES.counts,
    keys: ['dim', 'id', 'grain', 'window_start'],
    measures: ['plays', 'views', 'watch_ms'],
    select: (t) =>
      sql`SELECT dim, id, grain, window_start, sum(plays) AS plays, sum(views) AS views, sum(watch_ms) AS watch_ms
          FROM ${t} FINAL GROUP BY dim, id, grain, window_start`,
  },
  [TABLES.sessions]: {
    table: TABLES.sessions,
    keys: ['video_id'],
    measures: ['sessions', 'views', 'watch_ms', 'completed'],
    select: (t) =>
      sql`SELECT video_id, count() AS sessions, sum(counted_view) AS views, sum(watch_ms) AS watch_ms, sum(completed) AS completed
          FROM ${t} FINAL GROUP BY video_id`,
  },
  [TABLES.engagementRollup]: {
    table: TABLES.engagementRollup,
    keys: ['dim', 'id', 'value', 'grain', 'window_start'],
    measures: ['views', 'watch_ms', 'completions', 'plays'],
    select: (t) =>
      sql`SELECT dim, id, value, grain, window_start, sum(views) AS views, sum(watch_ms) AS watch_ms,
                 sum(completions) AS completions, sum(plays) AS plays
          FROM ${t} FINAL GROUP BY dim, id, value, grain, window_start`,
  },
  [TABLES.creatorLive]: {
    table: TABLES.creatorLive,
    keys: ['creator_id'],
    measures: ['sessions'],
    select: (t) => sql`SELECT creator_id, sum(length(session_ids)) AS sessions FROM ${t} FINAL GROUP BY creator_id`,
  },
  [TABLES.creatorAudience]: {
    table: TABLES.creatorAudience,
    keys: ['creator_id', 'dimension', 'grain', 'window_start', 'value'],
    measures: ['viewers'],
    select: (t) =>
      sql`SELECT creator_id, dimension, grain, window_start, value, uniqCombinedMerge(viewers) AS viewers
          FROM ${t} GROUP BY creator_id, dimension, grain, window_start, value`,
  },
  [TABLES.videoViewersHourly]: uniqPerWindow(TABLES.videoViewersHourly, 'video_id', 'hour'),
  [TABLES.videoViewersDaily]: uniqPerWindow(TABLES.videoViewersDaily, 'video_id', 'day'),
  [TABLES.creatorViewersHourly]: uniqPerWindow(TABLES.creatorViewersHourly, 'creator_id', 'hour'),
  [TABLES.creatorViewersDaily]: uniqPerWindow(TABLES.creatorViewersDaily, 'creator_id', 'day'),
  [TABLES.videoViewersWeekly]: uniqPerWindow(TABLES.videoViewersWeekly, 'video_id', 'week'),
  [TABLES.creatorViewersWeekly]: uniqPerWindow(TABLES.creatorViewersWeekly, 'creator_id', 'week'),
  [TABLES.creatorAudienceWeekly]: {
    table: TABLES.creatorAudienceWeekly,
    keys: ['creator_id', 'dimension', 'week', 'value'],
    measures: ['viewers'],
    select: (t) =>
      sql`SELECT creator_id, dimension, week, value, uniqCombinedMerge(viewers) AS viewers
          FROM ${t} GROUP BY creator_id, dimension, week, value`,
  },
  [TABLES.creatorViewerFirstSeen]: {
    table: TABLES.creatorViewerFirstSeen,
    keys: ['creator_id'],
    measures: ['viewers'],
    select: (t) => sql`SELECT creator_id, uniqExact(viewer_id) AS viewers FROM ${t} GROUP BY creator_id`,
  },
  [TABLES.creatorViewerDays]: {
    table: TABLES.creatorViewerDays,
    keys: ['creator_id', 'day'],
    measures: ['viewers'],
    select: (t) => sql`SELECT creator_id, day, uniqExact(viewer_id) AS viewers FROM ${t} GROUP BY creator_id, day`,
  },
  [TABLES.recommendationPairsDaily]: {
    table: TABLES.recommendationPairsDaily,
    keys: ['day', 'video_id', 'related_id'],
    measures: ['viewers'],
    select: (t) =>
      sql`SELECT day, video_id, related_id, uniqExactMerge(viewers) AS viewers FROM ${t} GROUP BY day, video_id, related_id`,
  },
  [TABLES.recommendationVideosDaily]: {
    table: TABLES.recommendationVideosDaily,
    keys: ['day', 'video_id'],
    measures: ['viewers'],
    select: (t) => sql`SELECT day, video_id, uniqExactMerge(viewers) AS viewers FROM ${t} GROUP BY day, video_id`,
  },
  [TABLES.recommendationViewersDaily]: {
    table: TABLES.recommendationViewersDaily,
    keys: ['day'],
    measures: ['viewers'],
    select: (t) => sql`SELECT day, uniqExactMerge(viewers) AS viewers FROM ${t} GROUP BY day`,
  },
  [TABLES.playEvents]: {
    table: TABLES.playEvents,
    keys: ['video_id', 'day'],
    measures: ['events'],
    select: (t) =>
      sql`SELECT video_id, toDate(event_time) AS day, count() AS events FROM ${t} FINAL GROUP BY video_id, day`,
  },
};

export interface TableDiff {
  table: string;
  /** keys on either side */
  keys: number;
  /** keys whose measures differ (or that exist on one side only) */
  differing: number;
  /** per measure: the total on the live side and on the shadow side */
  totals: Record<string, { live: number; shadow: number }>;
  /** the first differing keys, biggest change first: key values, then live → shadow per measure */
  examples: Array<{ key: Record<string, string>; live: Record<string, number>; shadow: Record<string, number> }>;
}

/** Compares a processor's tables in `live` and `shadow` (databases), as in SPECS. */
export async function diffTables(
  ch: ClickHouseClient,
  processor: keyof typeof REBUILT_TABLES,
  live: string,
  shadow: string,
  examples = 10,
): Promise<TableDiff[]> {
  const out: TableDiff[] = [];
  for (const table of REBUILT_TABLES[processor]) {
    // The materialized recommendations are derived, not rebuilt: the refresher scores them again.
    const spec = SPECS[table];
    if (!spec) continue;
    const keys = join(spec.keys.map((k) => v.ident(k)));
    const sides = join(
      spec.measures.flatMap((m) => [
        sql`sumIf(${v.ident(m)}, side = 0) AS ${v.ident(`live_${m}`)}`,
        sql`sumIf(${v.ident(m)}, side = 1) AS ${v.ident(`shadow_${m}`)}`,
      ]),
    );
    const differs = join(
      spec.measures.map((m) => sql`${v.ident(`live_${m}`)} != ${v.ident(`shadow_${m}`)}`),
      ' OR ',
    );
    const both = sql`SELECT ${keys}, ${sides}, max(side = 0) AND max(side = 1) AS on_both
      FROM (SELECT 0 AS side, * FROM (${spec.select(v.table(live, table))})
            UNION ALL SELECT 1 AS side, * FROM (${spec.select(v.table(shadow, table))}))
      GROUP BY ${keys}`;
    const totalsSql = join(
      spec.measures.flatMap((m) => [
        sql`toString(sum(${v.ident(`live_${m}`)})) AS ${v.ident(`total_live_${m}`)}`,
        sql`toString(sum(${v.ident(`shadow_${m}`)})) AS ${v.ident(`total_shadow_${m}`)}`,
      ]),
    );
    const [summary] = await queryRows<Record<string, string>>(
      ch,
      sql`SELECT toString(count()) AS keys, toString(countIf(${differs} OR NOT on_both)) AS differing, ${totalsSql} FROM (${both})`,
    );
    const first = spec.measures[0]!;
    const rows = await queryRows<Record<string, string | number>>(
      ch,
      sql`SELECT * FROM (${both}) WHERE ${differs} OR NOT on_both
          ORDER BY abs(toInt64(${v.ident(`shadow_${first}`)}) - toInt64(${v.ident(`live_${first}`)})) DESC, ${keys}
          LIMIT ${v.uint(examples)}`,
    );
    out.push({
      table,
      keys: Number(summary?.keys ?? 0),
      differing: Number(summary?.differing ?? 0),
      totals: Object.fromEntries(
        spec.measures.map((m) => [
          m,
          { live: Number(summary?.[`total_live_${m}`]), shadow: Number(summary?.[`total_shadow_${m}`]) },
        ]),
      ),
      examples: rows.map((r) => ({
        key: Object.fromEntries(spec.keys.map((k) => [k, String(r[k])])),
        live: Object.fromEntries(spec.measures.map((m) => [m, Number(r[`live_${m}`])])),
        shadow: Object.fromEntries(spec.measures.map((m) => [m, Number(r[`shadow_${m}`])])),
      })),
    });
  }
  return out;
}

/** The diff as people read it: a line per table, then its biggest changes. */
export function formatDiff(diffs: readonly TableDiff[]): string {
  const n = (x: number): string => x.toLocaleString('en-US');
  const lines: string[] = [];
  for (const d of diffs) {
    const totals = Object.entries(d.totals)
      .map(
        ([m, t]) =>
          `${m} ${n(t.live)} → ${n(t.shadow)}${t.live === t.shadow ? '' : ` (${t.shadow > t.live ? '+' : ''}${n(t.shadow - t.live)})`}`,
      )
      .join('; ');
    lines.push(`${d.table}: ${n(d.keys)} keys, ${n(d.differing)} differ — ${totals}`);
    for (const e of d.examples) {
      const key = Object.values(e.key).join(' ');
      const change = Object.keys(e.live)
        .filter((m) => e.live[m] !== e.shadow[m])
        .map((m) => `${m} ${n(e.live[m]!)} → ${n(e.shadow[m]!)}`)
        .join(', ');
      lines.push(`  ${key}: ${change}`);
    }
  }
  return lines.join('\n');
}
