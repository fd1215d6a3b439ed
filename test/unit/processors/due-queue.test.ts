// DueQueue (processors/expiry.ts): the open windows of the count and rollup stores by the
// watermark that closes them.
import { describe, expect, it } from 'vitest';
import { DueQueue } from '../../../processors/expiry.js';

const taken = <V>(q: DueQueue<V>, limit: number): [string, V][] => {
  const out: [string, V][] = [];
  q.takeDue(limit, (key, v) => out.push([key, v]));
  return out;
};

describe('DueQueue', () => {
  it('hands out what is due at or before the limit, earliest time first, once', () => {
    const q = new DueQueue<number>();
    q.add(30, 'c', 3);
    q.add(10, 'a', 1);
    q.add(20, 'b', 2);
    q.add(10, 'a2', 11);
    expect(taken(q, 20)).toEqual([
      ['a', 1],
      ['a2', 11],
      ['b', 2],
    ]);
    expect(taken(q, 20)).toEqual([]);
    expect(taken(q, 29)).toEqual([]);
    expect(taken(q, 30)).toEqual([['c', 3]]);
  });

  it('a key queued again at the same time is there once, with its last value', () => {
    const q = new DueQueue<string>();
    q.add(5, 'k', 'old');
    q.add(5, 'k', 'new');
    expect(taken(q, 5)).toEqual([['k', 'new']]);
  });

  it('a value queued again during a visit, at a later time, comes due then', () => {
    const q = new DueQueue<number>();
    q.add(1, 'k', 1);
    const seen: number[] = [];
    q.takeDue(1, (key, v) => {
      seen.push(v);
      q.add(7, key, v + 1);
    });
    expect(seen).toEqual([1]);
    expect(taken(q, 6)).toEqual([]);
    expect(taken(q, 7)).toEqual([['k', 2]]);
  });
});
