import { describe, expect, it } from 'vitest';
import { SessionWindows, TimeWindows } from '../../../processors/windows.js';
import { HOUR, MINUTE } from '../../../lib/time.js';
import { Watermark } from '../../../processors/watermark.js';

const t0 = Date.UTC(2026, 10, 21, 10, 0, 0);

describe('TimeWindows', () => {
  it('tumbling windows are epoch-aligned and half-open', () => {
    const w = TimeWindows.tumbling(MINUTE);
    expect(w.windowFor(t0)).toEqual({ start: t0, end: t0 + MINUTE });
    expect(w.windowFor(t0 + MINUTE - 1)).toEqual({ start: t0, end: t0 + MINUTE });
    expect(w.windowFor(t0 + MINUTE)).toEqual({ start: t0 + MINUTE, end: t0 + 2 * MINUTE });
    expect(w.windowFor(0)).toEqual({ start: 0, end: MINUTE });
  });

  it('hopping windows: an instant belongs to size/advance windows', () => {
    const w = TimeWindows.hopping(HOUR, 15 * MINUTE);
    const ws = w.windowsFor(t0 + 20 * MINUTE);
    expect(ws).toHaveLength(4);
    expect(ws.map((x) => (x.start - t0) / MINUTE)).toEqual([-30, -15, 0, 15]);
    for (const x of ws) expect(x.start <= t0 + 20 * MINUTE && t0 + 20 * MINUTE < x.end).toBe(true);
  });

  it('a window closes when the watermark reaches end + grace, not before', () => {
    const w = TimeWindows.tumbling(MINUTE).grace(10_000);
    const win = w.windowFor(t0);
    expect(w.isClosed(win, t0 + MINUTE + 9_999)).toBe(false);
    expect(w.isClosed(win, t0 + MINUTE + 10_000)).toBe(true);
  });

  it('rejects nonsense', () => {
    expect(() => TimeWindows.tumbling(0)).toThrow(RangeError);
    expect(() => TimeWindows.hopping(MINUTE, 2 * MINUTE)).toThrow(RangeError);
    expect(() => TimeWindows.tumbling(MINUTE).grace(-1)).toThrow(RangeError);
    expect(() => TimeWindows.hopping(HOUR, MINUTE).windowFor(t0)).toThrow();
  });
});

describe('SessionWindows', () => {
  const s = SessionWindows.withInactivityGap(30 * MINUTE).grace(MINUTE);

  it('joins events closer than the gap and closes after last + gap + grace', () => {
    expect(s.joins(t0 + 29 * MINUTE, t0, t0)).toBe(true);
    expect(s.joins(t0 + 30 * MINUTE, t0, t0)).toBe(false);
    expect(s.joins(t0 - 29 * MINUTE, t0, t0 + MINUTE)).toBe(true);
    expect(s.windowOf(t0, t0 + 5 * MINUTE)).toEqual({ start: t0, end: t0 + 35 * MINUTE });
    expect(s.isClosed(t0, t0 + 5 * MINUTE, t0 + 36 * MINUTE - 1)).toBe(false);
    expect(s.isClosed(t0, t0 + 5 * MINUTE, t0 + 36 * MINUTE)).toBe(true);
  });
});

describe('Watermark', () => {
  it('is the highest event time seen minus the out-of-orderness, and never goes back', () => {
    const w = new Watermark(10_000);
    expect(w.current).toBe(Number.NEGATIVE_INFINITY);
    expect(w.observe(t0)).toBe(true);
    expect(w.current).toBe(t0 - 10_000);
    expect(w.observe(t0 - 5_000)).toBe(false);
    expect(w.current).toBe(t0 - 10_000);
    w.observe(t0 + 1_000);
    expect(w.current).toBe(t0 - 9_000);
  });

  it('survives a JSON round trip exactly', () => {
    const w = new Watermark(5_000);
    w.observe(t0);
    const back = Watermark.fromJSON(5_000, JSON.parse(JSON.stringify(w)));
    expect(back.current).toBe(w.current);
    expect(Watermark.fromJSON(5_000, JSON.parse(JSON.stringify(new Watermark(5_000)))).current).toBe(-Infinity);
  });
});
