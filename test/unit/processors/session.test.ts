// The rules of docs/semantics.md, one by one, on hand-made sessions.
import { describe, expect, it } from 'vitest';
import {
  bucketOf,
  contributions,
  coveredBuckets,
  insertSorted,
  qualifyingTime,
  totals,
  type CompactEvent,
} from '../../../processors/playback/session.js';
import { countedViews } from '../../../processors/playback/views.js';
import { DEFAULT_RULE_PARAMETERS as RULES } from '../../../processors/parameters.js';

const CAP = RULES.repeatCapMs;
const T = Date.UTC(2026, 10, 21, 10, 0, 0);
let n = 0;
const ev = (
  type: CompactEvent['type'],
  t: number,
  pos: number,
  watched: number,
  seekFrom: number | null = null,
): CompactEvent => ({
  id: `e${String(++n).padStart(4, '0')}`,
  t: T + t,
  type,
  pos,
  watched,
  seekFrom,
});

describe('watch time', () => {
  it('the first event contributes 0; later ones min(watched, gap)', () => {
    const es = [
      ev('play_start', 0, 0, 0),
      ev('heartbeat', 10_000, 10_000, 10_000),
      ev('heartbeat', 15_000, 20_000, 10_000),
    ];
    expect(contributions(es)).toEqual([0, 10_000, 5_000]);
  });

  it('never negative, and a zero gap contributes nothing', () => {
    const es = [ev('play_start', 0, 0, 0), ev('heartbeat', 0, 0, 5_000), ev('pause', 1_000, 1_000, -5)];
    expect(contributions(es)).toEqual([0, 0, 0]);
  });

  it('session order is event time, then event_id; duplicates are refused', () => {
    const es: CompactEvent[] = [];
    const a = ev('heartbeat', 20_000, 20_000, 10_000);
    const b = ev('play_start', 0, 0, 0);
    const c = ev('heartbeat', 10_000, 10_000, 10_000);
    expect(insertSorted(es, a)).toBe(true);
    expect(insertSorted(es, b)).toBe(true);
    expect(insertSorted(es, c)).toBe(true);
    expect(insertSorted(es, { ...c })).toBe(false);
    expect(insertSorted(es, { ...c, t: c.t + 1 })).toBe(false);
    expect(es.map((e) => e.id)).toEqual([b.id, c.id, a.id]);
    const tieA = { ...ev('heartbeat', 30_000, 0, 0), id: 'zz' };
    const tieB = { ...ev('heartbeat', 30_000, 0, 0), id: 'aa' };
    insertSorted(es, tieA);
    insertSorted(es, tieB);
    expect(es.slice(-2).map((e) => e.id)).toEqual(['aa', 'zz']);
  });
});

describe('the view rule', () => {
  const hb = (s: number): CompactEvent => ev('heartbeat', s * 1000, s * 1000, 10_000);

  it('qualifies when watch time reaches 30 s, at that event', () => {
    const es = [ev('play_start', 0, 0, 0), hb(10), hb(20), hb(30), hb(40)];
    expect(qualifyingTime(es, contributions(es), 600_000, RULES.viewThresholdMs)).toBe(T + 30_000);
  });

  it('a 29.999 s session is not a view', () => {
    const es = [ev('play_start', 0, 0, 0), hb(10), hb(20), ev('pause', 29_999, 29_999, 9_999)];
    expect(qualifyingTime(es, contributions(es), 600_000, RULES.viewThresholdMs)).toBeNull();
  });

  it('uses min(30 s, length) for short videos', () => {
    const es = [ev('play_start', 0, 0, 0), hb(10), ev('heartbeat', 12_000, 12_000, 2_000)];
    expect(qualifyingTime(es, contributions(es), 12_000, RULES.viewThresholdMs)).toBe(T + 12_000);
    expect(qualifyingTime(es, contributions(es), 0, RULES.viewThresholdMs)).toBeNull(); // unknown length: 30 s
  });

  it('complete qualifies at once, whichever comes first', () => {
    const es = [ev('play_start', 0, 0, 0), ev('complete', 5_000, 600_000, 5_000)];
    expect(qualifyingTime(es, contributions(es), 600_000, RULES.viewThresholdMs)).toBe(T + 5_000);
  });

  it('the bound on watched_ms matters: a client cannot report more watching than time passed', () => {
    const es = [ev('play_start', 0, 0, 0), ev('heartbeat', 5_000, 40_000, 40_000)];
    expect(qualifyingTime(es, contributions(es), 600_000, RULES.viewThresholdMs)).toBeNull();
  });

  it('totals put plays and watch time in the minute of each event', () => {
    const es = [
      ev('play_start', 55_000, 0, 0),
      ev('heartbeat', 65_000, 10_000, 10_000),
      ev('heartbeat', 75_000, 20_000, 10_000),
    ];
    const t = totals(es, 600_000, RULES.viewThresholdMs);
    expect([...t.plays]).toEqual([[T, 1]]);
    expect([...t.watch]).toEqual([[T + 60_000, 20_000]]);
    expect(t.watchMs).toBe(20_000);
    expect(t.candidate).toBeNull();
  });
});

describe('the repeat cap', () => {
  it('counts a viewer-video view at most once per 30 minutes', () => {
    const c = (id: string, t: number) => ({ sessionId: id, t: T + t });
    expect(countedViews([c('a', 0), c('b', CAP - 1), c('c', CAP)], null, CAP).map((x) => x.sessionId)).toEqual([
      'a',
      'c',
    ]);
  });

  it('is evaluated in time order, whatever the arrival order', () => {
    const c = (id: string, t: number) => ({ sessionId: id, t: T + t });
    expect(
      countedViews([c('late', 40 * 60_000), c('first', 0), c('mid', 20 * 60_000)], null, CAP).map((x) => x.sessionId),
    ).toEqual(['first', 'late']);
  });

  it('respects a view counted before the remembered candidates', () => {
    expect(countedViews([{ sessionId: 'x', t: T + 10 * 60_000 }], T, CAP)).toEqual([]);
  });
});

describe('audience retention', () => {
  const D = 100_000; // 100 s video: one bucket per second

  it('buckets positions by percent of length, clamped to 0..100', () => {
    expect(bucketOf(0, D)).toBe(0);
    expect(bucketOf(999, D)).toBe(0);
    expect(bucketOf(1_000, D)).toBe(1);
    expect(bucketOf(D, D)).toBe(100);
    expect(bucketOf(D + 5, D)).toBe(100);
    expect(bucketOf(-5, D)).toBe(0);
  });

  it('covers what was watched, up to the end', () => {
    const es = [ev('play_start', 0, 0, 0), ev('heartbeat', 10_000, 10_000, 10_000), ev('complete', 20_000, D, 10_000)];
    const cov = coveredBuckets(es, contributions(es), D);
    // [0,10 s] → buckets 0..10, [90 s,100 s] → 90..100 (the player jumped to the end)
    expect([...cov.keys()].filter((b) => cov[b])).toEqual([...range(0, 10), ...range(90, 100)]);
  });

  it('handles a seek forward: the jumped-over part is not covered', () => {
    const es = [
      ev('play_start', 0, 0, 0),
      ev('heartbeat', 10_000, 10_000, 10_000),
      ev('seek', 12_000, 60_000, 2_000, 12_000),
      ev('heartbeat', 22_000, 70_000, 10_000),
    ];
    const cov = coveredBuckets(es, contributions(es), D);
    expect([...cov.keys()].filter((b) => cov[b])).toEqual([...range(0, 12), ...range(60, 70)]);
  });

  it('handles a seek back: re-watched parts count once', () => {
    const es = [
      ev('play_start', 0, 0, 0),
      ev('heartbeat', 10_000, 10_000, 10_000),
      ev('seek', 10_500, 0, 500, 10_500),
      ev('heartbeat', 20_500, 10_000, 10_000),
    ];
    const cov = coveredBuckets(es, contributions(es), D);
    expect([...cov.keys()].filter((b) => cov[b])).toEqual(range(0, 10));
  });
});

function range(a: number, b: number): number[] {
  return Array.from({ length: b - a + 1 }, (_, i) => a + i);
}
