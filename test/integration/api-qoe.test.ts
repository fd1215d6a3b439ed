// The QoE routes on the real pipeline (generator → collector → Kafka → processors → ClickHouse),
// against a reference built from the raw play_events table (every accepted event, FINAL), with
// the rules of docs/semantics.md applied here in TypeScript — not the route's query: a play is a
// session with a play_start whose first event lies in the range; its watch time is the sum of
// min(watched_ms, gap to the previous event) in session order; stall time the rebuffer_ms of its
// rebuffer_end events; a failure a play with an error event. Counts and the rebuffering ratio
// must agree exactly; the quantiles within 1 % of a startup time within 3 % of rank of the quantile.
import { describe, expect, it } from 'vitest';
import { parseCsv } from '../../api/csv.js';
import { queryRows } from '../../lib/clickhouse/client.js';
import { sql, v } from '../../lib/clickhouse/sql.js';
import { TABLES } from '../../schemas/tables.js';
import { A, catalog, EVENTS, FULL, get, ODD, ok, p, q, tokens, useApiFixture, videosOf } from './api-fixture.js';

interface RawEvent {
  session_id: string;
  video_id: string;
  event_type: string;
  t: string | number;
  event_id: string;
  watched_ms: string | number;
  startup_ms: number | string | null;
  rebuffer_ms: number | string | null;
}

interface RefPlay {
  video_id: string;
  started: number;
  startup: number | null;
  watch: number;
  rebuffer: number;
  rebuffers: number;
  failed: boolean;
}

/** Every session of `videos` from play_events, by the rules of docs/semantics.md. */
async function referencePlays(videos: readonly string[]): Promise<RefPlay[]> {
  const events = await queryRows<RawEvent>(
    p.clickhouse,
    sql`SELECT session_id, video_id, toString(event_type) AS event_type, event_time_ms AS t, event_id,
               watched_ms, startup_ms, rebuffer_ms
        FROM ${v.table(p.database, TABLES.playEvents)} FINAL
        WHERE video_id IN ${v.inList(videos, 'String')}`,
  );
  const bySession = new Map<string, RawEvent[]>();
  for (const e of events) {
    const list = bySession.get(e.session_id) ?? [];
    list.push(e);
    bySession.set(e.session_id, list);
  }
  const out: RefPlay[] = [];
  for (const list of bySession.values()) {
    list.sort((a, b) => Number(a.t) - Number(b.t) || (a.event_id < b.event_id ? -1 : a.event_id > b.event_id ? 1 : 0));
    const start = list.find((e) => e.event_type === 'play_start');
    if (!start) continue;
    let watch = 0;
    for (let i = 1; i < list.length; i++)
      watch += Math.max(0, Math.min(Number(list[i]!.watched_ms), Number(list[i]!.t) - Number(list[i - 1]!.t)));
    const stalls = list.filter((e) => e.event_type === 'rebuffer_end');
    out.push({
      video_id: list[0]!.video_id,
      // started_at is a DateTime: the first event time to the second
      started: Math.floor(Number(list[0]!.t) / 1000) * 1000,
      startup: start.startup_ms === null ? null : Number(start.startup_ms),
      watch,
      rebuffer: stalls.reduce((s, e) => s + Number(e.rebuffer_ms ?? 0), 0),
      rebuffers: stalls.length,
      failed: list.some((e) => e.event_type === 'error'),
    });
  }
  return out;
}

/** The exact quantile (nearest rank) and the rank of a value among sorted values. */
const exactQuantile = (sorted: readonly number[], q: number): number =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
const rankOf = (sorted: readonly number[], x: number): { lo: number; hi: number } => {
  let below = 0;
  let atOrBelow = 0;
  for (const s of sorted) {
    if (s < x) below++;
    if (s <= x) atOrBelow++;
  }
  return { lo: below / sorted.length, hi: atOrBelow / sorted.length };
};

interface Figures {
  plays: number;
  startup_measured: number;
  startup_ms_p50: number | null;
  startup_ms_p95: number | null;
  rebuffering_ratio: number | null;
  rebuffer_ms: number;
  watch_time_ms: number;
  rebuffers: number;
  rebuffers_per_play: number | null;
  plays_with_rebuffer: number;
  failures: number;
  failure_rate: number | null;
}
interface QoeBody {
  range: { from: string; to: string; tz: string };
  interval: string;
  open_plays: number;
  totals: Figures;
  series: Array<Figures & { time: string }>;
}

/** What was measured, for the report at the end of the file. */
const agreement: string[] = [];

function compare(label: string, got: Figures, plays: readonly RefPlay[]): void {
  const watch = plays.reduce((s, x) => s + x.watch, 0);
  const rebuffer = plays.reduce((s, x) => s + x.rebuffer, 0);
  const failures = plays.filter((x) => x.failed).length;
  const rebuffers = plays.reduce((s, x) => s + x.rebuffers, 0);
  expect(
    {
      plays: got.plays,
      failures: got.failures,
      rebuffers: got.rebuffers,
      plays_with_rebuffer: got.plays_with_rebuffer,
      rebuffer_ms: got.rebuffer_ms,
      watch_time_ms: got.watch_time_ms,
      rebuffering_ratio: got.rebuffering_ratio,
    },
    label,
  ).toEqual({
    plays: plays.length,
    failures,
    rebuffers,
    plays_with_rebuffer: plays.filter((x) => x.rebuffers > 0).length,
    rebuffer_ms: rebuffer,
    watch_time_ms: watch,
    rebuffering_ratio: rebuffer + watch === 0 ? null : Number((rebuffer / (rebuffer + watch)).toFixed(6)),
  });
  expect(got.failure_rate).toBe(plays.length ? Number((failures / plays.length).toFixed(6)) : null);
  const startups = plays.flatMap((x) => (x.startup === null ? [] : [x.startup])).sort((a, b) => a - b);
  expect(got.startup_measured, label).toBe(startups.length);
  const line = [`${label}: ${plays.length} plays, ${failures} failures, ratio ${got.rebuffering_ratio} (exact)`];
  for (const [qq, est] of [
    [0.5, got.startup_ms_p50],
    [0.95, got.startup_ms_p95],
  ] as const) {
    if (startups.length === 0) {
      expect(est).toBeNull();
      continue;
    }
    const exact = exactQuantile(startups, qq);
    const r = rankOf(startups, est!);
    // The estimate is within 1 % of a startup time whose rank lies within 3 % of the quantile
    // asked (the histogram's buckets are 1 % wide, docs/semantics.md "Quality of experience").
    const near = startups.filter((x) => {
      const rx = rankOf(startups, x);
      return Math.abs(x - est!) <= 0.01 * x && rx.hi >= qq - 0.03 && rx.lo <= qq + 0.03;
    });
    expect(near.length, `${label} p${qq * 100}: estimate ${est}, exact ${exact}`).toBeGreaterThan(0);
    line.push(
      `p${qq * 100} ${est} vs exact ${exact} (${((100 * (est! - exact)) / exact).toFixed(1)} %, rank ${r.lo.toFixed(3)}..${r.hi.toFixed(3)})`,
    );
  }
  agreement.push(line.join('; '));
}

/**
 * Per exit percent, the counted views of `video` in [from, to) that left right after a stall,
 * from play_events FINAL by docs/semantics.md ("Views", "Left after a stall"), written here.
 */
async function referenceStallExits(
  video: string,
  from: number,
  to: number,
): Promise<{ percent: number; views: number }[]> {
  const events = await queryRows<RawEvent & { viewer_id: string; position_ms: string | number }>(
    p.clickhouse,
    sql`SELECT session_id, viewer_id, video_id, toString(event_type) AS event_type, event_time_ms AS t, event_id,
               watched_ms, position_ms, startup_ms, rebuffer_ms
        FROM ${v.table(p.database, TABLES.playEvents)} FINAL
        WHERE video_id = ${v.string(video)}`,
  );
  const duration = catalog.byId.get(video)?.video.duration_ms ?? 0;
  const threshold = duration > 0 ? Math.min(30_000, duration) : 30_000;
  const bySession = new Map<string, typeof events>();
  for (const e of events) bySession.set(e.session_id, [...(bySession.get(e.session_id) ?? []), e]);
  const candidates: { id: string; viewer: string; t: number; exit: number | null }[] = [];
  for (const [id, list] of bySession) {
    list.sort((a, b) => Number(a.t) - Number(b.t) || (a.event_id < b.event_id ? -1 : a.event_id > b.event_id ? 1 : 0));
    let sum = 0;
    let qualified: number | null = null;
    for (let i = 0; i < list.length && qualified === null; i++) {
      if (i > 0) sum += Math.max(0, Math.min(Number(list[i]!.watched_ms), Number(list[i]!.t) - Number(list[i - 1]!.t)));
      if (sum >= threshold || list[i]!.event_type === 'complete') qualified = Number(list[i]!.t);
    }
    if (qualified === null) continue;
    const last = list.at(-1)!;
    const lastStart = list.findLastIndex((e) => e.event_type === 'rebuffer_start');
    const lastEnd = list.findLastIndex((e) => e.event_type === 'rebuffer_end');
    const left =
      last.event_type !== 'complete' &&
      ((lastStart >= 0 && lastEnd < lastStart) ||
        (lastEnd >= 0 && Number(last.t) - Number(list[lastEnd]!.t) <= 10_000));
    const exit =
      duration > 0 ? Math.max(0, Math.min(100, Math.floor((100 * Number(last.position_ms)) / duration))) : null;
    candidates.push({ id, viewer: list[0]!.viewer_id, t: qualified, exit: left ? exit : null });
  }
  // the repeat cap: per viewer, by candidate time (ties by session id), 30 min after the last counted
  candidates.sort((a, b) => a.t - b.t || (a.id < b.id ? -1 : 1));
  const lastCounted = new Map<string, number>();
  const out = new Map<number, number>();
  for (const c of candidates) {
    const prev = lastCounted.get(c.viewer);
    if (prev !== undefined && c.t - prev < 1_800_000) continue;
    lastCounted.set(c.viewer, c.t);
    if (c.exit !== null && c.t >= from && c.t < to) out.set(c.exit, (out.get(c.exit) ?? 0) + 1);
  }
  return [...out].sort((a, b) => a[0] - b[0]).map(([percent, views]) => ({ percent, views }));
}

describe(`QoE routes on the real pipeline against play_events (${EVENTS} generated records)`, () => {
  useApiFixture();

  it('creator totals and series: exact counts and ratio, quantiles within 3 % of rank; the series adds up', async () => {
    const ref = await referencePlays(videosOf(A));
    for (const [name, r] of [
      ['FULL', FULL],
      ['ODD', ODD],
    ] as const) {
      const body = await ok<QoeBody>(`/v1/creators/${A}/qoe?${q(r, { interval: 'hour' })}`);
      const inRange = ref.filter((x) => x.started >= r.from && x.started < r.to);
      expect(inRange.length).toBeGreaterThan(50);
      compare(`creator ${name}`, body.totals, inRange);
      // the last sessions stay open: the pipeline stopped before their inactivity gap passed
      expect(body.open_plays).toBeLessThanOrEqual(body.totals.plays);
      const sum = (k: keyof Figures): number => body.series.reduce((s, x) => s + Number(x[k] ?? 0), 0);
      for (const k of ['plays', 'failures', 'rebuffers', 'rebuffer_ms', 'watch_time_ms'] as const)
        expect(sum(k), k).toBe(body.totals[k]);
      // each hour bucket against the reference plays that started in it
      for (const point of body.series) {
        const t = Date.parse(point.time);
        const end = Math.min(r.to, Math.floor(t / 3_600_000) * 3_600_000 + 3_600_000);
        const hour = inRange.filter((x) => x.started >= t && x.started < end);
        expect([point.plays, point.failures, point.rebuffer_ms], point.time).toEqual([
          hour.length,
          hour.filter((x) => x.failed).length,
          hour.reduce((s, x) => s + x.rebuffer, 0),
        ]);
      }
    }
  });

  it('retention stall_exits of the busiest videos equal the rule applied to play_events, exactly', async () => {
    const ref = await referencePlays(videosOf(A));
    const counts = new Map<string, number>();
    for (const x of ref) counts.set(x.video_id, (counts.get(x.video_id) ?? 0) + 1);
    const busiest = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 5);
    let exits = 0;
    for (const [video] of busiest) {
      for (const [name, r] of [
        ['FULL', FULL],
        ['ODD', ODD],
      ] as const) {
        const body = await ok<{
          views: number;
          stall_exits: { percent: number; views: number }[];
          stall_exit_marker_min: number;
        }>(`/v1/videos/${video}/retention?${q(r)}`);
        const want = await referenceStallExits(video, r.from, r.to);
        expect(body.stall_exits, `${video} ${name}`).toEqual(want);
        expect(body.stall_exit_marker_min).toBe(Math.max(2, Math.ceil(body.views * 0.02)));
        const n = want.reduce((s, x) => s + x.views, 0);
        if (name === 'FULL') exits += n;
        agreement.push(
          `stall exits ${video} ${name}: ${n} views at ${want.length} points, ${body.stall_exits.filter((x) => x.views >= body.stall_exit_marker_min).length} marked (exact)`,
        );
      }
    }
    expect(exits).toBeGreaterThan(0);
  });

  it('video totals for each of the busiest videos; CSV carries the series', async () => {
    const ref = await referencePlays(videosOf(A));
    const counts = new Map<string, number>();
    for (const x of ref) counts.set(x.video_id, (counts.get(x.video_id) ?? 0) + 1);
    const busiest = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 3);
    for (const [video] of busiest) {
      const body = await ok<QoeBody & { video: { video_id: string } }>(`/v1/videos/${video}/qoe?${q(FULL)}`);
      expect(body.video.video_id).toBe(video);
      compare(
        `video ${video}`,
        body.totals,
        ref.filter((x) => x.video_id === video && x.started >= FULL.from && x.started < FULL.to),
      );
      const csv = await get(`/v1/videos/${video}/qoe?${q(FULL, { format: 'csv' })}`);
      expect(csv.statusCode).toBe(200);
      const table = parseCsv(csv.body);
      expect(table[0]).toEqual([
        'time',
        'plays',
        'startup_ms_p50',
        'startup_ms_p95',
        'rebuffering_ratio',
        'rebuffers',
        'failures',
      ]);
      expect(table.slice(1).reduce((s, row) => s + Number(row[1]), 0)).toBe(body.totals.plays);
    }
  });

  it('access: another creator 404 (creator and video), admin sees the same answer', async () => {
    const video = videosOf(A)[0]!;
    for (const url of [`/v1/creators/${A}/qoe?${q(FULL)}`, `/v1/videos/${video}/qoe?${q(FULL)}`]) {
      expect((await get(url, tokens.b)).statusCode, url).toBe(404);
      const mine = await get(url, tokens.a);
      const admin = await get(url, tokens.admin);
      expect(admin.statusCode).toBe(200);
      expect(admin.json()).toEqual(mine.json());
    }
    expect((await get(`/v1/creators/nobody-at-all/qoe`, tokens.admin)).statusCode).toBe(404);
    console.log(`QoE agreement with play_events:\n  ${agreement.join('\n  ')}`);
  });
});
