import { describe, expect, it } from 'vitest';
import { MinHeap } from '../../lib/min-heap.js';

describe('MinHeap', () => {
  it('pops numbers in ascending order, duplicates and negatives included', () => {
    let seed = 7;
    const rand = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % 1000) - 500;
    const h = new MinHeap<number>((a, b) => a < b);
    const xs: number[] = [];
    for (let i = 0; i < 2_000; i++) {
      const x = rand();
      xs.push(x);
      h.push(x);
      // interleaved pops keep the order too
      if (i % 7 === 0) {
        xs.sort((a, b) => a - b);
        expect(h.pop()).toBe(xs.shift());
      }
    }
    xs.sort((a, b) => a - b);
    expect(h.size).toBe(xs.length);
    const out: number[] = [];
    while (h.size > 0) out.push(h.pop()!);
    expect(out).toEqual(xs);
    expect(h.pop()).toBeUndefined();
    expect(h.peek()).toBeUndefined();
  });
});
