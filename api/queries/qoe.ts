// Quality of experience (docs/semantics.md "Quality of experience"): startup time, rebuffering
// and playback failures over the sessions that started in a range, read from the latest version
// of each session (latestSessions), in one pass for the totals and one for the series.
import type { Dim } from './counts.js';
import { type Db, num, rows } from './db.js';
import type { Range } from './range.js';
import { sessionsOf } from './sessions.js';
import { type SqlFragment, sql, v } from '../../lib/clickhouse/sql.js';

export interface QoeFigures {
  /** sessions with a play_start whose first event lies in the range */
  plays: number;
  /** plays that reported a startup time */
  startup_measured: number;
  /** t-digest estimates, ms; null without a measured startup */
  startup_ms_p50: number | null;
  startup_ms_p95: number | null;
  /** stall time over (watch time + stall time) of the plays; null when both are 0 */
  rebuffering_ratio: number | null;
  rebuffer_ms: number;
  watch_time_ms: number;
  /** rebuffer_end events (completed stalls) of the plays */
  rebuffers: number;
  /** rebuffers / plays; null without plays */
  rebuffers_per_play: number | null;
  /** plays with at least one stall */
  plays_with_rebuffer: number;
  /** plays with at least one error event */
  failures: number;
  /** failures / plays; null without plays */
  failure_rate: number | null;
}

export interface Qoe {
  totals: QoeFigures;
  /** one per bucket of `boundaries` (zeros and nulls included) */
  series: QoeFigures[];
  /** plays of the range whose session is still open (their figures may still change) */
  open: number;
}

interface QoeRow {
  q_bucket?: number | string;
  q_plays: string | number;
  q_measured: string | number;
  q_startup: Array<number | string> | null;
  q_rebuffer: string | number;
  q_watch: string | number;
  q_rebuffers: string | number;
  q_stalled: string | number;
  q_failures: string | number;
  q_open: string | number;
}

const round = (x: number, digits: number): number => Number(x.toFixed(digits));

function figures(r: QoeRow | undefined): QoeFigures {
  const plays = num(r?.q_plays);
  const measured = num(r?.q_measured);
  const rebuffer = num(r?.q_rebuffer);
  const watch = num(r?.q_watch);
  const rebuffers = num(r?.q_rebuffers);
  const failures = num(r?.q_failures);
  const q = measured > 0 && r?.q_startup ? r.q_startup.map(Number) : null;
  return {
    plays,
    startup_measured: measured,
    startup_ms_p50: q && Number.isFinite(q[0]) ? Math.round(q[0]!) : null,
    startup_ms_p95: q && Number.isFinite(q[1]) ? Math.round(q[1]!) : null,
    rebuffering_ratio: rebuffer + watch === 0 ? null : round(rebuffer / (rebuffer + watch), 6),
    rebuffer_ms: rebuffer,
    watch_time_ms: watch,
    rebuffers,
    rebuffers_per_play: plays === 0 ? null : round(rebuffers / plays, 4),
    plays_with_rebuffer: num(r?.q_stalled),
    failures,
    failure_rate: plays === 0 ? null : round(failures / plays, 6),
  };
}

/**
 * The plays of the range: latest sessions with plays = 1 and started_at in [from, to). The
 * stored rows are narrowed first by conditions that stay true for later versions (started_at
 * only moves earlier, ended_at only later), the range itself applies to the latest version.
 */
function playsOf(db: Db, dim: Dim, id: string, range: Range): { from: SqlFragment; where: SqlFragment } {
  const from = v.dateTime(range.from);
  const to = v.dateTime(range.to);
  return {
    from: sessionsOf(
      db,
      dim,
      id,
      ['started_at', 'plays', 'startup_ms', 'rebuffer_ms', 'rebuffers', 'errors', 'watch_ms', 'closed'],
      sql`started_at < ${to} AND ended_at >= ${from}`,
    ),
    where: sql`plays = 1 AND started_at >= ${from} AND started_at < ${to}`,
  };
}

// Aliases carry a q_ prefix: none may shadow a column (18.16 resolves an alias first).
const AGGREGATES = sql`count() AS q_plays,
       count(startup_ms) AS q_measured,
       quantilesTDigest(0.5, 0.95)(startup_ms) AS q_startup,
       sum(rebuffer_ms) AS q_rebuffer,
       sum(watch_ms) AS q_watch,
       sum(rebuffers) AS q_rebuffers,
       countIf(rebuffers > 0) AS q_stalled,
       countIf(errors > 0) AS q_failures,
       countIf(closed = 0) AS q_open`;

/**
 * QoE totals over the range and per bucket: `boundaries` = [from, b1, ..., to]
 * (range.ts bucketBoundaries); a play belongs to the bucket of its started_at.
 */
export async function qoe(db: Db, dim: Dim, id: string, boundaries: readonly number[]): Promise<Qoe> {
  const n = boundaries.length - 1;
  const range = { from: boundaries[0]!, to: boundaries[n]! };
  const { from, where } = playsOf(db, dim, id, range);
  const inner = boundaries.slice(1, n).map((b) => Math.floor(b / 1000));
  const [totals, buckets] = await Promise.all([
    rows<QoeRow>(db, sql`SELECT ${AGGREGATES} FROM ${from} WHERE ${where}`),
    rows<QoeRow>(
      db,
      sql`SELECT arrayCount(b -> b <= toUInt32(started_at), ${v.array(inner, 'UInt32')}) AS q_bucket, ${AGGREGATES}
          FROM ${from} WHERE ${where}
          GROUP BY q_bucket`,
    ),
  ]);
  const series = Array.from({ length: n }, () => figures(undefined));
  for (const r of buckets) series[num(r.q_bucket)] = figures(r);
  return { totals: figures(totals[0]), series, open: num(totals[0]?.q_open) };
}
