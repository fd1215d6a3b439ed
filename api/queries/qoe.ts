// Quality of experience (docs/semantics.md "Quality of experience"): startup time, rebuffering
// and playback failures over the sessions that started in a range. The route reads the
// engagement rollup (sums per window of the start, startup times as a mergeable histogram),
// one read for the series, whose buckets add up to the totals; the same from the latest
// version of each session (latestSessions, t-digest quantiles) stays for analysts and checks.
import { seriesFilter, type Dim } from './counts.js';
import { type Db, num, rows, table } from './db.js';
import { bucketIndex, type Range } from './range.js';
import { sessionsOf, type ReadModel } from './sessions.js';
import { type SqlFragment, sql, v } from '../../lib/clickhouse/sql.js';
import { startupOfBucket } from '../../processors/semantics.js';

export interface QoeFigures {
  /** sessions with a play_start whose first event lies in the range */
  plays: number;
  /** plays that reported a startup time */
  startup_measured: number;
  /** estimates, ms (nearest rank over 1 % buckets; t-digest from sessions); null without a measured startup */
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

/** The rollup's QoE sums of some windows, and their startup histogram. */
interface PlaySums {
  plays: number;
  measured: number;
  rebuffer: number;
  watch: number;
  rebuffers: number;
  stalled: number;
  failures: number;
  open: number;
  /** startup bucket → plays */
  startup: Map<number, number>;
}

const noPlays = (): PlaySums => ({
  plays: 0,
  measured: 0,
  rebuffer: 0,
  watch: 0,
  rebuffers: 0,
  stalled: 0,
  failures: 0,
  open: 0,
  startup: new Map(),
});

function addSums(into: PlaySums, x: PlaySums): void {
  into.plays += x.plays;
  into.measured += x.measured;
  into.rebuffer += x.rebuffer;
  into.watch += x.watch;
  into.rebuffers += x.rebuffers;
  into.stalled += x.stalled;
  into.failures += x.failures;
  into.open += x.open;
  for (const [b, c] of x.startup) into.startup.set(b, (into.startup.get(b) ?? 0) + c);
}

/** The nearest-rank quantile of a startup histogram: the value of the bucket holding rank ⌈q·n⌉. */
export function histogramQuantile(histogram: ReadonlyMap<number, number>, q: number): number | null {
  const buckets = [...histogram].filter(([, c]) => c > 0).sort((a, b) => a[0] - b[0]);
  const n = buckets.reduce((s, [, c]) => s + c, 0);
  if (n === 0) return null;
  const rank = Math.max(1, Math.ceil(q * n));
  let seen = 0;
  for (const [b, c] of buckets) {
    seen += c;
    if (seen >= rank) return startupOfBucket(b);
  }
  return startupOfBucket(buckets.at(-1)![0]);
}

function sumsFigures(s: PlaySums): QoeFigures {
  return figures({
    q_plays: s.plays,
    q_measured: s.measured,
    q_startup: s.measured > 0 ? [histogramQuantile(s.startup, 0.5)!, histogramQuantile(s.startup, 0.95)!] : null,
    q_rebuffer: s.rebuffer,
    q_watch: s.watch,
    q_rebuffers: s.rebuffers,
    q_stalled: s.stalled,
    q_failures: s.failures,
    q_open: s.open,
  });
}

/** QoE from the rollup: one read of the windows making up the buckets, grouped so none straddles one. */
async function qoeFromRollup(db: Db, dim: Dim, id: string, boundaries: readonly number[]): Promise<Qoe> {
  const n = boundaries.length - 1;
  const { where, unit } = seriesFilter(boundaries);
  const r = await rows<{
    u: string | number;
    plays: string;
    measured: string;
    rebuffer: string;
    watch: string;
    rebuffers: string;
    stalled: string;
    failures: string;
    open: string;
    startup: [Array<string | number>, Array<string | number>];
  }>(
    db,
    sql`SELECT intDiv(toUInt32(window_start), ${v.uint(unit, 'UInt32')}) * ${v.uint(unit, 'UInt32')} AS u,
               sum(plays) AS plays, sum(startup_measured) AS measured, sum(rebuffer_ms) AS rebuffer,
               sum(play_watch_ms) AS watch, sum(rebuffers) AS rebuffers, sum(plays_with_rebuffer) AS stalled,
               sum(failures) AS failures, sum(open_plays) AS open,
               sumMap(startup_buckets, startup_counts) AS startup
        FROM ${table(db, 'engagementRollup')} FINAL
        WHERE dim = ${v.string(dim)} AND id = ${v.string(id)} AND ${where}
        GROUP BY u`,
  );
  const buckets = Array.from({ length: n }, noPlays);
  const total = noPlays();
  for (const x of r) {
    const [keys, counts] = x.startup;
    const s: PlaySums = {
      plays: num(x.plays),
      measured: num(x.measured),
      rebuffer: num(x.rebuffer),
      watch: num(x.watch),
      rebuffers: num(x.rebuffers),
      stalled: num(x.stalled),
      failures: num(x.failures),
      open: num(x.open),
      startup: new Map(keys.map((k, i) => [Number(k), Number(counts[i])])),
    };
    addSums(buckets[bucketIndex(boundaries, num(x.u) * 1000)]!, s);
    addSums(total, s);
  }
  return { totals: sumsFigures(total), series: buckets.map(sumsFigures), open: total.open };
}

/**
 * QoE totals over the range and per bucket: `boundaries` = [from, b1, ..., to]
 * (range.ts bucketBoundaries); a play belongs to the bucket of its started_at.
 */
export async function qoe(
  db: Db,
  dim: Dim,
  id: string,
  boundaries: readonly number[],
  source: ReadModel = 'rollup',
): Promise<Qoe> {
  if (source === 'rollup') return qoeFromRollup(db, dim, id, boundaries);
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
