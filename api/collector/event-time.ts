// Event time, exactly per docs/semantics.md rule 3: a request's clock skew moves all its
// events by whole seconds, then an event too far in the future is rejected or clamped and
// one older than the horizon is rejected.

/** Below this |skew| nothing moves: it is network latency, not a wrong clock. */
export const SKEW_THRESHOLD_MS = 2_000;
/** After correction, more than this after received_at: rejected (`future_event_time`). */
export const FUTURE_REJECT_MS = 24 * 3_600_000;
/** After correction, more than this after received_at: clamped to received_at. */
export const FUTURE_CLAMP_MS = 5_000;
/** Default horizon: older than this before received_at is rejected (`event_too_old`). */
export const DEFAULT_HORIZON_MS = 7 * 24 * 3_600_000;

export type EventTimeRejection = 'future_event_time' | 'event_too_old';

export type EventTimeResult =
  { ok: true; eventTime: number; clamped: boolean } | { ok: false; reason: EventTimeRejection };

/**
 * What every event of a request is moved by: `skew = receivedAt - sentAt`; 0 when
 * |skew| < 2000 ms, otherwise skew rounded to whole seconds, halves away from zero
 * (so +2500 → +3000 and -2500 → -3000; the rule is symmetric in the sign of the skew).
 */
export function skewOffsetMs(sentAt: number, receivedAt: number): number {
  const skew = receivedAt - sentAt;
  if (Math.abs(skew) < SKEW_THRESHOLD_MS) return 0;
  return Math.sign(skew) * Math.round(Math.abs(skew) / 1000) * 1000;
}

/** The event's corrected time, or why it is rejected. */
export function correctEventTime(
  eventTime: number,
  offsetMs: number,
  receivedAt: number,
  horizonMs: number = DEFAULT_HORIZON_MS,
): EventTimeResult {
  const t = eventTime + offsetMs;
  if (t - receivedAt > FUTURE_REJECT_MS) return { ok: false, reason: 'future_event_time' };
  if (t - receivedAt > FUTURE_CLAMP_MS) return { ok: true, eventTime: receivedAt, clamped: true };
  if (receivedAt - t > horizonMs) return { ok: false, reason: 'event_too_old' };
  return { ok: true, eventTime: t, clamped: false };
}

/**
 * `sent_at` or `event_time` as epoch milliseconds (an integer, or an RFC 3339 string, finer
 * than milliseconds truncated); undefined when unusable (before 1970, or not a real date).
 */
export function timeMs(t: number | string): number | undefined {
  const ms = typeof t === 'number' ? t : Date.parse(t);
  return Number.isFinite(ms) && ms >= 0 ? ms : undefined;
}
