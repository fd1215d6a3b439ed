// Live traffic for the demo: another seed over an earlier run's catalog, delivered as it happens.
import { describe, expect, it } from 'vitest';
import { generateTraffic } from '../../generator/index.js';
import { pump } from '../../generator/run.js';
import type { Delivery } from '../../generator/faults.js';
import type { Sink } from '../../generator/sinks.js';

const T0 = Date.UTC(2026, 11, 1, 12, 0, 0);

describe('live traffic', () => {
  it('catalogSeed: the videos of the first run, new sessions and event ids', () => {
    const history = generateTraffic({ events: 400, seed: 1, start: T0 - 6 * 3_600_000 });
    const live = generateTraffic({ events: 400, seed: 2, catalogSeed: 1, start: T0 });
    expect(live.catalog.videos.map((v) => [v.video.video_id, v.video.duration_ms])).toEqual(
      history.catalog.videos.map((v) => [v.video.video_id, v.video.duration_ms]),
    );
    const ids = (t: typeof live): Set<string> =>
      new Set([...t.deliveriesSync()].flatMap((d) => (d.kind === 'event' ? [d.event.event_id] : [])));
    const a = ids(history);
    const b = ids(live);
    expect(b.size).toBeGreaterThan(300);
    expect([...b].filter((id) => a.has(id))).toEqual([]);
    const videos = new Set(history.catalog.videos.map((v) => v.video.video_id));
    for (const r of live.truth().minutes) expect(videos.has(r.video_id)).toBe(true);
  });

  it('pump --realtime delivers each record once the clock reaches its delivery time', async () => {
    const traffic = generateTraffic({ events: 300, seed: 3, start: T0, spanMs: 600_000 });
    let clock = T0;
    const late: number[] = [];
    const sink: Sink = {
      name: 'clock',
      async write(d: Delivery) {
        late.push(clock - d.deliverAt);
      },
      close: async () => undefined,
      stats: () => ({}) as ReturnType<Sink['stats']>,
    };
    const r = await pump(traffic, sink, {
      rate: 0,
      realtime: true,
      now: () => clock,
      sleep: async (ms) => {
        clock += ms;
      },
    });
    expect(r.delivered).toBe(300);
    // never early (at most the 5 ms not worth sleeping for), never later than the clock needed
    expect(Math.min(...late)).toBeGreaterThanOrEqual(-5);
    expect(Math.max(...late)).toBe(0);
    expect(clock).toBeGreaterThan(T0 + 60_000);
  });
});
