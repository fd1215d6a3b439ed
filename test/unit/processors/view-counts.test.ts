// The view-counts processor, driven in memory: its ClickHouse rows must add up to exactly
// what the rules imply for all the input at once — with out-of-order, duplicate and late
// events, and with crashes at any record.
import { describe, expect, it } from 'vitest';
import { TestDriver } from '../../../processors/driver.js';
import { viewCounts, COUNTS_TABLE } from '../../../processors/view-counts/processor.js';
import { CountStore } from '../../../processors/view-counts/counts.js';
import { MemoryTable } from '../../../processors/driver.js';
import type { PlayEvent } from '../../../schemas/types.js';
import { traffic, rng } from './fixtures.js';
import { referenceCounts, type MinuteCounts } from './reference.js';

/** What readers compute: SUM over FINAL rows, per key and window. */
function readCounts(driver: TestDriver<PlayEvent>, dim: string, grain: string): Map<string, Map<number, MinuteCounts>> {
  const out = new Map<string, Map<number, MinuteCounts>>();
  for (const row of driver.table(COUNTS_TABLE.name).rows()) {
    if (row.dim !== dim || row.grain !== grain) continue;
    const byWindow = out.get(row.id as string) ?? new Map<number, MinuteCounts>();
    out.set(row.id as string, byWindow);
    const c = byWindow.get(row.window_start as number) ?? { plays: 0, views: 0, watchMs: 0 };
    c.plays += row.plays as number;
    c.views += row.views as number;
    c.watchMs += row.watch_ms as number;
    byWindow.set(row.window_start as number, c);
  }
  // zero cells are the same as missing ones
  for (const byWindow of out.values())
    for (const [w, c] of byWindow) if (!c.plays && !c.views && !c.watchMs) byWindow.delete(w);
  for (const [k, byWindow] of out) if (byWindow.size === 0) out.delete(k);
  return out;
}

function nonZero(m: Map<string, Map<number, MinuteCounts>>): Map<string, Map<number, MinuteCounts>> {
  for (const byWindow of m.values())
    for (const [w, c] of byWindow) if (!c.plays && !c.views && !c.watchMs) byWindow.delete(w);
  for (const [k, byWindow] of m) if (byWindow.size === 0) m.delete(k);
  return m;
}

function rollUp(
  m: Map<string, Map<number, MinuteCounts>>,
  size: number,
  keyOf: (id: string) => string = (id) => id,
): Map<string, Map<number, MinuteCounts>> {
  const out = new Map<string, Map<number, MinuteCounts>>();
  for (const [id, byMinute] of m) {
    const k = keyOf(id);
    const byWindow = out.get(k) ?? new Map<number, MinuteCounts>();
    out.set(k, byWindow);
    for (const [minute, c] of byMinute) {
      const w = Math.floor(minute / size) * size;
      const acc = byWindow.get(w) ?? { plays: 0, views: 0, watchMs: 0 };
      acc.plays += c.plays;
      acc.views += c.views;
      acc.watchMs += c.watchMs;
      byWindow.set(w, acc);
    }
  }
  return nonZero(out);
}

function run(
  seed: number,
  crashEvery?: () => boolean,
): {
  driver: TestDriver<PlayEvent>;
  events: PlayEvent[];
  durations: Map<string, number>;
  creators: Map<string, string>;
} {
  const t = traffic(seed);
  const driver = new TestDriver(viewCounts(), t.catalog);
  const r = rng(seed * 7 + 1);
  for (const [i, d] of t.deliveries.entries()) {
    driver.pipe(d.partition, d.event);
    if (i % 25 === 24) driver.flush();
    if (r() < 0.05) driver.checkpoint();
    if (crashEvery?.()) {
      // flush only part of the time: a crash can come between the row write and the checkpoint
      if (r() < 0.5) driver.flush();
      driver.crash();
      driver.recover();
    }
  }
  driver.checkpoint();
  return { driver, events: t.deliveries.map((d) => d.event), durations: t.durations, creators: t.creators };
}

describe('view-counts processor', () => {
  it.each([1, 2, 3, 4, 5])(
    'per-minute plays, views and watch time equal the rules applied to all input (seed %i)',
    (seed) => {
      const { driver, events, durations } = run(seed);
      expect(driver.outcomes.filter((o) => o.kind === 'drop' && o.reason === 'session_closed')).toEqual([]);
      const expected = nonZero(referenceCounts(events, durations));
      expect(readCounts(driver, 'video', 'minute')).toEqual(expected);
    },
  );

  it('drops duplicates and says so', () => {
    const { driver, events } = run(1);
    const ids = new Set(events.map((e) => e.event_id));
    expect(driver.outcomes.filter((o) => o.kind === 'drop' && o.reason === 'duplicate')).toHaveLength(
      events.length - ids.size,
    );
  });

  it('hour and day rows roll the minutes up exactly, per video and per creator', () => {
    const { driver, events, durations, creators } = run(2);
    const minutes = referenceCounts(events, durations);
    expect(readCounts(driver, 'video', 'hour')).toEqual(rollUp(minutes, 3_600_000));
    expect(readCounts(driver, 'video', 'day')).toEqual(rollUp(minutes, 86_400_000));
    expect(readCounts(driver, 'creator', 'minute')).toEqual(rollUp(minutes, 60_000, (v) => creators.get(v)!));
  });

  it.each([11, 12, 13])(
    'crashing at random records and replaying from the last checkpoint changes nothing (seed %i)',
    (seed) => {
      const r = rng(seed);
      const crashed = run(seed, () => r() < 0.08);
      const clean = run(seed);
      expect(readCounts(crashed.driver, 'video', 'minute')).toEqual(readCounts(clean.driver, 'video', 'minute'));
      expect(readCounts(crashed.driver, 'creator', 'day')).toEqual(readCounts(clean.driver, 'creator', 'day'));
      expect(readCounts(crashed.driver, 'video', 'minute')).toEqual(
        nonZero(referenceCounts(crashed.events, crashed.durations)),
      );
    },
  );

  it('late events are applied as delta rows and recorded', () => {
    const { driver } = run(3);
    const late = driver.table('late_events').rows();
    expect(late.length).toBeGreaterThan(0);
    expect(late.every((r) => r.applied === 1 && r.reason === 'window_closed')).toBe(true);
    const deltas = driver
      .table(COUNTS_TABLE.name)
      .rows()
      .filter((r) => (r.seq as number) > 0);
    expect(deltas.length).toBeGreaterThan(0);
  });

  it('closes windows behind the watermark: a minute is final exactly once the watermark passed its end plus the grace', () => {
    const { driver } = run(4);
    const rows = driver
      .table(COUNTS_TABLE.name)
      .rows()
      .filter((r) => r.grain === 'minute' && r.seq === 0);
    // docs/semantics.md, "Late events": a window is closed once the partition's watermark is
    // at or past its end plus the grace. Close passes run each time the watermark enters a
    // new minute, so every window that closed before the last watermark minute is final, and
    // no window the final watermark has not passed is.
    const GRACE = 60_000;
    let final = 0;
    let open = 0;
    for (const r of rows) {
      const watermark = driver.watermark(r.kafka_partition as number);
      const closesAt = (r.window_start as number) + 60_000 + GRACE;
      if (closesAt < Math.floor(watermark / 60_000) * 60_000) {
        expect(r.is_final, `window ${String(r.window_start)} of partition ${String(r.kafka_partition)}`).toBe(1);
        final++;
      } else if (closesAt > watermark) {
        expect(r.is_final, `window ${String(r.window_start)} of partition ${String(r.kafka_partition)}`).toBe(0);
        open++;
      }
    }
    // both kinds occur in this traffic, so neither half of the rule goes unchecked
    expect(final).toBeGreaterThan(0);
    expect(open).toBeGreaterThan(0);
  });

  it('one late event changing two minutes of a closed hour keeps both changes (one delta row per window)', () => {
    // A late event that moves a play from 10:05 to 10:02 of an hour already closed: -1 and +1
    // in the hour window from the same offset. Two rows with one key and version would
    // collapse in a ReplacingMergeTree (the driver's tables do the same) and leave ±1.
    const store = new CountStore(0, { graceMs: 60_000 });
    const t0 = Date.UTC(2026, 10, 20, 10, 0);
    const table = new MemoryTable(COUNTS_TABLE);
    store.add('video', 'v1', t0 + 5 * 60_000, { plays: 1, views: 0, watchMs: 0 }, 1, t0);
    store.closeWindows(t0 + 3 * 3_600_000);
    table.insert(store.drain());
    const watermark = t0 + 3 * 3_600_000;
    store.add('video', 'v1', t0 + 5 * 60_000, { plays: -1, views: 0, watchMs: 0 }, 7, watermark);
    store.add('video', 'v1', t0 + 2 * 60_000, { plays: 1, views: 0, watchMs: 0 }, 7, watermark);
    table.insert(store.drain());
    const sum = (grain: string): number =>
      table
        .rows()
        .filter((r) => r.grain === grain)
        .reduce((n, r) => n + (r.plays as number), 0);
    expect(sum('minute')).toBe(1);
    expect(sum('hour')).toBe(1);
    expect(sum('day')).toBe(1);
  });

  it('each window closes exactly at its end plus the grace, in a restored store too', () => {
    const GRACE = 60_000;
    const t0 = Date.UTC(2026, 10, 20, 10, 0);
    const store = new CountStore(0, { graceMs: GRACE });
    store.add('video', 'v1', t0 + 5 * 60_000, { plays: 1, views: 0, watchMs: 0 }, 1, t0);
    store.add('creator', 'c1', t0 + 50 * 60_000, { plays: 1, views: 0, watchMs: 0 }, 2, t0);
    const finals = (s: CountStore, watermark: number): string[] => {
      s.closeWindows(watermark);
      return s
        .drain()
        .filter((r) => r.is_final === 1)
        .map((r) => `${r.dim} ${r.grain} ${new Date(r.window_start).toISOString().slice(11, 16)}`)
        .sort();
    };
    const minute = 60_000;
    expect(finals(store, t0 + 7 * minute - 1)).toEqual([]);
    expect(finals(store, t0 + 7 * minute)).toEqual(['video minute 10:05']);
    // what survives a restart: the windows still open, and when each of them closes
    const entries: [string, unknown][] = [];
    store.all(entries);
    const restored = CountStore.restore(0, { graceMs: GRACE }, new Map(JSON.parse(JSON.stringify(entries))));
    for (const s of [store, restored]) {
      expect(finals(s, t0 + 52 * minute - 1)).toEqual([]);
      expect(finals(s, t0 + 52 * minute)).toEqual(['creator minute 10:50']);
      expect(finals(s, t0 + 61 * minute)).toEqual(['creator hour 10:00', 'video hour 10:00']);
      expect(finals(s, Date.UTC(2026, 10, 21, 0, 1) - 1)).toEqual([]);
      expect(finals(s, Date.UTC(2026, 10, 21, 0, 1))).toEqual(['creator day 00:00', 'video day 00:00']);
    }
  });
});
