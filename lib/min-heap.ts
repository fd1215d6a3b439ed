// A binary min-heap of numbers: what a queue of due times needs (the earliest, in O(log n)),
// so a close finds what is due without visiting every time that is not.

export class MinHeap {
  private readonly xs: number[] = [];

  get size(): number {
    return this.xs.length;
  }

  /** The smallest number, or undefined when empty. */
  peek(): number | undefined {
    return this.xs[0];
  }

  push(x: number): void {
    const xs = this.xs;
    let i = xs.length;
    xs.push(x);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (xs[parent]! <= x) break;
      xs[i] = xs[parent]!;
      i = parent;
    }
    xs[i] = x;
  }

  /** Removes and returns the smallest number (undefined when empty). */
  pop(): number | undefined {
    const xs = this.xs;
    if (xs.length === 0) return undefined;
    const top = xs[0]!;
    const last = xs.pop()!;
    const n = xs.length;
    if (n === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && xs[r]! < xs[l]! ? r : l;
      if (xs[c]! >= last) break;
      xs[i] = xs[c]!;
      i = c;
    }
    xs[i] = last;
    return top;
  }
}
