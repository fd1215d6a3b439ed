// A session as running aggregates must give exactly the numbers the list functions of
// session.ts give over all its events in session order — whatever the arrival order, as long
// as no event arrives behind the folded prefix — and must refuse what it cannot place.
import { describe, expect, it } from 'vitest';
import { SessionAggregate, type MinuteDelta } from '../../../processors/playback/aggregate.js';
import {
  contributions,
  coveredBuckets,
  exitPercent,
  leftAfterStall,
  qualifyingTime,
  totals,
  type CompactEvent,
} from '../../../processors/playback/session.js';
import type { EventType } from '../../../schemas/types.js';
import { aggregateObjectForm, rng } from './fixtures.js';
import { DEFAULT_RULE_PARAMETERS } from '../../../processors/parameters.js';

const THRESHOLD = DEFAULT_RULE_PARAMETERS.viewThresholdMs;

const T = Date.UTC(2026, 10, 21, 10, 0, 0);
const TYPES: EventType[] = ['heartbeat', 'heartbeat', 'heartbeat', 'pause', 'seek', 'rebuffer_start', 'rebuffer_end'];

/** A random session: a play_start, then events 0..25 s apart, sometimes a complete at the end. */
function randomSession(r: () => number, n: number): CompactEvent[] {
  const events: CompactEvent[] = [];
  let t = T;
  let pos = 0;
  for (let i = 0; i < n; i++) {
    const type: EventType =
      i === 0 ? 'play_start' : i === n - 1 && r() < 0.3 ? 'complete' : TYPES[Math.floor(r() * TYPES.length)]!;
    const gap = i === 0 ? 0 : Math.floor(r() * 25_000);
    t += gap;
    const watched = Math.floor(r() * 30_000);
    const seekFrom = type === 'seek' ? pos : null;
    pos = type === 'seek' ? Math.floor(r() * 600_000) : pos + Math.min(watched, gap);
    events.push({ id: `e${String(Math.floor(r() * 1e9)).padStart(9, '0')}-${i}`, t, type, pos, watched, seekFrom });
  }
  return events;
}

const sessionOrder = (a: CompactEvent, b: CompactEvent): number =>
  a.t - b.t || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** The numbers of a session, from the list functions over its events in session order. */
function expected(events: readonly CompactEvent[], durationMs: number) {
  const sorted = [...events].sort(sessionOrder);
  const c = contributions(sorted);
  const covered: number[] = [];
  coveredBuckets(sorted, c, durationMs).forEach((x, b) => x && covered.push(b));
  const tot = totals(sorted, durationMs, THRESHOLD);
  return {
    watchMs: tot.watchMs,
    candidate: qualifyingTime(sorted, c, durationMs, THRESHOLD),
    covered,
    exitPercent: exitPercent(sorted, durationMs),
    leftAfterStall: leftAfterStall(sorted),
    plays: [...tot.plays.values()].reduce((a, b) => a + b, 0),
    watchByMinute: tot.watch,
  };
}

function actual(a: SessionAggregate) {
  return {
    watchMs: a.watchMs,
    candidate: a.candidate,
    covered: a.covered(),
    exitPercent: a.exitPercent(),
    leftAfterStall: a.leftAfterStall(),
    plays: a.plays,
  };
}

/** Sums deltas per minute, dropping zeros. */
function byMinute(deltas: readonly MinuteDelta[]): Map<number, number> {
  const out = new Map<number, number>();
  for (const d of deltas) out.set(d.minute, (out.get(d.minute) ?? 0) + d.watchMs);
  for (const [m, v] of out) if (v === 0) out.delete(m);
  return out;
}

describe('a session as running aggregates', () => {
  it('equals the list rules for any arrival order, with folding along the way', () => {
    const r = rng(42);
    for (let trial = 0; trial < 400; trial++) {
      const events = randomSession(r, 2 + Math.floor(r() * 60));
      const duration = r() < 0.2 ? 20_000 : 60_000 + Math.floor(r() * 600_000);
      // Arrival: mostly in order, some events held back by up to 8 positions.
      const arrival = events.map((e, i) => ({ e, at: i + (r() < 0.2 ? r() * 8 : 0) })).sort((a, b) => a.at - b.at);
      const agg = new SessionAggregate(duration, THRESHOLD);
      const deltas: MinuteDelta[] = [];
      let maxT = -Infinity;
      for (const [i, { e }] of arrival.entries()) {
        expect(agg.add(e, deltas)).toBe('applied');
        maxT = Math.max(maxT, e.t);
        // Fold what lies more than 10 positions' worth of time behind: no later arrival is
        // that old here (held back by at most 8 events of at most 25 s each ... plus margin).
        if (i % 7 === 6) agg.fold(maxT - 9 * 25_000);
      }
      const want = expected(events, duration);
      const { watchByMinute, ...numbers } = want;
      expect(actual(agg)).toEqual(numbers);
      // The deltas handed out add up, per minute, to the session's watch time per minute.
      expect(byMinute(deltas)).toEqual(new Map([...watchByMinute].filter(([, v]) => v !== 0)));
      // A checkpoint round trip changes nothing.
      const restored = SessionAggregate.fromJSON(JSON.parse(JSON.stringify(agg.toJSON())), THRESHOLD);
      expect(actual(restored)).toEqual(actual(agg));
    }
  });

  it('is saved with positional events, and the object form earlier versions saved restores to the same aggregate', () => {
    const r = rng(11);
    for (let round = 0; round < 20; round++) {
      const agg = new SessionAggregate(600_000, THRESHOLD);
      const d: MinuteDelta[] = [];
      const events = randomSession(r, 3 + Math.floor(r() * 12));
      for (const e of events) agg.add({ ...e }, d);
      agg.fold(events[Math.floor(events.length / 2)]!.t); // an anchor and a folded prefix
      const saved = JSON.parse(JSON.stringify(agg.toJSON())) as Record<string, unknown>;
      expect(Array.isArray(saved.last)).toBe(true);
      // the same aggregate as earlier versions saved it: every event an object
      const old = aggregateObjectForm(saved);
      const fromOld = SessionAggregate.fromJSON(old as never, THRESHOLD);
      const fromNew = SessionAggregate.fromJSON(saved as never, THRESHOLD);
      expect(actual(fromOld)).toEqual(actual(agg));
      expect(fromOld.toJSON()).toEqual(fromNew.toJSON());
      expect(JSON.parse(JSON.stringify(fromNew.toJSON()))).toEqual(saved);
      // and both go on alike: the next event and a fold
      const next: CompactEvent = { ...events.at(-1)!, id: 'next', t: events.at(-1)!.t + 10_000, type: 'heartbeat' };
      for (const a of [fromOld, fromNew, agg]) {
        a.add({ ...next }, []);
        a.fold(next.t);
      }
      expect(actual(fromOld)).toEqual(actual(agg));
      expect(actual(fromNew)).toEqual(actual(agg));
    }
  });

  it('refuses a duplicate event_id, in the tail or as the last folded event', () => {
    const agg = new SessionAggregate(600_000, THRESHOLD);
    const d: MinuteDelta[] = [];
    const a: CompactEvent = { id: 'a', t: T, type: 'play_start', pos: 0, watched: 0, seekFrom: null };
    const b: CompactEvent = { id: 'b', t: T + 10_000, type: 'heartbeat', pos: 10_000, watched: 10_000, seekFrom: null };
    const c: CompactEvent = { id: 'c', t: T + 20_000, type: 'heartbeat', pos: 20_000, watched: 10_000, seekFrom: null };
    expect(agg.add(a, d)).toBe('applied');
    expect(agg.add(b, d)).toBe('applied');
    expect(agg.add(b, d)).toBe('duplicate');
    expect(agg.add(c, d)).toBe('applied');
    agg.fold(T + 15_000); // folds a and b: b is the anchor
    expect(agg.tailLength).toBe(1);
    expect(agg.add({ ...b }, d)).toBe('duplicate');
    expect(agg.watchMs).toBe(20_000);
  });

  it('sets aside an event that would sort before the folded events; later ones still apply', () => {
    const agg = new SessionAggregate(600_000, THRESHOLD);
    const d: MinuteDelta[] = [];
    for (let i = 0; i < 10; i++)
      agg.add(
        {
          id: `h${i}`,
          t: T + i * 10_000,
          type: i ? 'heartbeat' : 'play_start',
          pos: i * 10_000,
          watched: 10_000,
          seekFrom: null,
        },
        d,
      );
    agg.fold(T + 50_000); // h0..h4 folded
    const straggler: CompactEvent = {
      id: 'late',
      t: T + 35_000,
      type: 'heartbeat',
      pos: 35_000,
      watched: 5_000,
      seekFrom: null,
    };
    expect(agg.add(straggler, d)).toBe('folded');
    expect(agg.add({ ...straggler, id: 'ok', t: T + 55_000, pos: 55_000 }, d)).toBe('applied');
    // h5 now follows `ok`: 5 s of it moved to `ok`; total unchanged
    expect(agg.watchMs).toBe(90_000);
  });

  it('never folds the last event, so an in-order append always has its predecessor', () => {
    const agg = new SessionAggregate(600_000, THRESHOLD);
    const d: MinuteDelta[] = [];
    agg.add({ id: 'a', t: T, type: 'play_start', pos: 0, watched: 0, seekFrom: null }, d);
    agg.fold(T + 3_600_000);
    expect(agg.tailLength).toBe(1);
    agg.add({ id: 'b', t: T + 30_000, type: 'heartbeat', pos: 30_000, watched: 30_000, seekFrom: null }, d);
    expect(agg.candidate).toBe(T + 30_000);
  });
});
