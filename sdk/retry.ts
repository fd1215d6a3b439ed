// Retry timing for the player SDK: full-jitter exponential backoff and Retry-After parsing.
// Pure functions, no timers, so the numbers are easy to pin down in tests.

/**
 * Full jitter (AWS Architecture Blog, "Exponential Backoff and Jitter"): the delay before
 * retry number `attempt` (1-based) is a uniform draw in [0, ceiling), where the ceiling
 * doubles per attempt from `baseMs` and never exceeds `maxMs`.
 */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number): number {
  const ceiling = backoffCeiling(attempt, baseMs, maxMs);
  const r = Math.min(Math.max(random(), 0), 1 - Number.EPSILON); // a misbehaving random stays in bounds
  return Math.floor(r * ceiling);
}

/** The upper bound (exclusive) of the jittered delay before retry number `attempt`. */
export function backoffCeiling(attempt: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
}

/**
 * A `Retry-After` header as milliseconds from `nowMs`: delta-seconds ("120") or an
 * HTTP-date. Undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.ceil(Number(v) * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}
