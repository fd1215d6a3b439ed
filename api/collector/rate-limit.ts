// Per-write-key rate limit: a token bucket per key, refilled continuously at `perSecond`
// and holding at most `burst` tokens; a request takes one. Buckets exist only for keys that
// passed the write-key check, so their number is bounded by the configured keys.

export interface RateLimitOptions {
  perSecond: number;
  burst: number;
  now: () => number;
}

export class KeyRateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly opts: RateLimitOptions) {}

  /** Takes a token for `key`: 0 when allowed, otherwise whole seconds until one is available (≥ 1). */
  take(key: string): number {
    const now = this.opts.now();
    const b = this.buckets.get(key) ?? { tokens: this.opts.burst, at: now };
    const elapsed = Math.max(0, now - b.at) / 1000;
    b.tokens = Math.min(this.opts.burst, b.tokens + elapsed * this.opts.perSecond);
    b.at = now;
    this.buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / this.opts.perSecond));
  }
}
