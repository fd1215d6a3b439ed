// Token buckets per key — the collector's per-write-key limit and the insights API's
// per-token limit. Each bucket refills continuously at `perSecond` up to `burst` tokens; a
// request takes one. Memory is bounded: at most `maxKeys` buckets, the least recently used
// forgotten first (a forgotten key starts again with a full bucket).

export interface RateLimitOptions {
  /** tokens refilled per second */
  perSecond: number;
  /** bucket size */
  burst: number;
  /** most buckets remembered (default: no limit) */
  maxKeys?: number;
}

export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly maxKeys: number;

  constructor(
    private readonly opts: RateLimitOptions,
    private readonly now: () => number,
  ) {
    this.maxKeys = opts.maxKeys ?? Number.POSITIVE_INFINITY;
    if (!(opts.perSecond > 0) || !(opts.burst >= 1) || !(this.maxKeys >= 1)) {
      throw new RangeError('rate limit: perSecond > 0, burst ≥ 1 and maxKeys ≥ 1 are required');
    }
  }

  get size(): number {
    return this.buckets.size;
  }

  /** Takes a token for `key`: 0 when allowed, otherwise whole seconds until one is available (≥ 1). */
  take(key: string): number {
    const now = this.now();
    const b = this.buckets.get(key) ?? { tokens: this.opts.burst, at: now };
    this.buckets.delete(key); // re-inserted last: Map order is the LRU order
    b.tokens = Math.min(this.opts.burst, b.tokens + (Math.max(0, now - b.at) / 1000) * this.opts.perSecond);
    b.at = now;
    this.buckets.set(key, b);
    if (this.buckets.size > this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / this.opts.perSecond));
  }
}
