// Checkpoints follow the changes, not the state: after any amount of traffic, what one more
// event makes a processor write is the few keys it touched — and restoring the written
// changes, checkpoint after checkpoint, gives back exactly the state (the crash tests of each
// processor run through the same incremental store in the in-memory driver).
import { describe, expect, it } from 'vitest';
import { applyChanges, Tracked, type StateEntries } from '../../../processors/keyed-state.js';
import { viewCounts } from '../../../processors/view-counts/processor.js';
import { engagement } from '../../../processors/engagement/processor.js';
import { recommendations } from '../../../processors/recommendations/processor.js';
import { rawEvents } from '../../../processors/raw-events/processor.js';
import type { PlayEvent } from '../../../schemas/types.js';
import { traffic } from './fixtures.js';

describe('Tracked maps', () => {
  it('hand out set, touched and deleted keys once, with their prefix', () => {
    const m = new Tracked<{ n: number }>('x:');
    m.set('a', { n: 1 });
    m.set('b', { n: 2 });
    const first: StateEntries = [];
    m.collect(first);
    expect(first).toEqual([
      ['x:a', { n: 1 }],
      ['x:b', { n: 2 }],
    ]);
    m.get('a')!.n = 5;
    m.touch('a');
    m.delete('b');
    m.delete('never');
    const second: StateEntries = [];
    m.collect(second);
    expect(second).toEqual([
      ['x:a', { n: 5 }],
      ['x:b', null],
    ]);
    const third: StateEntries = [];
    m.collect(third);
    expect(third).toEqual([]);
  });

  it('write nothing for a key that came and went between two collects, and a tombstone for one the changelog holds', () => {
    const m = new Tracked<number>('x:');
    const collect = (): StateEntries => {
      const out: StateEntries = [];
      m.collect(out);
      return out;
    };
    m.set('kept', 1);
    m.set('brief', 2);
    m.delete('brief');
    expect(collect()).toEqual([['x:kept', 1]]);
    // written before: deleted, set again and deleted again, still a tombstone
    m.delete('kept');
    m.set('kept', 3);
    m.delete('kept');
    m.set('moved', 4);
    expect(collect()).toEqual([
      ['x:kept', null],
      ['x:moved', 4],
    ]);
    // a reinsert keeps what the changelog holds of the key
    m.reinsert('moved', 5);
    m.delete('moved');
    m.reinsert('fresh', 6);
    m.delete('fresh');
    expect(collect()).toEqual([['x:moved', null]]);
  });

  it('whatever the operations, the collected changes applied in order are the map (a seeded random walk)', () => {
    let seed = 7;
    const next = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const m = new Tracked<number>('x:');
    const log = new Map<string, unknown>();
    for (let step = 0; step < 20_000; step++) {
      const key = `k${next(30)}`;
      const op = next(10);
      if (op < 4) m.set(key, step);
      else if (op < 7) m.delete(key);
      else if (op < 8) m.reinsert(key, step);
      else if (op < 9 && m.has(key)) m.touch(key);
      else {
        const out: StateEntries = [];
        m.collect(out);
        for (const [k] of out) expect(out.filter(([x]) => x === k)).toHaveLength(1);
        applyChanges(log, out);
        expect(new Map([...log].map(([k, v]) => [k.slice(2), v]))).toEqual(new Map(m));
      }
    }
  });

  it('restore in the order keys were last written', () => {
    const store = new Map<string, unknown>();
    applyChanges(store, [
      ['x:a', 1],
      ['x:b', 2],
      ['x:c', 3],
    ]);
    applyChanges(store, [
      ['x:a', 4],
      ['x:b', null],
    ]);
    const m = new Tracked<number>('x:');
    m.restore(store, (v) => v as number);
    expect([...m]).toEqual([
      ['c', 3],
      ['a', 4],
    ]);
  });

  it('sharing one state, each restores its own keys (which may hold a colon), from the state as it is now', async () => {
    const store = new Map<string, unknown>([
      ['x:a:1', 1],
      ['xy:a', 2],
      ['x:b', 3],
      ['p:meta', 4],
    ]);
    const restore = (prefix: string): [string, number][] => {
      const m = new Tracked<number>(prefix);
      m.restore(store, (v) => v as number);
      return [...m];
    };
    expect(restore('x:')).toEqual([
      ['a:1', 1],
      ['b', 3],
    ]);
    expect(restore('xy:')).toEqual([['a', 2]]);
    expect(restore('y:')).toEqual([]);
    // later, after the store changed (a crash test restores again from the same map)
    await Promise.resolve();
    applyChanges(store, [
      ['x:c', 5],
      ['x:a:1', null],
    ]);
    expect(restore('x:')).toEqual([
      ['b', 3],
      ['c', 5],
    ]);
    expect(() => new Tracked<number>('x')).toThrow(RangeError);
    expect(() => new Tracked<number>('x:y:')).toThrow(RangeError);
  });
});

describe('what a checkpoint writes', () => {
  const t = traffic(5, { sessions: 400, viewers: 300, videos: 20, partitions: 1 });
  const events = t.deliveries.map((d) => d.event);
  const last = events[events.length - 1]!;

  for (const def of [viewCounts(), engagement(), recommendations(), rawEvents()]) {
    it(`${def.name}: one more event changes a handful of keys, however big the state`, () => {
      const p = def.create(0, undefined, t.catalog);
      events.forEach((value, offset) => p.process({ topic: 't', partition: 0, offset, key: null, value }));
      p.drain();
      const everything = p.stateChanges().length;
      const next: PlayEvent = { ...last, event_id: 'one-more', event_time: last.event_time + 1_000, watched_ms: 1_000 };
      p.process({ topic: 't', partition: 0, offset: events.length, key: null, value: next });
      p.drain();
      const changed = p.stateChanges();
      expect(everything).toBeGreaterThan(50);
      // its session, its group, view-count windows of three grains for video and creator, metadata
      expect(changed.length).toBeLessThanOrEqual(10);
      // and the full state is what the changes add up to
      const store = new Map<string, unknown>();
      applyChanges(store, JSON.parse(JSON.stringify(p.snapshot())) as StateEntries);
      const copy = def.create(0, store, t.catalog);
      expect(JSON.parse(JSON.stringify(copy.snapshot()))).toEqual(JSON.parse(JSON.stringify(p.snapshot())));
    });
  }
});
