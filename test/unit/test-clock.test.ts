// The pinned "now" of generated test traffic (test/clock.ts): what VIEWPULSE_TEST_NOW accepts,
// and that it never lands in the future or outside the collector's event horizon.
import { describe, expect, it } from 'vitest';
import { DEFAULT_TEST_TIME, testNow } from '../clock.js';

const WALL = Date.parse('2026-12-01T10:23:09.123Z');
const env = (value?: string): NodeJS.ProcessEnv => (value === undefined ? {} : { VIEWPULSE_TEST_NOW: value });

describe('testNow', () => {
  it('defaults to a fixed time of day on yesterday’s UTC date, whatever the hour of the wall clock', () => {
    expect(DEFAULT_TEST_TIME).toBe('06:00');
    for (const wall of [Date.parse('2026-12-01T00:00:00Z'), WALL, Date.parse('2026-12-01T23:59:59.999Z')]) {
      expect(new Date(testNow(env(), wall)).toISOString()).toBe('2026-11-30T06:00:00.000Z');
    }
    expect(testNow(env(''), WALL)).toBe(testNow(env(), WALL));
  });

  it('takes HH:MM[:SS] (UTC, yesterday), epoch ms and ISO 8601 with Z or an offset', () => {
    expect(new Date(testNow(env('00:10'), WALL)).toISOString()).toBe('2026-11-30T00:10:00.000Z');
    expect(new Date(testNow(env('23:50:30'), WALL)).toISOString()).toBe('2026-11-30T23:50:30.000Z');
    expect(testNow(env('1795942200000'), WALL)).toBe(1795942200000);
    expect(testNow(env('2026-11-29T08:50:00Z'), WALL)).toBe(Date.parse('2026-11-29T08:50:00Z'));
    expect(testNow(env('2026-11-29T08:50:00.5+02:00'), WALL)).toBe(Date.parse('2026-11-29T06:50:00.500Z'));
  });

  it('refuses what it cannot read, local times, the future and more than 3 days ago', () => {
    for (const bad of [
      'yesterday',
      '8:50',
      '24:00',
      '2026-11-30T08:50:00',
      '2026-11-30 08:50Z',
      '2026-13-40T00:00:00Z',
    ])
      expect(() => testNow(env(bad), WALL), bad).toThrow(/VIEWPULSE_TEST_NOW/);
    expect(() => testNow(env('2026-12-01T10:30:00Z'), WALL)).toThrow(/in the past/);
    expect(() => testNow(env('2026-11-28T10:00:00Z'), WALL)).toThrow(/at most 3 days ago/);
    expect(testNow(env('2026-11-28T10:30:00Z'), WALL)).toBe(Date.parse('2026-11-28T10:30:00Z'));
  });
});
