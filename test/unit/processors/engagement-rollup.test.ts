// The engagement rollup, driven in memory: per window, video, creator and breakdown value, its
// sums (read as ClickHouse reads them: FINAL, summed over partitions and seqs) must equal the
// same sums taken over the latest session rows (counted views in the window of their view
// time) — with out-of-order, duplicate and late events, repeat-cap flips of closed sessions and
// crashes at any record. Session rows themselves are checked against the rules in
// engagement.test.ts; this is the read model's promise: "what sessions FINAL gives".
import { describe, expect, it } from 'vitest';
import { TestDriver } from '../../../processors/driver.js';
import {
  AUDIENCE_TABLE,
  engagement,
  LIVE_TABLE,
  ROLLUP_TABLE,
  SESSIONS_TABLE,
} from '../../../processors/engagement/processor.js';
import { PERCENT_SCALE, startupBucket } from '../../../processors/semantics.js';
import { DAY, HOUR, MINUTE } from '../../../lib/time.js';
import type { PlayEvent } from '../../../schemas/types.js';
import { playEvent, rng, traffic } from './fixtures.js';
import { DEFAULT_RULE_PARAMETERS } from '../../../processors/parameters.js';
import type { VideoLookup } from '../../../processors/contract.js';

const COUNTRIES = ['DE', 'FR', 'US'];
const DEVICES = ['mobile', 'desktop', 'tv'] as const;
const SOURCES = ['search', 'suggested', 'external'] as const;

/** The fixtures' traffic with dimensions varied per session, and received a little after the event. */
function events(seed: number, shape?: Parameters<typeof traffic>[1]) {
  const t = traffic(seed, shape);
  const deliveries = t.deliveries.map((d) => {
    const i = Number(d.event.session_id.slice(1));
    const source = SOURCES[i % 3]!;
    const event: PlayEvent = {
      ...d.event,
      received_at: d.event.event_time + 1_500,
      country: COUNTRIES[(i * 7) % 3]!,
      device: DEVICES[(i * 5) % 3]!,
      os: i % 2 ? 'ios' : 'android',
      traffic_source: source,
      referrer_video_id: source === 'suggested' ? `v${i % 4}` : null,
      // startup times over the exact and the 1 % buckets; some players report none
      startup_ms: d.event.event_type !== 'play_start' || i % 5 === 0 ? null : (i * 7919) % 9000,
    };
    return { partition: d.partition, event };
  });
  return { ...t, deliveries };
}

function run(seed: number, crashes: boolean, shape?: Parameters<typeof traffic>[1]): TestDriver<PlayEvent> {
  const t = events(seed, shape);
  const driver = new TestDriver(engagement(), t.catalog);
  const r = rng(seed * 13 + 5);
  for (const [i, d] of t.deliveries.entries()) {
    driver.pipe(d.partition, d.event);
    if (i % 25 === 24) driver.flush();
    if (r() < 0.05) driver.checkpoint();
    if (crashes && r() < 0.03) {
      if (r() < 0.5) driver.flush();
      driver.crash();
      driver.recover();
    }
  }
  driver.checkpoint();
  return driver;
}

interface Sums {
  views: number;
  watch_ms: number;
  percent_viewed_micros: number;
  percent_measured_views: number;
  completions: number;
  open_views: number;
  retention: number[];
  stall_exits: number[];
  plays: number;
  startup_measured: number;
  rebuffer_ms: number;
  play_watch_ms: number;
  rebuffers: number;
  plays_with_rebuffer: number;
  failures: number;
  open_plays: number;
  /** startup bucket → plays */
  startup: Record<number, number>;
}

const PLAY_COLUMNS = [
  'plays',
  'startup_measured',
  'rebuffer_ms',
  'play_watch_ms',
  'rebuffers',
  'plays_with_rebuffer',
  'failures',
  'open_plays',
] as const;

const GRAINS: [string, number][] = [
  ['minute', MINUTE],
  ['hour', HOUR],
  ['day', DAY],
];

const empty = (buckets: boolean): Sums => ({
  views: 0,
  watch_ms: 0,
  percent_viewed_micros: 0,
  percent_measured_views: 0,
  completions: 0,
  open_views: 0,
  retention: buckets ? new Array<number>(101).fill(0) : [],
  stall_exits: buckets ? new Array<number>(101).fill(0) : [],
  plays: 0,
  startup_measured: 0,
  rebuffer_ms: 0,
  play_watch_ms: 0,
  rebuffers: 0,
  plays_with_rebuffer: 0,
  failures: 0,
  open_plays: 0,
  startup: {},
});

/** The rollup as `SELECT ... FINAL` summed over partitions and seqs; empty windows left out. */
function rollupSums(driver: TestDriver<PlayEvent>): Map<string, Sums> {
  const out = new Map<string, Sums>();
  for (const r of driver.table(ROLLUP_TABLE.name).rows()) {
    const key = [r.dim, r.id, r.value, r.grain, r.window_start].join('|');
    const s = out.get(key) ?? empty(r.dim === 'video');
    s.views += r.views as number;
    s.watch_ms += r.watch_ms as number;
    s.percent_viewed_micros += r.percent_viewed_micros as number;
    s.percent_measured_views += r.percent_measured_views as number;
    s.completions += r.completions as number;
    s.open_views += r.open_views as number;
    (r.retention as number[]).forEach((n, b) => (s.retention[b]! += n));
    (r.stall_exits as number[]).forEach((n, b) => (s.stall_exits[b]! += n));
    for (const c of PLAY_COLUMNS) s[c] += r[c] as number;
    (r.startup_buckets as number[]).forEach((b, i) => {
      s.startup[b] = (s.startup[b] ?? 0) + (r.startup_counts as number[])[i]!;
      if (s.startup[b] === 0) delete s.startup[b];
    });
    out.set(key, s);
  }
  for (const [k, s] of out) if (JSON.stringify(s) === JSON.stringify(empty(s.retention.length > 0))) out.delete(k);
  return out;
}

/**
 * The same sums taken over the latest session rows: counted views in the windows of their view
 * time, plays (sessions with a play_start) in the windows of their start.
 */
function sessionSums(driver: TestDriver<PlayEvent>): Map<string, Sums> {
  const out = new Map<string, Sums>();
  for (const r of driver.table(SESSIONS_TABLE.name).rows()) {
    if (r.plays !== 1) continue;
    const targets: [string, string][] = [['video', r.video_id as string]];
    if (r.creator_id) targets.push(['creator', r.creator_id as string]);
    for (const [grain, size] of GRAINS) {
      const start = Math.floor((r.started_at as number) / size) * size;
      for (const [dim, id] of targets) {
        const key = [dim, id, '', grain, start].join('|');
        const s = out.get(key) ?? empty(dim === 'video');
        s.plays += 1;
        s.rebuffer_ms += r.rebuffer_ms as number;
        s.play_watch_ms += r.watch_ms as number;
        s.rebuffers += r.rebuffers as number;
        s.plays_with_rebuffer += (r.rebuffers as number) > 0 ? 1 : 0;
        s.failures += (r.errors as number) > 0 ? 1 : 0;
        s.open_plays += r.closed === 1 ? 0 : 1;
        if (r.startup_ms !== null) {
          s.startup_measured += 1;
          const b = startupBucket(r.startup_ms as number);
          s.startup[b] = (s.startup[b] ?? 0) + 1;
        }
        out.set(key, s);
      }
    }
  }
  for (const r of driver.table(SESSIONS_TABLE.name).rows()) {
    if (r.counted_view !== 1) continue;
    const video = r.video_id as string;
    const targets: [string, string, string][] = [
      ['video', video, ''],
      ['country', video, r.country as string],
      ['device', video, r.device as string],
      ['os', video, r.os as string],
      ['traffic_source', video, r.traffic_source as string],
    ];
    if (r.creator_id)
      targets.push(
        ['creator', r.creator_id as string, ''],
        ['creator_country', r.creator_id as string, r.country as string],
        ['creator_device', r.creator_id as string, r.device as string],
      );
    if (r.traffic_source === 'suggested') targets.push(['referrer', video, r.referrer_video_id as string]);
    const duration = r.duration_ms as number;
    const watch = r.watch_ms as number;
    for (const [grain, size] of GRAINS) {
      const start = Math.floor((r.view_time as number) / size) * size;
      for (const [dim, id, value] of targets) {
        const key = [dim, id, value, grain, start].join('|');
        const s = out.get(key) ?? empty(dim === 'video');
        s.views += 1;
        s.watch_ms += watch;
        if (duration > 0) {
          s.percent_viewed_micros += Math.round(PERCENT_SCALE * Math.min(1, watch / duration));
          s.percent_measured_views += 1;
        }
        s.completions += r.completed as number;
        s.open_views += r.closed === 1 ? 0 : 1;
        if (dim === 'video') {
          for (const b of r.covered as number[]) s.retention[b]! += 1;
          if (r.exit_after_stall === 1 && (r.exit_percent as number) >= 0)
            s.stall_exits[r.exit_percent as number]! += 1;
        }
        out.set(key, s);
      }
    }
  }
  return out;
}

describe('engagement rollup: the read model of counted views', () => {
  it.each([1, 2, 3, 4])(
    'every window of every video, creator and breakdown value sums the latest sessions (seed %i)',
    (seed) => {
      const driver = run(seed, false);
      const expected = sessionSums(driver);
      expect(expected.size).toBeGreaterThan(50);
      expect(rollupSums(driver)).toEqual(expected);
    },
  );

  it.each([1, 2])('...also when the repeat cap keeps flipping closed sessions (seed %i)', (seed) => {
    const driver = run(seed, false, { viewers: 3, videos: 2, sessions: 150 });
    const flipped = driver
      .table(SESSIONS_TABLE.name)
      .rows()
      .filter((r) => r.qualified === 1 && r.counted_view === 0);
    expect(flipped.length).toBeGreaterThan(5);
    expect(rollupSums(driver)).toEqual(sessionSums(driver));
  });

  it.each([1, 2, 3])(
    '...and with crashes at random records, between a row write and its checkpoint (seed %i)',
    (seed) => {
      const crashed = run(seed, true, { viewers: 5, videos: 3, sessions: 120 });
      const clean = run(seed, false, { viewers: 5, videos: 3, sessions: 120 });
      expect(rollupSums(crashed)).toEqual(sessionSums(crashed));
      expect(rollupSums(crashed)).toEqual(rollupSums(clean));
    },
  );

  it('stays small: views share window rows, and heartbeats rewrite their row instead of adding one', () => {
    const driver = run(3, false, { viewers: 40, videos: 2, sessions: 400 });
    const rows = driver.table(ROLLUP_TABLE.name).rows();
    const views = driver
      .table(SESSIONS_TABLE.name)
      .rows()
      .filter((r) => r.counted_view === 1).length;
    const dayRows = rows.filter((r) => r.grain === 'day' && r.dim === 'video');
    // 2 videos over one day of traffic: a day row per video and partition (plus rare late deltas)
    expect(dayRows.length).toBeLessThanOrEqual(2 * 2 * 2);
    expect(views).toBeGreaterThan(100);
    // A window stays open while a session feeds it, so heartbeats never become extra rows:
    // only the few records that reach a closed window (late events) write rows of their own.
    const reopening = new Set(rows.filter((r) => r.seq !== 0).map((r) => r.seq));
    expect(reopening.size).toBeLessThan(views * 0.1);
  });

  it('writes the 101 counters of a video row without trailing zeros (sumForEach adds arrays of any length)', () => {
    const driver = run(3, false, { viewers: 40, videos: 2, sessions: 400 });
    const videoRows = driver
      .table(ROLLUP_TABLE.name)
      .rows()
      .filter((r) => r.dim === 'video');
    const arrays = videoRows.flatMap((r) => [r.retention as number[], r.stall_exits as number[]]);
    expect(arrays.every((a) => a.length <= 101 && (a.length === 0 || a[a.length - 1] !== 0))).toBe(true);
    // some are shorter than 101 (short views, no stall exits), and some still reach 100 %
    expect(arrays.some((a) => a.length < 101)).toBe(true);
    expect(videoRows.some((r) => (r.retention as number[]).length === 101)).toBe(true);
  });
});

describe('engagement rollup: a closed view that flips', () => {
  const T = Date.UTC(2026, 10, 21, 12, 0, 0);
  const S = 1_000;
  let n = 0;
  const ev = (session: string, type: PlayEvent['event_type'], at: number, watched: number): PlayEvent => ({
    event_id: `r${String(++n).padStart(5, '0')}`,
    event_type: type,
    event_time: T + at,
    received_at: T + at + 500,
    session_id: session,
    viewer_id: 'u1',
    video_id: 'v1',
    position_ms: Math.max(0, at),
    watched_ms: watched,
    device: 'desktop',
    os: 'linux',
    country: 'FR',
    traffic_source: 'search',
    referrer_video_id: null,
    seek_from_ms: null,
    startup_ms: null,
    rebuffer_ms: null,
    error_code: null,
    sdk_version: 'test',
  });
  const catalog: VideoLookup = { get: (id) => (id === 'v1' ? { creatorId: 'c1', durationMs: 600_000 } : undefined) };
  // A counts; C (9 min later, capped by A) closes uncounted; a straggler of A's makes A stop
  // qualifying, so the closed C becomes the view — a change to windows that may have closed.
  const scenario = (): PlayEvent[] => [
    ev('A', 'play_start', 0, 0),
    ev('A', 'heartbeat', 30 * S, 30 * S),
    ev('C', 'play_start', 9 * 60 * S, 0),
    ev('C', 'heartbeat', 9 * 60 * S + 10 * S, 10 * S),
    ev('C', 'heartbeat', 9 * 60 * S + 20 * S, 10 * S),
    ev('C', 'heartbeat', 9 * 60 * S + 30 * S, 10 * S),
    ev('A', 'pause', 50 * 60 * S, 0),
    ev('A', 'heartbeat', 1 * S, 0),
    ev('X', 'play_start', 200 * 60 * S, 0),
  ];
  const rules = { ...DEFAULT_RULE_PARAMETERS, allowedLatenessMs: 60 * 60 * S };

  function final(
    events: PlayEvent[],
    checkpointAt: number,
    crashAt: number,
    flushFirst: boolean,
  ): TestDriver<PlayEvent> {
    const driver = new TestDriver(engagement(rules), catalog);
    events.forEach((e, i) => {
      driver.pipe(0, e);
      driver.flush();
      if (i === checkpointAt) driver.checkpoint();
      if (i === crashAt) {
        if (flushFirst) driver.flush();
        driver.crash();
        driver.recover();
      }
    });
    driver.checkpoint();
    return driver;
  }

  it('moves the view from A to C in every window, also after a crash at any record', () => {
    const events = scenario();
    const clean = final(events, -1, -1, false);
    const sessions = clean.table(SESSIONS_TABLE.name).rows();
    expect(sessions.find((r) => r.session_id === 'C')).toMatchObject({ closed: 1, counted_view: 1 });
    expect(sessions.find((r) => r.session_id === 'A')).toMatchObject({ counted_view: 0 });
    const sums = rollupSums(clean);
    expect(sums).toEqual(sessionSums(clean));
    const cMinute = Math.floor((T + 9 * 60 * S + 30 * S) / MINUTE) * MINUTE;
    expect(sums.get(['video', 'v1', '', 'minute', cMinute].join('|'))?.views).toBe(1);
    expect(sums.get(['creator', 'c1', '', 'hour', Math.floor(T / HOUR) * HOUR].join('|'))?.views).toBe(1);
    for (let c = 0; c < events.length; c++)
      for (let k = c; k < events.length; k++)
        for (const flushFirst of [false, true]) expect(rollupSums(final(events, c, k, flushFirst))).toEqual(sums);
  });
});

describe('engagement rollup: a window closes once the views that hold it have', () => {
  const T = Date.UTC(2026, 10, 21, 12, 0, 0);
  const S = 1_000;
  const catalog: VideoLookup = {
    get: (id) => (id === 'v1' || id === 'v2' ? { creatorId: 'c1', durationMs: 3_600_000 } : undefined),
  };
  let n = 0;
  const ev = (viewer: string, video: string, type: PlayEvent['event_type'], at: number, watched: number): PlayEvent =>
    playEvent({
      event_id: `h${String(++n).padStart(5, '0')}`,
      event_type: type,
      event_time: T + at,
      session_id: `${viewer}-${video}`,
      viewer_id: viewer,
      video_id: video,
      position_ms: at,
      watched_ms: watched,
    });

  for (const crash of [false, true]) {
    it(`a 20-minute view keeps its minute window open long past the window's close, and the window is final once the view closed${crash ? ' (a crash while it is held)' : ''}`, () => {
      const driver = new TestDriver(engagement(), catalog);
      const minute = (): Record<string, unknown> | undefined =>
        driver
          .table(ROLLUP_TABLE.name)
          .rows()
          .find((r) => r.dim === 'video' && r.id === 'v1' && r.grain === 'minute' && r.window_start === T);
      // u1 watches v1 from T for 20 min, a heartbeat every 10 s: a view from T + 30 s on
      driver.pipe(0, ev('u1', 'v1', 'play_start', 0, 0));
      for (let at = 10 * S; at <= 20 * 60 * S; at += 10 * S) {
        driver.pipe(0, ev('u1', 'v1', 'heartbeat', at, 10 * S));
        if (at === 10 * 60 * S) {
          driver.flush();
          driver.checkpoint();
          if (crash) {
            driver.crash();
            driver.recover();
          }
        }
      }
      driver.flush();
      // the watermark is far past the minute's close, but the open view holds it
      expect(minute()).toMatchObject({ views: 1, open_views: 1, is_final: 0 });
      // u2 on v2 moves the watermark 2 h on: u1's session closes, and with it the window
      driver.pipe(0, ev('u2', 'v2', 'play_start', 2 * 3_600 * S, 0));
      driver.flush();
      expect(minute()).toMatchObject({ views: 1, open_views: 0, watch_ms: 20 * 60 * S, is_final: 1 });
    });
  }
});

describe('creator_live: who watches now', () => {
  it.each([1, 2, 3])(
    'the rows list exactly the sessions with an event in the last minute, also after crashes (seed %i)',
    (seed) => {
      for (const crashes of [false, true]) {
        const driver = run(seed, crashes, { viewers: 30, videos: 4, sessions: 200 });
        const t = events(seed, { viewers: 30, videos: 4, sessions: 200 });
        const last = Math.max(...t.deliveries.map((d) => d.event.event_time));
        const cut = Math.floor(last / 1000) - 60; // seconds, as the route asks
        const want = new Map<string, Set<string>>();
        for (const { event: e } of t.deliveries) {
          const creator = t.catalog.get(e.video_id)?.creatorId ?? '';
          if (creator === '' || Math.floor(e.event_time / 1000) < cut) continue;
          want.set(creator, (want.get(creator) ?? new Set()).add(e.session_id));
        }
        const got = new Map<string, Set<string>>();
        for (const r of driver.table(LIVE_TABLE.name).rows()) {
          (r.session_ids as string[]).forEach((id, i) => {
            if ((r.last_event_at as number[])[i]! < cut) return;
            const creator = r.creator_id as string;
            got.set(creator, (got.get(creator) ?? new Set()).add(id));
          });
        }
        expect(want.size).toBeGreaterThan(0);
        expect(got).toEqual(want);
      }
    },
  );
});

describe('audience observations: the viewers of counted views by creator, country and device', () => {
  /** (creator, dimension, value, hour) → viewers */
  const sets = (rows: Record<string, unknown>[], time: string): Map<string, Set<string>> => {
    const out = new Map<string, Set<string>>();
    for (const r of rows) {
      const key = [r.creator_id, r.dimension, r.value, Math.floor((r[time] as number) / HOUR)].join('|');
      out.set(key, (out.get(key) ?? new Set()).add(r.viewer_id as string));
    }
    return out;
  };
  const fromSessions = (driver: TestDriver<PlayEvent>): Map<string, Set<string>> =>
    sets(
      driver
        .table(SESSIONS_TABLE.name)
        .rows()
        .filter((r) => r.counted_view === 1 && r.creator_id !== '')
        .flatMap((r) => [
          { ...r, dimension: 'country', value: r.country },
          { ...r, dimension: 'device', value: r.device },
        ]),
      'view_time',
    );

  it.each([1, 2, 3])('equal the viewers of the latest counted views, also with crashes (seed %i)', (seed) => {
    for (const crashes of [false, true]) {
      const driver = run(seed, crashes);
      const want = fromSessions(driver);
      expect(want.size).toBeGreaterThan(10);
      const got = sets(driver.table(AUDIENCE_TABLE.name).rows(), 'view_time');
      // a view un-counted by the repeat cap keeps its viewer in the states: got ⊇ want
      for (const [k, viewers] of want) for (const x of viewers) expect(got.get(k)?.has(x), k).toBe(true);
      const extra = [...got].reduce((n, [k, g]) => n + [...g].filter((x) => !want.get(k)?.has(x)).length, 0);
      expect(extra).toBeLessThanOrEqual(Math.ceil(0.05 * [...want.values()].reduce((n, g) => n + g.size, 0)));
    }
  });
});

describe('the rollup windows in the changelog', () => {
  // The fields are spelled out here, not imported: the object form is what earlier versions
  // wrote, and must go on restoring whatever the positional form becomes.
  const OBJECT_FIELDS = ['dim', 'id', 'value', 'grain', 'start', 'seq', 'offset'] as const;
  const SUMS = [
    'views',
    'watch',
    'pct',
    'measured',
    'completions',
    'open',
    'plays',
    'startupMeasured',
    'rebufferMs',
    'playWatch',
    'rebuffers',
    'stalled',
    'failures',
    'openPlays',
  ];
  /** A saved window in the object form earlier versions wrote: named fields, 101 counters each. */
  const objectForm = (saved: unknown[]): object => {
    const o: Record<string, unknown> = {};
    OBJECT_FIELDS.forEach((k, i) => (o[k] = saved[i]));
    SUMS.forEach((k, i) => (o[k] = saved[OBJECT_FIELDS.length + i]));
    const rest = OBJECT_FIELDS.length + SUMS.length;
    const pad = (xs: number[] | null) => xs && [...xs, ...new Array<number>(101 - xs.length).fill(0)];
    return {
      ...o,
      startup: saved[rest],
      ret: pad(saved[rest + 1] as number[] | null),
      exits: pad(saved[rest + 2] as number[] | null),
    };
  };

  it('are saved positionally without trailing zero counters, and the object form earlier versions saved restores to the same state', () => {
    const t = events(4, { viewers: 8, videos: 3, sessions: 60 });
    const def = engagement();
    const p = def.create(0, undefined, t.catalog);
    t.deliveries.forEach((d, offset) =>
      p.process({ topic: 'play-events', partition: 0, offset, key: d.event.viewer_id, value: d.event }),
    );
    p.drain();
    const state = new Map(JSON.parse(JSON.stringify(p.snapshot())) as [string, unknown][]);
    const windows = [...state].filter(([k]) => k.startsWith('eg:'));
    expect(windows.length).toBeGreaterThan(20);
    for (const [, v] of windows) {
      expect(Array.isArray(v)).toBe(true);
      for (const counters of (v as unknown[]).slice(-2) as (number[] | null)[])
        if (counters?.length) expect(counters.at(-1)).not.toBe(0);
    }
    const old = new Map([...state].map(([k, v]) => [k, k.startsWith('eg:') ? objectForm(v as unknown[]) : v]));
    const fromOld = def.create(0, old, t.catalog).snapshot();
    const fromNew = def.create(0, state, t.catalog).snapshot();
    expect(JSON.parse(JSON.stringify(fromOld))).toEqual(JSON.parse(JSON.stringify(fromNew)));
    expect(JSON.parse(JSON.stringify(fromNew))).toEqual([...state]);
  });
});
