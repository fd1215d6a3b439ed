// The ground-truth rules (generator/truth.ts) on small hand-made sessions, one rule of
// docs/semantics.md at a time.
import { describe, expect, it } from 'vitest';
import {
  admitEventTime,
  contributions,
  coveredBuckets,
  percentBucket,
  qualifyingIndex,
  repeatCapAllows,
  sessionOrder,
  skewCorrection,
  TruthAccumulator,
  truthFromEvents,
  watchedSegments,
  type CatalogLookup,
  type TruthEvent,
} from '../../generator/truth.js';

const T0 = Date.parse('2026-03-01T10:00:00.000Z'); // a minute (and hour) boundary
const MIN = 60_000;

const CATALOG: Record<string, { duration_ms: number; creator_id: string }> = {
  long: { duration_ms: 600_000, creator_id: 'c1' },
  short: { duration_ms: 20_000, creator_id: 'c1' },
  other: { duration_ms: 100_000, creator_id: 'c2' },
};
const lookup: CatalogLookup = (id) => CATALOG[id];

let nextId = 0;
/** A session builder: each step is [type, event_time offset from start, position, watched, seek_from?]. */
function session(
  opts: { session?: string; viewer?: string; video?: string; start?: number },
  steps: Array<[string, number, number, number, number?]>,
): TruthEvent[] {
  const session_id = opts.session ?? `s${nextId++}`;
  const start = opts.start ?? T0;
  return steps.map(([event_type, dt, position_ms, watched_ms, seek_from_ms], i) => ({
    event_id: `${session_id}-e${String(i).padStart(3, '0')}`,
    event_type,
    event_time: start + dt,
    session_id,
    viewer_id: opts.viewer ?? 'u1',
    video_id: opts.video ?? 'long',
    position_ms,
    watched_ms,
    seek_from_ms: seek_from_ms ?? null,
  }));
}

/** Plain watching: play_start then a heartbeat every 10 s of playback, n heartbeats. */
function watching(opts: Parameters<typeof session>[0], heartbeats: number): TruthEvent[] {
  const steps: Array<[string, number, number, number]> = [['play_start', 0, 0, 0]];
  for (let i = 1; i <= heartbeats; i++) steps.push(['heartbeat', i * 10_000, i * 10_000, 10_000]);
  return session(opts, steps);
}

const minuteRow = (t: ReturnType<typeof truthFromEvents>, video: string, minute: number) =>
  t.minutes.find((r) => r.video_id === video && r.minute === minute);

describe('rule 3: event time (skew correction, clamping, rejection)', () => {
  it('corrects only skews of at least 2 s, in whole seconds', () => {
    expect(skewCorrection(1_000_000, 1_000_000 + 1_999)).toBe(0);
    expect(skewCorrection(1_000_000, 1_000_000 - 1_999)).toBe(0);
    expect(skewCorrection(1_000_000, 1_000_000 + 2_000)).toBe(2_000);
    expect(skewCorrection(1_000_000, 1_000_000 - 2_000)).toBe(-2_000);
    expect(skewCorrection(1_000_000, 1_000_000 + 2_499)).toBe(2_000);
    expect(skewCorrection(1_000_000, 1_000_000 + 2_501)).toBe(3_000);
    // Halves round away from zero, the same for both signs.
    expect(skewCorrection(1_000_000, 1_000_000 + 2_500)).toBe(3_000);
    expect(skewCorrection(1_000_000, 1_000_000 - 2_500)).toBe(-3_000);
    expect(skewCorrection(1_000_000, 1_000_000 - 2_499)).toBe(-2_000);
    // A client 5 minutes fast, 120 ms of latency: skew = -299_880 → -300 s exactly.
    expect(skewCorrection(T0 + 300_000, T0 + 120)).toBe(-300_000);
  });

  it('applies the correction to event_time, then rejects or clamps relative to received_at', () => {
    const r = T0;
    // A client 10 minutes slow sends an event that happened 30 s before receipt.
    expect(admitEventTime(r - 30_000 - 600_000, r - 600_000, r)).toEqual({
      accepted: true,
      event_time: r - 30_000,
      clamped: false,
    });
    expect(admitEventTime(r + 5_000, r, r)).toEqual({ accepted: true, event_time: r + 5_000, clamped: false });
    expect(admitEventTime(r + 5_001, r, r)).toEqual({ accepted: true, event_time: r, clamped: true });
    expect(admitEventTime(r + 24 * 3_600_000, r, r)).toEqual({ accepted: true, event_time: r, clamped: true });
    expect(admitEventTime(r + 24 * 3_600_000 + 1, r, r)).toEqual({ accepted: false, reason: 'future_event_time' });
    const horizon = 7 * 86_400_000;
    expect(admitEventTime(r - horizon, r, r)).toMatchObject({ accepted: true });
    expect(admitEventTime(r - horizon - 1, r, r)).toEqual({ accepted: false, reason: 'event_too_old' });
    expect(admitEventTime(r - 3_600_001, r, r, 3_600_000)).toEqual({ accepted: false, reason: 'event_too_old' });
  });

  it('puts a skewed client’s events in the minutes of their corrected time', () => {
    const skew = -7 * MIN; // the client's clock is 7 minutes slow
    const received = T0 + 2 * MIN;
    const sent = received + skew;
    const raw = watching({ video: 'long' }, 3).map((e) => ({ ...e, event_time: e.event_time + skew }));
    const accepted = raw.map((e) => {
      const a = admitEventTime(e.event_time, sent, received);
      if (!a.accepted) throw new Error('rejected');
      return { ...e, event_time: a.event_time };
    });
    const t = truthFromEvents(accepted, lookup);
    expect(t.minutes).toEqual([{ video_id: 'long', minute: T0, plays: 1, views: 1, watch_ms: 30_000 }]);
  });
});

describe('rule 2: deduplication by event_id', () => {
  it('counts a copy once (plays, watch time, views)', () => {
    const s = watching({}, 3);
    const t = truthFromEvents([...s, s[0]!, s[2]!, ...s], lookup);
    expect(t.totals).toMatchObject({ events: 4, plays: 1, watch_ms: 30_000, views: 1 });
  });

  it('keeps the first copy when copies differ', () => {
    const s = watching({}, 1);
    const inflated = { ...s[1]!, watched_ms: 1 };
    expect(truthFromEvents([s[0]!, inflated, s[1]!], lookup).totals.watch_ms).toBe(1);
    expect(truthFromEvents([s[0]!, s[1]!, inflated], lookup).totals.watch_ms).toBe(10_000);
  });

  it('dedups within one addSession call too', () => {
    const acc = new TruthAccumulator(lookup);
    const s = watching({}, 2);
    acc.addSession([...s, ...s]);
    expect(acc.finish().totals).toMatchObject({ events: 3, plays: 1, watch_ms: 20_000 });
  });
});

describe('rule 4: session order is event time, then event_id — never arrival order', () => {
  it('gives the same truth for any arrival order', () => {
    const s = session({}, [
      ['play_start', 0, 0, 0],
      ['heartbeat', 10_500, 10_000, 10_000],
      ['pause', 12_500, 12_000, 2_000],
      ['resume', 40_000, 12_000, 0],
      ['heartbeat', 48_500, 20_000, 8_000],
      ['seek', 50_000, 200_000, 1_500, 21_500],
      ['heartbeat', 59_000, 208_500, 8_500],
    ]);
    const base = truthFromEvents(s, lookup);
    for (const order of [[...s].reverse(), [s[3]!, s[0]!, s[6]!, s[1]!, s[5]!, s[2]!, s[4]!]]) {
      expect(truthFromEvents(order, lookup)).toEqual(base);
    }
  });

  it('breaks event-time ties by event_id (string order)', () => {
    const a = { event_id: 'b', event_time: 5 } as TruthEvent;
    const b = { event_id: 'a', event_time: 5 } as TruthEvent;
    const c = { event_id: 'a', event_time: 4 } as TruthEvent;
    expect([a, b, c].sort(sessionOrder).map((e) => `${e.event_time}${e.event_id}`)).toEqual(['4a', '5a', '5b']);
    // A heartbeat and a pause in the same ms: the one sorted second sees a gap of 0.
    const s = session({}, [
      ['play_start', 0, 0, 0],
      ['heartbeat', 10_000, 10_000, 10_000],
    ]);
    const pause = { ...s[1]!, event_id: `${s[1]!.session_id}-a-pause`, event_type: 'pause', watched_ms: 0 };
    // "…-a-pause" < "…-e001": the pause comes first and takes the 10 s gap with watched 0.
    expect(truthFromEvents([...s, pause], lookup).totals.watch_ms).toBe(0);
    const pauseAfter = { ...pause, event_id: `${s[1]!.session_id}-z-pause` };
    expect(truthFromEvents([...s, pauseAfter], lookup).totals.watch_ms).toBe(10_000);
  });
});

describe('plays', () => {
  it('counts play_start events per video per minute of their event time', () => {
    const t = truthFromEvents(
      [
        ...session({ video: 'long', start: T0 + 59_999 }, [['play_start', 0, 0, 0]]),
        ...session({ video: 'long', start: T0 + 60_000 }, [['play_start', 0, 0, 0]]),
        ...session({ video: 'long', start: T0 + 1 }, [['play_start', 0, 0, 0]]),
        ...session({ video: 'other', start: T0 }, [['play_start', 0, 0, 0]]),
      ],
      lookup,
    );
    expect(t.minutes).toEqual([
      { video_id: 'long', minute: T0, plays: 2, views: 0, watch_ms: 0 },
      { video_id: 'long', minute: T0 + MIN, plays: 1, views: 0, watch_ms: 0 },
      { video_id: 'other', minute: T0, plays: 1, views: 0, watch_ms: 0 },
    ]);
  });
});

describe('watch time: watched_ms bounded by the event-time gap', () => {
  it('contributes 0 for the first event and min(watched, gap) after, never negative', () => {
    const s = session({}, [
      ['play_start', 0, 0, 5_000], // first event: 0 whatever it says
      ['heartbeat', 10_000, 10_000, 10_000],
      ['heartbeat', 15_000, 20_000, 10_000], // a buggy client: 10 s in a 5 s gap → 5 s
      ['resume', 45_000, 20_000, 60_000], // claims a minute in 30 s → 30 s
      ['heartbeat', 46_000, 21_000, -500], // negative → 0
    ]);
    expect(contributions([...s].sort(sessionOrder))).toEqual([0, 10_000, 5_000, 30_000, 0]);
    expect(truthFromEvents(s, lookup).totals.watch_ms).toBe(45_000);
  });

  it('attributes each contribution to the minute of its own event (not split across minutes)', () => {
    const s = session({ start: T0 + 55_000 }, [
      ['play_start', 0, 0, 0],
      ['heartbeat', 4_999, 4_999, 4_999], // T0 + 59_999
      ['heartbeat', 5_001, 5_001, 2], // T0 + 60_001
    ]);
    const t = truthFromEvents(s, lookup);
    expect(minuteRow(t, 'long', T0)).toMatchObject({ plays: 1, watch_ms: 4_999 });
    expect(minuteRow(t, 'long', T0 + MIN)).toMatchObject({ plays: 0, watch_ms: 2 });
  });
});

describe('views: qualification', () => {
  it('qualifies a long video at the event where the running sum reaches exactly 30 s', () => {
    const s = session({}, [
      ['play_start', 0, 0, 0],
      ['heartbeat', 10_000, 10_000, 10_000],
      ['heartbeat', 20_000, 20_000, 10_000],
      ['heartbeat', 29_999, 29_999, 9_999],
      ['heartbeat', 30_000, 30_000, 1], // 30 000 reached here
      ['heartbeat', 40_000, 40_000, 10_000],
    ]);
    const sorted = [...s].sort(sessionOrder);
    expect(qualifyingIndex(sorted, contributions(sorted), 600_000)).toBe(4);
    const t = truthFromEvents(s, lookup);
    expect(t.totals).toMatchObject({ view_candidates: 1, views: 1 });
    expect(minuteRow(t, 'long', T0)).toMatchObject({ views: 1 });
  });

  it('does not qualify at 29 999 ms of watching', () => {
    const s = session({}, [
      ['play_start', 0, 0, 0],
      ['heartbeat', 29_999, 29_999, 29_999],
      ['play_end', 50_000, 29_999, 0],
    ]);
    expect(truthFromEvents(s, lookup).totals.views).toBe(0);
  });

  it('uses the video length as the threshold for videos shorter than 30 s', () => {
    const s = session({ video: 'short' }, [
      ['play_start', 0, 0, 0],
      ['heartbeat', 10_000, 10_000, 10_000],
      ['heartbeat', 19_999, 19_999, 9_999],
      ['heartbeat', 20_000, 20_000, 1], // = duration 20 000
    ]);
    const sorted = [...s].sort(sessionOrder);
    expect(qualifyingIndex(sorted, contributions(sorted), 20_000)).toBe(3);
    expect(qualifyingIndex(sorted, contributions(sorted), 600_000)).toBe(-1);
    expect(truthFromEvents(s, lookup).totals.views).toBe(1);
  });

  it('uses 30 s for a video the catalog does not know (and keeps no retention for it)', () => {
    const s = (video: string, watched: number) =>
      session({ video }, [
        ['play_start', 0, 0, 0],
        ['heartbeat', watched, watched, watched],
      ]);
    expect(truthFromEvents(s('unknown', 20_000), lookup).totals.views).toBe(0);
    const t = truthFromEvents(s('unknown', 30_000), lookup);
    expect(t.totals.views).toBe(1);
    expect(t.retention).toEqual([]);
    expect(t.creator_daily_uniques).toEqual([]);
  });

  it('qualifies on complete, whichever comes first, in the minute of the complete', () => {
    const s = session({ start: T0 + 50_000 }, [
      ['play_start', 0, 0, 0],
      ['seek', 1_000, 598_000, 1_000, 1_000],
      ['complete', 12_000, 600_000, 2_000], // only 3 s watched, T0 + 62 s
    ]);
    const t = truthFromEvents(s, lookup);
    expect(t.totals.views).toBe(1);
    expect(minuteRow(t, 'long', T0)).toMatchObject({ plays: 1, views: 0 });
    expect(minuteRow(t, 'long', T0 + MIN)).toMatchObject({ views: 1, watch_ms: 2_000 });
  });

  it('a session without enough watching and without complete is no view', () => {
    const s = session({}, [
      ['play_start', 0, 0, 0],
      ['heartbeat', 10_000, 10_000, 10_000],
      ['play_end', 15_000, 15_000, 5_000],
    ]);
    expect(truthFromEvents(s, lookup).totals).toMatchObject({ view_candidates: 0, views: 0 });
  });
});

describe('views: repeat cap (30 minutes per viewer and video)', () => {
  const view = (start: number, opts: { viewer?: string; video?: string; session?: string } = {}) =>
    watching({ ...opts, start }, 3); // qualifies at start + 30 s

  it('caps a view 29:59.999 after the last counted one and counts one at 30:00', () => {
    expect(repeatCapAllows(undefined, 0)).toBe(true);
    expect(repeatCapAllows(0, 1_799_999)).toBe(false);
    expect(repeatCapAllows(0, 1_800_000)).toBe(true);
    const capped = truthFromEvents([...view(T0), ...view(T0 + 1_799_999)], lookup);
    expect(capped.totals).toMatchObject({ view_candidates: 2, views: 1, views_capped: 1 });
    const counted = truthFromEvents([...view(T0), ...view(T0 + 1_800_000)], lookup);
    expect(counted.totals).toMatchObject({ view_candidates: 2, views: 2, views_capped: 0 });
    expect(minuteRow(counted, 'long', T0 + 30 * MIN)).toMatchObject({ views: 1 });
  });

  it('measures from the last counted view, not from the last candidate', () => {
    const t = truthFromEvents(
      [...view(T0), ...view(T0 + 20 * MIN), ...view(T0 + 31 * MIN), ...view(T0 + 50 * MIN)],
      lookup,
    );
    // counted at 0, capped at 20 (20 < 30), counted at 31 (31 ≥ 30 from 0), capped at 50 (19 < 30 from 31)
    expect(t.totals).toMatchObject({ views: 2, views_capped: 2 });
    expect(t.minutes.filter((r) => r.views > 0).map((r) => (r.minute - T0) / MIN)).toEqual([0, 31]);
  });

  it('caps per (viewer, video) only', () => {
    const t = truthFromEvents(
      [...view(T0), ...view(T0 + MIN, { viewer: 'u2' }), ...view(T0 + 2 * MIN, { video: 'other' })],
      lookup,
    );
    expect(t.totals).toMatchObject({ views: 3, views_capped: 0 });
  });

  it('orders candidates by candidate time, then session_id, not by session start', () => {
    // Session A starts first but qualifies later (slow start); B starts later and qualifies first.
    const a = session({ session: 'A', start: T0 }, [
      ['play_start', 0, 0, 0],
      ['pause', 100, 100, 100],
      ['resume', 60_000, 100, 0],
      ['heartbeat', 90_000, 30_100, 30_000],
    ]);
    const b = watching({ session: 'B', start: T0 + 10_000 }, 3); // qualifies at T0 + 40 s
    const t = truthFromEvents([...a, ...b], lookup);
    expect(t.totals).toMatchObject({ views: 1, views_capped: 1 });
    expect(minuteRow(t, 'long', T0)).toMatchObject({ views: 1 }); // B's view, at T0 + 40 s
    expect(minuteRow(t, 'long', T0 + MIN)?.views ?? 0).toBe(0); // A's candidate (T0 + 90 s) capped
    // Same candidate time: the smaller session_id counts.
    const x = watching({ session: 'X', start: T0 }, 3);
    const y = watching({ session: 'W', start: T0 }, 3);
    const tie = new TruthAccumulator(lookup);
    tie.addSession(x);
    tie.addSession(y);
    const r = tie.finish();
    expect(r.totals).toMatchObject({ views: 1, views_capped: 1 });
    expect(r.retention[0]!.views).toBe(1);
  });

  it('gets the same answer incrementally, with sessions fed out of order within the slack', () => {
    const sessions = [view(T0 + 5 * MIN), view(T0), view(T0 + 31 * MIN), view(T0 + 30 * MIN + 40_000)];
    const acc = new TruthAccumulator(lookup);
    acc.addSession(sessions[1]!);
    acc.addSession(sessions[0]!);
    acc.addSession(sessions[3]!);
    acc.addSession(sessions[2]!); // 40 s earlier than the previous session: within the 60 s slack
    expect(acc.finish()).toEqual(truthFromEvents(sessions.flat(), lookup));
    const late = new TruthAccumulator(lookup);
    late.addSession(view(T0 + 10 * MIN));
    expect(() => late.addSession(view(T0))).toThrow(/more than 60000 ms before/);
  });
});

describe('retention', () => {
  it('computes percent buckets with floor, clamped to 0..100', () => {
    expect(percentBucket(0, 600_000)).toBe(0);
    expect(percentBucket(5_999, 600_000)).toBe(0);
    expect(percentBucket(6_000, 600_000)).toBe(1);
    expect(percentBucket(599_999, 600_000)).toBe(99);
    expect(percentBucket(600_000, 600_000)).toBe(100);
    expect(percentBucket(700_000, 600_000)).toBe(100);
    expect(percentBucket(-5, 600_000)).toBe(0);
    expect(percentBucket(1, 3)).toBe(33);
  });

  it('covers watched segments only: a forward seek skips, a backward seek re-watches once', () => {
    // 100 s video ("other"): 1 % = 1 s.
    const s = session({ video: 'other' }, [
      ['play_start', 0, 0, 0],
      ['heartbeat', 10_000, 10_000, 10_000], // [0, 10 s] → 0..10
      ['heartbeat', 20_000, 20_000, 10_000], // [10, 20] → 10..20
      ['seek', 25_000, 60_000, 5_000, 25_000], // [20, 25] → 20..25 (end = seek_from), jump to 60
      ['heartbeat', 35_500, 70_000, 10_000], // [60, 70] → 60..70
      ['seek', 36_000, 62_000, 500, 70_500], // [70, 70.5] → 70, back to 62
      ['heartbeat', 46_500, 72_000, 10_000], // [62, 72] → 62..72 (62..70 again: counted once)
      ['play_end', 47_000, 72_500, 500], // [72, 72.5] → 72
    ]);
    const sorted = [...s].sort(sessionOrder);
    const segs = watchedSegments(sorted, contributions(sorted));
    expect(segs).toEqual([
      [0, 10_000],
      [10_000, 20_000],
      [20_000, 25_000],
      [60_000, 70_000],
      [70_000, 70_500],
      [62_000, 72_000],
      [72_000, 72_500],
    ]);
    const covered = coveredBuckets(segs, 100_000);
    const expected = new Uint8Array(101);
    for (let p = 0; p <= 25; p++) expected[p] = 1;
    for (let p = 60; p <= 72; p++) expected[p] = 1;
    expect([...covered]).toEqual([...expected]);
    const t = truthFromEvents(s, lookup);
    expect(t.retention).toEqual([{ video_id: 'other', duration_ms: 100_000, views: 1, covering: [...expected] }]);
  });

  it('uses the bounded contribution for segment length, and position_ms when a seek lacks seek_from_ms', () => {
    const s = session({ video: 'other' }, [
      ['play_start', 0, 0, 0],
      ['heartbeat', 10_000, 40_000, 40_000], // over-reported: only 10 s → [30, 40] → 30..40
      ['seek', 11_000, 50_000, 1_000], // no seek_from_ms: end = position 50 s → [49, 50]
      ['complete', 100_000, 100_000, 50_000], // [50, 100] → 50..100
    ]);
    const t = truthFromEvents(s, lookup);
    const covering = t.retention[0]!.covering;
    expect(covering.slice(0, 30).every((c) => c === 0)).toBe(true);
    expect(covering.slice(30, 41).every((c) => c === 1)).toBe(true);
    expect(covering.slice(41, 49).every((c) => c === 0)).toBe(true);
    expect(covering.slice(49).every((c) => c === 1)).toBe(true);
  });

  it('counts only counted views: capped candidates add nothing, sessions that never qualify add nothing', () => {
    const full = (start: number, viewer: string) =>
      session({ video: 'other', start, viewer }, [
        ['play_start', 0, 0, 0],
        ['complete', 100_000, 100_000, 100_000],
      ]);
    const half = session({ video: 'other', start: T0 + 2 * MIN, viewer: 'u3' }, [
      ['play_start', 0, 0, 0],
      ['heartbeat', 20_000, 20_000, 20_000],
      ['play_end', 25_000, 25_000, 5_000],
    ]);
    const partial = session({ video: 'other', start: T0 + 3 * MIN, viewer: 'u4' }, [
      ['play_start', 0, 0, 0],
      ['heartbeat', 50_000, 50_000, 50_000],
    ]);
    const t = truthFromEvents([...full(T0, 'u1'), ...full(T0 + MIN, 'u1'), ...half, ...partial], lookup);
    expect(t.totals).toMatchObject({ views: 2, views_capped: 1 });
    const r = t.retention[0]!;
    expect(r.views).toBe(2);
    expect(r.covering[0]).toBe(2);
    expect(r.covering[50]).toBe(2);
    expect(r.covering[51]).toBe(1);
    expect(r.covering[100]).toBe(1);
  });
});

describe('unique viewers', () => {
  it('counts distinct viewers per video and per creator per UTC day', () => {
    const day2 = Date.parse('2026-03-02T00:00:00.000Z');
    const t = truthFromEvents(
      [
        ...watching({ viewer: 'u1', video: 'long', start: day2 - 15_000 }, 3), // spans midnight
        ...watching({ viewer: 'u2', video: 'long', start: T0 }, 1),
        ...watching({ viewer: 'u1', video: 'long', start: T0 + 40 * MIN }, 1),
        ...watching({ viewer: 'u3', video: 'short', start: T0 }, 1),
        ...watching({ viewer: 'u4', video: 'other', start: T0 }, 1),
      ],
      lookup,
    );
    expect(t.daily_uniques).toEqual([
      { video_id: 'long', day: '2026-03-01', day_start: day2 - 86_400_000, viewers: 2 },
      { video_id: 'long', day: '2026-03-02', day_start: day2, viewers: 1 },
      { video_id: 'other', day: '2026-03-01', day_start: day2 - 86_400_000, viewers: 1 },
      { video_id: 'short', day: '2026-03-01', day_start: day2 - 86_400_000, viewers: 1 },
    ]);
    expect(t.creator_daily_uniques).toEqual([
      { creator_id: 'c1', day: '2026-03-01', day_start: day2 - 86_400_000, viewers: 3 },
      { creator_id: 'c1', day: '2026-03-02', day_start: day2, viewers: 1 },
      { creator_id: 'c2', day: '2026-03-01', day_start: day2 - 86_400_000, viewers: 1 },
    ]);
  });
});
