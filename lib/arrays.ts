// Array helpers for data paths. `list.push(...rows)` and `Math.max(...xs)` pass every element
// as a call argument, and V8 overflows its stack somewhere past ~100k of them ("Maximum call
// stack size exceeded"): a backlog drain is exactly that large. These loop instead.

/** Appends every item of `items` to `target` and returns `target`. */
export function pushAll<T>(target: T[], items: Iterable<T>): T[] {
  for (const item of items) target.push(item);
  return target;
}

/** The largest number, or -Infinity for none (as Math.max() with no arguments). */
export function maxOf(values: Iterable<number>): number {
  let max = -Infinity;
  for (const x of values) if (x > max || Number.isNaN(x)) max = x;
  return max;
}

/** The smallest number, or Infinity for none (as Math.min() with no arguments). */
export function minOf(values: Iterable<number>): number {
  let min = Infinity;
  for (const x of values) if (x < min || Number.isNaN(x)) min = x;
  return min;
}
