// Data-path array helpers: they take arrays far larger than a spread into call arguments can.
import { describe, expect, it } from 'vitest';
import { maxOf, minOf, pushAll } from '../../lib/arrays.js';

const LARGE = 1_000_000; // a spread of this many arguments overflows V8's stack

describe('array helpers', () => {
  it('a spread of a large array overflows the stack (why the helpers exist)', () => {
    const big = new Array<number>(LARGE).fill(1);
    expect(() => [].push(...(big as never[]))).toThrow(RangeError);
  });

  it('pushAll appends every item of a large array or iterable, in order', () => {
    const target = [-1];
    const big = Array.from({ length: LARGE }, (_, i) => i);
    expect(pushAll(target, big)).toBe(target);
    expect(target.length).toBe(LARGE + 1);
    expect(target[0]).toBe(-1);
    expect(target[LARGE]).toBe(LARGE - 1);
    expect(pushAll([], new Set(['a', 'b']).values())).toEqual(['a', 'b']);
  });

  it('maxOf and minOf agree with Math.max and Math.min, including none and NaN', () => {
    const big = Array.from({ length: LARGE }, (_, i) => (i * 7919) % LARGE);
    expect(maxOf(big)).toBe(LARGE - 1);
    expect(minOf(big)).toBe(0);
    expect(maxOf([])).toBe(Math.max());
    expect(minOf([])).toBe(Math.min());
    expect(maxOf([1, NaN, 3])).toBeNaN();
    expect(
      minOf(
        new Map([
          [5, 'x'],
          [2, 'y'],
        ]).keys(),
      ),
    ).toBe(2);
  });
});
