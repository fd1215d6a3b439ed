// The recommendations processor and its scoring, in memory (no network): pair extraction from
// co-view windows over qualified views, the per-window cap, the once-per-day rule, time decay,
// the cosine similarity and the k-viewer threshold — and crashes at random records, after
// which the tables (as ClickHouse's uniqExact states see them) are identical.
import { describe, expect, it } from 'vitest';
import { TestDriver } from '../../../processors/driver.js';
import { totals, insertSorted, type CompactEvent } from '../../../processors/playback/session.js';
import { toCompact } from '../../../processors/playback/state.js';
import {
  addView,
  dayOf,
  firstDistinct,
  windowObservations,
  type PairObservation,
  type VideoObservation,
} from '../../../processors/recommendations/coview.js';
import {
  DEFAULT_RECOMMENDATIONS,
  PAIR_OBSERVATIONS_TABLE,
  recommendations,
  RecommendationsPartition,
  VIDEO_OBSERVATIONS_TABLE,
} from '../../../processors/recommendations/processor.js';
import { clusterSizes, popularBaseline, recallAtK } from '../../../processors/recommendations/quality.js';
import { CoviewIndex } from '../../../processors/recommendations/score.js';
import { decayWeight, DEFAULT_READ, PRIVACY_MIN_VIEWERS, type ReadOptions } from '../../../processors/semantics.js';
import type { VideoLookup } from '../../../processors/contract.js';
import { SessionWindows } from '../../../processors/windows.js';
import { DAY, HOUR, MINUTE } from '../../../lib/time.js';
import { TABLES } from '../../../schemas/tables.js';
import type { PlayEvent } from '../../../schemas/types.js';
import { rng } from './fixtures.js';
import { DEFAULT_RULE_PARAMETERS } from '../../../processors/parameters.js';

const S = 1_000;
const T = Date.UTC(2026, 10, 21, 9, 0, 0);
const GAP = DEFAULT_RECOMMENDATIONS.gapMs;
const CAP = DEFAULT_RECOMMENDATIONS.maxVideosPerWindow;

// ------------------------------------------------------------------ building events

let n = 0;
function ev(
  session: string,
  viewer: string,
  video: string,
  type: PlayEvent['event_type'],
  at: number,
  watched: number,
): PlayEvent {
  return {
    event_id: `r${String(++n).padStart(7, '0')}`,
    event_type: type,
    event_time: at,
    received_at: at + 500,
    session_id: session,
    viewer_id: viewer,
    video_id: video,
    position_ms: 0,
    watched_ms: watched,
    device: 'desktop',
    os: 'linux',
    country: 'FR',
    traffic_source: 'browse',
    referrer_video_id: null,
    seek_from_ms: null,
    startup_ms: null,
    rebuffer_ms: null,
    error_code: null,
    sdk_version: 'test',
  };
}

let sessions = 0;
/** One playback session: play_start at `at`, then a heartbeat per 10 s of `watchS` seconds. Qualifies at at + 30 s when watchS ≥ 30. */
function watch(viewer: string, video: string, at: number, watchS = 40, session = `s${++sessions}`): PlayEvent[] {
  const out = [ev(session, viewer, video, 'play_start', at, 0)];
  for (let w = 10; w <= watchS; w += 10) out.push(ev(session, viewer, video, 'heartbeat', at + w * S, 10 * S));
  return out;
}

/** A far-later event of another viewer: pushes the watermark so every window closes. */
const closer = (at: number): PlayEvent => ev(`closer-${at}`, 'closer', 'zz', 'play_start', at, 0);

const anyVideo: VideoLookup = { get: (id) => ({ creatorId: `c-${id}`, durationMs: 600_000 }) };

type Row = Record<string, unknown>;

function drive(events: PlayEvent[], catalog: VideoLookup = anyVideo): TestDriver<PlayEvent> {
  const driver = new TestDriver(recommendations(), catalog);
  for (const e of events) driver.pipe(0, e);
  driver.flush();
  return driver;
}

const pairRows = (d: TestDriver<PlayEvent>): PairObservation[] =>
  d.table(PAIR_OBSERVATIONS_TABLE.name).rows() as unknown as PairObservation[];
const videoRows = (d: TestDriver<PlayEvent>): VideoObservation[] =>
  d.table(VIDEO_OBSERVATIONS_TABLE.name).rows() as unknown as VideoObservation[];

/** What ClickHouse's uniqExact states hold: key → sorted distinct viewers. */
function states(rows: readonly Row[], key: (r: Row) => string): Map<string, string[]> {
  const sets = new Map<string, Set<string>>();
  for (const r of rows) {
    const k = key(r);
    let s = sets.get(k);
    if (!s) sets.set(k, (s = new Set()));
    s.add(r.viewer_id as string);
  }
  return new Map([...sets].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, s]) => [k, [...s].sort()]));
}
const pairStates = (d: TestDriver<PlayEvent>): Map<string, string[]> =>
  states(pairRows(d) as unknown as Row[], (r) => `${String(r.day)}|${String(r.video_a)}|${String(r.video_b)}`);
const videoStates = (d: TestDriver<PlayEvent>): Map<string, string[]> =>
  states(videoRows(d) as unknown as Row[], (r) => `${String(r.day)}|${String(r.video_id)}`);
const pairsOf = (d: TestDriver<PlayEvent>): string[] =>
  [...new Set(pairRows(d).map((p) => `${p.video_a}+${p.video_b}`))].sort();

// ------------------------------------------------------------------ the batch reference

/**
 * The rule applied to all input at once: each session's candidate view time from all its
 * events (docs/semantics.md, "Views" rule 1); per viewer, views sorted by time and cut where
 * two consecutive views are ≥ 30 min apart; per window the first 20 distinct videos by their
 * earliest time; their pairs on the day of the later view.
 */
function reference(
  events: readonly PlayEvent[],
  durations: (video: string) => number,
): { pairs: Map<string, string[]>; videos: Map<string, string[]> } {
  const bySession = new Map<string, { viewer: string; video: string; events: CompactEvent[] }>();
  for (const e of events) {
    if (e.viewer_id === 'closer') continue;
    const s = bySession.get(e.session_id) ?? { viewer: e.viewer_id, video: e.video_id, events: [] };
    insertSorted(s.events, toCompact(e));
    bySession.set(e.session_id, s);
  }
  const views = new Map<string, [string, number][]>();
  for (const s of bySession.values()) {
    const t = totals(s.events, durations(s.video), DEFAULT_RULE_PARAMETERS.viewThresholdMs).candidate;
    if (t !== null) views.set(s.viewer, [...(views.get(s.viewer) ?? []), [s.video, t]]);
  }
  const pairs: Row[] = [];
  const videos: Row[] = [];
  for (const [viewer, list] of views) {
    list.sort((a, b) => a[1] - b[1]);
    const windows: [string, number][][] = [];
    let prev = -Infinity;
    for (const v of list) {
      if (v[1] - prev >= GAP) windows.push([]);
      windows.at(-1)!.push(v);
      prev = v[1];
    }
    for (const w of windows) {
      const earliest = new Map<string, number>();
      for (const [id, t] of w) if (!earliest.has(id) || t < earliest.get(id)!) earliest.set(id, t);
      const kept = [...earliest].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1)).slice(0, CAP);
      for (const [id, t] of kept) videos.push({ day: dayOf(t), video_id: id, viewer_id: viewer });
      for (let i = 0; i < kept.length; i++)
        for (let j = i + 1; j < kept.length; j++) {
          const [a, b] = [kept[i]![0], kept[j]![0]].sort();
          pairs.push({ day: dayOf(Math.max(kept[i]![1], kept[j]![1])), video_a: a, video_b: b, viewer_id: viewer });
        }
    }
  }
  return {
    pairs: states(pairs, (r) => `${String(r.day)}|${String(r.video_a)}|${String(r.video_b)}`),
    videos: states(videos, (r) => `${String(r.day)}|${String(r.video_id)}`),
  };
}

// ------------------------------------------------------------------ generated visits

interface Visits {
  catalog: VideoLookup;
  durations: (video: string) => number;
  /** delivery order, per partition */
  deliveries: { partition: number; event: PlayEvent }[];
}

/**
 * Viewers in taste groups making visits: chains of sessions a few seconds apart (sometimes a
 * 31–50 minute pause), some too short to qualify, some completing; delivered with local
 * reordering, duplicates and stragglers 2–10 minutes late; crossing midnight.
 */
function visits(
  seed: number,
  opts: { viewers?: number; videos?: number; visits?: number; partitions?: number } = {},
): Visits {
  const r = rng(seed);
  const viewers = opts.viewers ?? 16;
  const videos = opts.videos ?? 24;
  const partitions = opts.partitions ?? 2;
  const duration = (v: string): number => (Number(v.slice(1)) % 7 === 0 ? 20_000 : 300_000);
  const start = Date.UTC(2026, 10, 20, 21, 0, 0);
  const events: { t: number; partition: number; event: PlayEvent }[] = [];
  for (let i = 0; i < (opts.visits ?? 90); i++) {
    const viewer = Math.floor(r() * viewers);
    const group = viewer % 3;
    let t = start + Math.floor(r() * 8 * HOUR);
    const chain = 1 + Math.floor(r() * 6);
    for (let k = 0; k < chain; k++) {
      const video = `v${String(group + 3 * Math.floor((r() * videos) / 3)).padStart(2, '0')}`;
      const session = `s${seed}-${i}-${k}`;
      const watchS = Math.floor(r() * 9) * 10; // 0..80 s: some never qualify
      const dur = duration(video);
      const evs = [ev(session, `u${viewer}`, video, 'play_start', t, 0)];
      for (let w = 10; w <= watchS; w += 10) evs.push(ev(session, `u${viewer}`, video, 'heartbeat', t + w * S, 10 * S));
      if (r() < 0.3) evs.push(ev(session, `u${viewer}`, video, 'complete', t + watchS * S + 2 * S, 2 * S));
      for (const e of evs) {
        e.position_ms = Math.min(dur, e.event_time - t);
        events.push({ t: e.event_time, partition: viewer % partitions, event: e });
      }
      t +=
        watchS * S + 5 * S + Math.floor(r() * 40 * S) + (r() < 0.1 ? 31 * MINUTE + Math.floor(r() * 20 * MINUTE) : 0);
    }
  }
  events.sort((a, b) => a.t - b.t);
  const delivered: { key: number; partition: number; event: PlayEvent }[] = [];
  for (const e of events) {
    const x = r();
    const delay = x < 0.03 ? 2 * MINUTE + r() * 8 * MINUTE : x < 0.1 ? r() * 20 * S : r() * 2 * S;
    delivered.push({ key: e.t + delay, partition: e.partition, event: e.event });
    if (r() < 0.03) delivered.push({ key: e.t + delay + r() * 30 * S, partition: e.partition, event: e.event });
  }
  delivered.sort((a, b) => a.key - b.key);
  const end = start + 12 * HOUR;
  for (let p = 0; p < partitions; p++) delivered.push({ key: end, partition: p, event: closer(end + p) });
  return {
    catalog: { get: (v) => ({ creatorId: `c${Number(v.slice(1)) % 4}`, durationMs: duration(v) }) },
    durations: duration,
    deliveries: delivered.map(({ partition, event }) => ({ partition, event })),
  };
}

function run(seed: number, crash?: () => boolean): TestDriver<PlayEvent> {
  const t = visits(seed);
  const driver = new TestDriver(recommendations(), t.catalog);
  const r = rng(seed * 13 + 5);
  for (const [i, d] of t.deliveries.entries()) {
    driver.pipe(d.partition, d.event);
    if (i % 40 === 39) driver.flush();
    if (r() < 0.04) driver.checkpoint();
    if (crash?.()) {
      if (r() < 0.5) driver.flush(); // a crash may come between the row write and the checkpoint
      driver.crash();
      driver.recover();
    }
  }
  driver.checkpoint();
  return driver;
}

// ------------------------------------------------------------------ tests

describe('co-view windows (pure)', () => {
  const session = SessionWindows.withInactivityGap(GAP);

  it('keep each video once, at its earliest time, and the first N by (time, id)', () => {
    expect(
      firstDistinct(
        [
          ['b', 5],
          ['a', 9],
          ['b', 3],
          ['c', 3],
          ['d', 1],
        ],
        3,
      ),
    ).toEqual([
      ['d', 1],
      ['b', 3],
      ['c', 3],
    ]);
  });

  it('a view within the gap of two windows bridges them into one', () => {
    let ws = addView([], 'a', T, session, CAP);
    ws = addView(ws, 'c', T + 50 * MINUTE, session, CAP);
    expect(ws).toHaveLength(2);
    ws = addView(ws, 'b', T + 25 * MINUTE, session, CAP);
    expect(ws).toEqual([
      {
        first: T,
        last: T + 50 * MINUTE,
        videos: [
          ['a', T],
          ['b', T + 25 * MINUTE],
          ['c', T + 50 * MINUTE],
        ],
      },
    ]);
  });

  it('pairs are (smaller id, larger id) on the day of the later view; videos on the day of their view', () => {
    const late = Date.UTC(2026, 10, 21, 23, 50);
    const early = Date.UTC(2026, 10, 22, 0, 10);
    const { videos, pairs } = windowObservations('u1', {
      first: late,
      last: early + MINUTE,
      videos: [
        ['z', late],
        ['a', early],
        ['m', early + MINUTE],
      ],
    });
    expect(videos.map((v) => [v.day, v.video_id])).toEqual([
      ['2026-11-21', 'z'],
      ['2026-11-22', 'a'],
      ['2026-11-22', 'm'],
    ]);
    expect(pairs.map((p) => [p.day, p.video_a, p.video_b])).toEqual([
      ['2026-11-22', 'a', 'z'],
      ['2026-11-22', 'm', 'z'],
      ['2026-11-22', 'a', 'm'],
    ]);
  });
});

describe('recommendations processor: pairs from co-view windows', () => {
  it('views less than 30 minutes apart pair up; a 30-minute pause starts a new window', () => {
    const d = drive([
      ...watch('u1', 'a', T),
      ...watch('u1', 'b', T + 29 * MINUTE), // 29 min after a's view: same window
      ...watch('u1', 'c', T + 29 * MINUTE + 30 * MINUTE), // exactly 30 min after b's view: a new window
      ...watch('u1', 'd', T + 60 * MINUTE),
      closer(T + 6 * HOUR),
    ]);
    expect(pairsOf(d)).toEqual(['a+b', 'c+d']);
    expect(videoStates(d)).toEqual(new Map(['a', 'b', 'c', 'd'].map((v) => [`2026-11-21|${v}`, ['u1']])));
  });

  it('only qualified sessions are views: min(30 s, length) watched, or complete', () => {
    const short: VideoLookup = { get: (id) => ({ creatorId: 'c', durationMs: id === 'clip' ? 12_000 : 600_000 }) };
    const d = drive(
      [
        ...watch('u1', 'a', T, 20), // 20 s of a 10-minute video: no view
        ...watch('u1', 'clip', T + MINUTE, 20), // 20 s of a 12-second clip: a view
        ...watch('u1', 'b', T + 2 * MINUTE, 40), // a view
        ev('sx', 'u1', 'c', 'play_start', T + 3 * MINUTE, 0),
        ev('sx', 'u1', 'c', 'complete', T + 3 * MINUTE + 5 * S, 5 * S), // completed: a view
      ],
      short,
    );
    for (const e of [closer(T + 6 * HOUR)]) d.pipe(0, e);
    d.flush();
    expect(pairsOf(d)).toEqual(['b+c', 'b+clip', 'c+clip']);
  });

  it('waits for views to be final: an out-of-order event that un-qualifies a session leaves no pair', () => {
    // b's heartbeat at +40 s reports 30 s: b qualifies — until an event at +35 s arrives late,
    // after which the +40 s heartbeat contributes only 5 s (it cannot report more than time passed).
    const d = drive([
      ...watch('u1', 'a', T),
      ev('sb', 'u1', 'b', 'play_start', T + MINUTE, 0),
      ev('sb', 'u1', 'b', 'heartbeat', T + MINUTE + 40 * S, 30 * S),
      ev('sb', 'u1', 'b', 'heartbeat', T + MINUTE + 35 * S, 5 * S),
      closer(T + 6 * HOUR),
    ]);
    expect(pairsOf(d)).toEqual([]);
    expect([...videoStates(d).keys()]).toEqual(['2026-11-21|a']);
  });

  it(`caps a window at its first ${CAP} distinct videos: a binge of 25 makes ${(CAP * (CAP - 1)) / 2} pairs, not 300`, () => {
    const events: PlayEvent[] = [];
    // delivered newest first within the binge: the cap keeps the first by view time, not by arrival
    for (let i = 24; i >= 0; i--) events.push(...watch('u1', `v${String(i).padStart(2, '0')}`, T + i * 2 * MINUTE));
    // the binge keeps the window open past the 20th video: w at +58 min is 10 min after the 25th
    events.push(...watch('u1', 'w', T + 58 * MINUTE), closer(T + 8 * HOUR));
    const d = drive(events);
    const pairs = pairsOf(d);
    expect(pairs).toHaveLength((CAP * (CAP - 1)) / 2);
    const kept = new Set(pairs.flatMap((p) => p.split('+')));
    expect([...kept].sort()).toEqual(Array.from({ length: CAP }, (_, i) => `v${String(i).padStart(2, '0')}`));
    expect(videoRows(d)).toHaveLength(CAP);
    // the window had more than CAP videos, so w (after the 25th view) joins it and is left out too
    expect(kept.has('w')).toBe(false);
  });

  it('the repeat cap does not apply: a re-watch keeps the window open, and the video counts once', () => {
    const d = drive([
      ...watch('u1', 'a', T),
      ...watch('u1', 'a', T + 25 * MINUTE), // a re-watch the repeat cap would not count as a view
      ...watch('u1', 'b', T + 50 * MINUTE), // 50 min after the counted view, 25 min after the re-watch
      closer(T + 6 * HOUR),
    ]);
    expect(pairsOf(d)).toEqual(['a+b']);
    expect(videoRows(d).filter((v) => v.video_id === 'a')).toHaveLength(1);
  });

  it('counts a pair at most once per viewer and day, and again on another day', () => {
    const day2 = T + DAY;
    const d = drive([
      ...watch('u1', 'a', T),
      ...watch('u1', 'b', T + 5 * MINUTE),
      ...watch('u1', 'b', T + 2 * HOUR), // a second window the same day
      ...watch('u1', 'a', T + 2 * HOUR + 5 * MINUTE),
      ...watch('u2', 'a', T + HOUR),
      ...watch('u2', 'b', T + HOUR + MINUTE),
      ...watch('u1', 'a', day2),
      ...watch('u1', 'b', day2 + MINUTE),
      closer(day2 + 6 * HOUR),
    ]);
    expect(pairStates(d)).toEqual(
      new Map([
        ['2026-11-21|a|b', ['u1', 'u2']],
        ['2026-11-22|a|b', ['u1']],
      ]),
    );
    const index = CoviewIndex.from(pairRows(d), videoRows(d));
    // support is distinct viewers over the period: u1 on two days is still one viewer
    expect(
      index.pairs
        .get('a')!
        .get('b')!
        .get(Math.floor(T / DAY))!.size,
    ).toBe(2);
  });

  it("holds a window open while one of the viewer's playback sessions that began within reach is still open", () => {
    const h = new TestDriver(recommendations(), anyVideo);
    const long: PlayEvent[] = [];
    for (let m = 0; m <= 120; m += 1)
      long.push(
        ev('long', 'u1', 'b', m === 0 ? 'play_start' : 'heartbeat', T + 10 * MINUTE + m * MINUTE, m === 0 ? 0 : MINUTE),
      );
    for (const e of [...watch('u1', 'a', T), ...long, ...watch('u2', 'x', T + 131 * MINUTE)]) h.pipe(0, e);
    h.flush();
    // a's window would close at 30 + 5 min after its view, but b's session (begun within reach) is open
    expect(videoRows(h)).toEqual([]);
    h.pipe(0, closer(T + 4 * HOUR));
    h.flush();
    expect(pairsOf(h)).toEqual(['a+b']);
  });

  it('sets aside a view that becomes final after its window closed, and records it in late_events', () => {
    const h = new TestDriver(recommendations(), anyVideo);
    for (const e of [...watch('u1', 'a', T), ...watch('u2', 'x', T + 40 * MINUTE)]) h.pipe(0, e);
    h.flush();
    expect(videoRows(h).map((v) => v.video_id)).toEqual(['a']); // closed: watermark passed a + 30 + 5 min
    // a whole session of u1, 10 minutes after a, arrives now (half an hour late)
    for (const e of [...watch('u1', 'b', T + 10 * MINUTE), closer(T + 4 * HOUR)]) h.pipe(0, e);
    h.flush();
    expect(pairsOf(h)).toEqual([]);
    const late = h.table(TABLES.lateEvents).rows();
    expect(late).toEqual([
      expect.objectContaining({
        processor: 'recommendations',
        video_id: 'b',
        event_time: T + 10 * MINUTE + 30 * S,
        applied: 0,
        reason: 'coview_window_closed',
      }),
    ]);
  });

  it('forgets a viewer once nothing can reach its closed windows (24 h of event time later)', () => {
    const p = recommendations().create(0, undefined, anyVideo) as RecommendationsPartition;
    let offset = 0;
    const feed = (...events: PlayEvent[]): void => {
      for (const value of events) p.process({ topic: 'play-events', partition: 0, offset: offset++, key: null, value });
    };
    feed(...watch('u1', 'a', T), ...watch('u1', 'b', T + MINUTE), closer(T + 3 * HOUR));
    expect(p.stateSize).toEqual({ openViewers: 0, closedViewers: 1, openSessions: 1 });
    // u1's closed history reaches to its last view + 30 min; events older than 24 h behind the
    // watermark are refused, so it is kept until the watermark is 24 h past that
    feed(closer(T + 24 * HOUR));
    expect(p.stateSize.closedViewers).toBe(1);
    feed(closer(T + 25 * HOUR));
    expect(p.stateSize.closedViewers).toBe(0);
    // and a restored snapshot holds exactly the same state
    const copy = recommendations().create(
      0,
      JSON.parse(JSON.stringify(p.snapshot())),
      anyVideo,
    ) as RecommendationsPartition;
    expect(copy.snapshot()).toEqual(p.snapshot());
  });

  it('a window whose grace outlasts its sessions closes on the watermark alone, in a restored partition too', () => {
    // With the default rules a window can close no later than its last view's session (the
    // same gap and grace, and a view is never after its session's last event), so the close
    // checks the viewers whose sessions closed; with a longer window grace, the watermark alone
    // must close it.
    const options = { ...DEFAULT_RECOMMENDATIONS, graceMs: HOUR };
    const p = new RecommendationsPartition(0, new Map(), anyVideo, options);
    let offset = 0;
    const feed = (part: RecommendationsPartition, ...events: PlayEvent[]): string[] => {
      for (const value of events)
        part.process({ topic: 'play-events', partition: 0, offset: offset++, key: null, value });
      const rows = (part.drain().get(TABLES.recommendationPairObservations) ?? []) as unknown as PairObservation[];
      return rows.map((r) => `${r.video_a}+${r.video_b}`);
    };
    // both sessions close at their last event + 35 min; the window at b's view + 30 min + 1 h
    expect(feed(p, ...watch('u1', 'a', T), ...watch('u1', 'b', T + MINUTE), closer(T + 50 * MINUTE))).toEqual([]);
    expect(p.stateSize).toEqual({ openViewers: 1, closedViewers: 0, openSessions: 1 });
    const copy = new RecommendationsPartition(0, new Map(JSON.parse(JSON.stringify(p.snapshot()))), anyVideo, options);
    const at = offset;
    for (const part of [p, copy]) {
      offset = at;
      expect(feed(part, closer(T + 80 * MINUTE))).toEqual([]);
      expect(feed(part, closer(T + 95 * MINUTE))).toEqual(['a+b']);
    }
  });

  it.each([1, 2, 3, 4, 5, 6])('equals the rule applied to all input at once on generated visits (seed %i)', (seed) => {
    const t = visits(seed);
    const d = run(seed);
    const events = t.deliveries.map((x) => x.event);
    const want = reference(events, t.durations);
    expect(want.pairs.size).toBeGreaterThan(20);
    expect(
      d
        .table(TABLES.lateEvents)
        .rows()
        .filter((r) => r.reason === 'coview_window_closed'),
    ).toEqual([]);
    expect(pairStates(d)).toEqual(want.pairs);
    expect(videoStates(d)).toEqual(want.videos);
  });

  it.each([21, 22, 23, 24, 25])(
    'crashing at random records and replaying from the last checkpoint leaves identical tables (seed %i)',
    (seed) => {
      const r = rng(seed);
      const clean = run(seed);
      const crashed = run(seed, () => r() < 0.06);
      // the observation tables are appended to, so a replay repeats rows: the states they feed must not change
      expect(pairStates(crashed)).toEqual(pairStates(clean));
      expect(videoStates(crashed)).toEqual(videoStates(clean));
      expect(pairStates(clean).size).toBeGreaterThan(20);
      // ...and replays did repeat rows that had been written already
      expect(pairRows(crashed).length + videoRows(crashed).length).toBeGreaterThan(
        pairRows(clean).length + videoRows(clean).length,
      );
      const sorted = (rows: Row[]): string[] => rows.map((x) => JSON.stringify(x)).sort();
      for (const table of [TABLES.lateEvents, TABLES.watermarks])
        expect(sorted(crashed.table(table).rows())).toEqual(sorted(clean.table(table).rows()));
    },
  );
});

describe('recommendations scoring', () => {
  const o = (asOf: string, extra: Partial<ReadOptions> = {}): ReadOptions => ({ ...DEFAULT_READ, asOf, ...extra });

  /** Builds observations: per viewer and day, the videos of one window. */
  function graph(windows: [viewer: string, day: string, videos: string[]][]): CoviewIndex {
    const pairs: PairObservation[] = [];
    const videos: VideoObservation[] = [];
    for (const [viewer, day, vs] of windows) {
      for (const v of vs) videos.push({ day, video_id: v, viewer_id: viewer });
      for (let i = 0; i < vs.length; i++)
        for (let j = i + 1; j < vs.length; j++) {
          const [a, b] = [vs[i]!, vs[j]!].sort() as [string, string];
          pairs.push({ day, video_a: a, video_b: b, viewer_id: viewer });
        }
    }
    return CoviewIndex.from(pairs, videos);
  }
  const many = (prefix: string, count: number, day: string, vs: string[]): [string, string, string[]][] =>
    Array.from({ length: count }, (_, i) => [`${prefix}${i}`, day, vs]);

  it('decay weighs a day 0.5 ^ (age / half-life); days after asOf weigh 1', () => {
    expect(decayWeight(0, 14)).toBe(1);
    expect(decayWeight(14, 14)).toBe(0.5);
    expect(decayWeight(28, 14)).toBe(0.25);
    expect(decayWeight(7, 14)).toBeCloseTo(Math.SQRT1_2, 12);
    expect(decayWeight(-3, 14)).toBe(1);
  });

  it('similarity is the cosine of the decayed viewer counts: co / sqrt(n(x) · n(y))', () => {
    const g = graph([
      ...many('p', 6, '2026-11-21', ['x', 'y']), // 6 co-viewers today
      ...many('q', 4, '2026-11-07', ['x', 'y']), // 4 co-viewers 14 days ago: weight 0.5
      ...many('r', 10, '2026-11-21', ['x']), // x alone
      ...many('s', 2, '2026-11-21', ['y']),
    ]);
    const [top] = g.related('x', o('2026-11-21'));
    const co = 6 + 4 * 0.5;
    const nx = 6 + 4 * 0.5 + 10;
    const ny = 6 + 4 * 0.5 + 2;
    expect(top!.video_id).toBe('y');
    expect(top!.score).toBeCloseTo(co / Math.sqrt(nx * ny), 12);
    expect(top!.support).toBe(10);
    // the same graph read with a short half-life: the old co-views nearly vanish
    const [fast] = g.related('x', o('2026-11-21', { halfLifeDays: 1 }));
    const w = 0.5 ** 14;
    expect(fast!.score).toBeCloseTo((6 + 4 * w) / Math.sqrt((16 + 4 * w) * (8 + 4 * w)), 12);
    // and outside the lookback they are not read at all
    const [recent] = g.related('x', o('2026-11-21', { lookbackDays: 7 }));
    expect(recent!.support).toBe(6);
    expect(recent!.score).toBeCloseTo(6 / Math.sqrt(16 * 8), 12);
  });

  it('normalisation: a video everyone watches ranks below a specific one with fewer co-viewers', () => {
    const g = graph([
      ...many('a', 8, '2026-11-21', ['x', 'niche']),
      ...many('b', 10, '2026-11-21', ['x', 'hit']),
      ...many('c', 200, '2026-11-21', ['hit']),
    ]);
    expect(g.related('x', o('2026-11-21')).map((r) => r.video_id)).toEqual(['niche', 'hit']);
  });

  it(`shows a pair only when at least k (default ${PRIVACY_MIN_VIEWERS}) distinct viewers co-viewed it`, () => {
    const g = graph([
      ...many('a', 4, '2026-11-21', ['x', 'four']),
      ...many('b', 5, '2026-11-21', ['x', 'five']),
      // the same 4 viewers again on another day are still 4 viewers
      ...many('a', 4, '2026-11-20', ['x', 'four']),
    ]);
    expect(g.related('x', o('2026-11-21')).map((r) => [r.video_id, r.support])).toEqual([['five', 5]]);
    expect(g.related('x', o('2026-11-21', { minViewers: 6 }))).toEqual([]);
    expect(() => g.related('x', o('2026-11-21', { minViewers: 4 }))).toThrow(RangeError);
  });

  it('never recommends the video itself, honours exclusions, limits and orders by score, support, id', () => {
    const g = graph([...many('a', 6, '2026-11-21', ['x', 'p', 'q', 'r']), ...many('b', 5, '2026-11-21', ['x', 's'])]);
    const all = g.related('x', o('2026-11-21'));
    // p, q, r: 6 / sqrt(11 · 6) each (ties by id); s: 5 / sqrt(11 · 5)
    expect(all.map((r) => r.video_id)).toEqual(['p', 'q', 'r', 's']);
    expect(all[0]!.score).toBeCloseTo(6 / Math.sqrt(66), 12);
    expect(all[3]!.score).toBeCloseTo(5 / Math.sqrt(55), 12);
    expect(g.related('x', o('2026-11-21', { limit: 2 })).map((r) => r.video_id)).toEqual(['p', 'q']);
    expect(g.related('x', o('2026-11-21'), (v) => v === 's' || v === 'q').map((r) => r.video_id)).toEqual(['p', 'r']);
  });

  it("creator level: share of the creator's audience and lift against overall popularity", () => {
    const creatorOf = (v: string): string => v.slice(0, 1);
    const g = graph([
      ...many('a', 6, '2026-11-21', ['X1', 'Y1']), // 6 of X's 10 viewers co-view Y
      ...many('b', 4, '2026-11-21', ['X2']),
      ...many('c', 5, '2026-11-21', ['X1', 'Z1']), // 5 co-view Z…
      ...many('d', 30, '2026-11-21', ['Z2']), // …but Z is popular with everyone
      ...many('e', 2, '2026-11-21', ['X1', 'W1']), // too few for the k threshold
    ]);
    const total = 6 + 4 + 5 + 30 + 2;
    const nx = 6 + 4 + 5 + 2;
    const got = g.alsoWatched('X', creatorOf, o('2026-11-21'));
    expect(got.map((c) => c.creator_id)).toEqual(['Y', 'Z']);
    expect(got[0]!.share).toBeCloseTo(6 / nx, 12);
    expect(got[0]!.lift).toBeCloseTo(6 / nx / (6 / total), 12);
    expect(got[1]!.lift).toBeCloseTo(5 / nx / (35 / total), 12);
    expect(got[0]!.support).toBe(6);
    expect(g.alsoWatched('X', creatorOf, o('2026-11-21'), 'lift').map((c) => c.creator_id)).toEqual(['Y', 'Z']);
  });

  it('recall@10 counts same-cluster hits against the best possible; the popular baseline is scored the same way', () => {
    const clusters = { a: 0, b: 0, c: 0, d: 1, e: 1 };
    const sizes = clusterSizes(clusters);
    const r = recallAtK({
      eligible: ['a', 'd'],
      recommendations: (v) => (v === 'a' ? ['b', 'd'] : ['e']),
      clusterOf: (v) => clusters[v as keyof typeof clusters],
      clusterSizes: sizes,
    });
    // a: 1 hit of min(10, 2) possible; d: 1 of min(10, 1)
    expect(r).toEqual({ recall: (0.5 + 1) / 2, videos: 2, meanShown: 1.5 });
    expect(popularBaseline(['a', 'd', 'b'], 2)('a')).toEqual(['d', 'b']);
  });
});
