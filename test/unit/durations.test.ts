// Durations for people: at most two units, rounded to the last one shown.
import { describe, expect, it } from 'vitest';
import { humanDuration } from '../../lib/durations.js';

describe('humanDuration', () => {
  it.each<[number, string]>([
    [0, '0 ms'],
    [850, '850 ms'],
    [1_000, '1 s'],
    [12_400, '12 s'],
    [59_400, '59 s'],
    [59_999, '1 min'],
    [60_000, '1 min'],
    [1_668_000, '28 min'], // 27 min 48 s
    [3_599_000, '1 h'],
    [3_600_000, '1 h'],
    [3 * 3_600_000 + 5 * 60_000 + 20_000, '3 h 5 min'],
    [3 * 3_600_000 + 20_000, '3 h'],
    [3 * 3_600_000 + 59 * 60_000 + 40_000, '4 h'],
    [2 * 86_400_000 + 4 * 3_600_000 + 20 * 60_000, '2 d 4 h'],
    [2 * 86_400_000 + 4 * 3_600_000 + 59 * 60_000, '2 d 5 h'],
    [-90_000, '-2 min'],
    [Number.POSITIVE_INFINITY, '–'],
  ])('%d ms → %s', (ms, text) => expect(humanDuration(ms)).toBe(text));
});

describe("the dashboard's elapsed()", () => {
  it('reads lags exactly as humanDuration does, from 1 s to 30 days', async () => {
    // @ts-expect-error plain browser JavaScript, no declarations
    const { elapsed } = (await import('../../api/dashboard/public/format.js')) as { elapsed: (ms: number) => string };
    for (let ms = 1_000; ms < 30 * 86_400_000; ms = Math.ceil(ms * 1.07) + 333)
      expect(elapsed(ms), `${ms} ms`).toBe(humanDuration(ms));
    expect(elapsed(1_668_000)).toBe('28 min');
  });
});
