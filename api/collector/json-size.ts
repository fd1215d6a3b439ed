// The size of a parsed JSON value, measured without JSON.stringify: iterative (any nesting
// depth is safe — JSON.stringify would overflow the stack on a deeply nested value) and
// abandoned as soon as it passes the limit, so the work is bounded by the limit, not by
// the value.

/**
 * UTF-8 length of `JSON.stringify(value)` when it is at most `limit`; otherwise some number
 * greater than `limit`. `value` must be a parsed JSON value (no undefined, functions, cycles).
 */
export function jsonSizeUpTo(value: unknown, limit: number): number {
  let size = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v === null) size += 4;
    else if (typeof v === 'string') size += Buffer.byteLength(JSON.stringify(v));
    else if (typeof v === 'number') size += String(v).length;
    else if (typeof v === 'boolean') size += v ? 4 : 5;
    else if (Array.isArray(v)) {
      size += 2 + Math.max(0, v.length - 1); // brackets and commas
      for (let i = v.length - 1; i >= 0 && size <= limit; i--) stack.push(v[i]);
    } else if (typeof v === 'object') {
      const keys = Object.keys(v);
      size += 2 + Math.max(0, keys.length - 1);
      for (let i = keys.length - 1; i >= 0 && size <= limit; i--) {
        const k = keys[i]!;
        size += Buffer.byteLength(JSON.stringify(k)) + 1; // "key":
        stack.push((v as Record<string, unknown>)[k]);
      }
    }
    if (size > limit) return size;
  }
  return size;
}
