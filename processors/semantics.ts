// What the numbers mean, where both sides need it: the processors (the write side) and the
// insights API's read-model queries (api/queries/) import these definitions from here, so a
// read never depends on a processor's internals. docs/semantics.md explains each rule.
import { DAY } from '../lib/time.js';

// ---------------------------------------------------------------- processors, by name

/** The processor names, as written to the watermarks, checkpoints and late-events tables. */
export const VIEW_COUNTS = 'view-counts';
export const ENGAGEMENT = 'engagement';
export const RAW_EVENTS = 'raw-events';
export const RECOMMENDATIONS = 'recommendations';
export const CATALOG = 'catalog';

// ---------------------------------------------------------------- finality

/**
 * A minute window of view-counts is final once that processor's watermark passed its end plus
 * this grace: later events for it are late events (docs/semantics.md, "Watermarks").
 */
export const WINDOW_GRACE_MS = 60_000;

/** Counts are final up to here: view-counts' lowest watermark over its partitions, minus the grace. */
export const finalizedThrough = (viewCountsWatermarkMs: number): number =>
  Math.max(0, viewCountsWatermarkMs - WINDOW_GRACE_MS);

// ---------------------------------------------------------------- recommendations, read time
// (the formulas are in processors/recommendations/score.ts)

/** Fewer co-viewers than this never make a pair visible, whatever a caller asks. */
export const PRIVACY_MIN_VIEWERS = 5;

export interface ReadOptions {
  /** The day the decay is measured from (YYYY-MM-DD, UTC); the last day read. */
  asOf: string;
  /** Days read, ending with asOf. */
  lookbackDays: number;
  /** A day this many days old weighs one half. */
  halfLifeDays: number;
  /** Minimum distinct co-viewers of a pair (k), at least PRIVACY_MIN_VIEWERS. */
  minViewers: number;
  limit: number;
}

export const DEFAULT_READ: Omit<ReadOptions, 'asOf'> = {
  lookbackDays: 90,
  halfLifeDays: 14,
  minViewers: PRIVACY_MIN_VIEWERS,
  limit: 10,
};

export interface RelatedVideo {
  video_id: string;
  score: number;
  /** distinct viewers who co-viewed the two videos in the period */
  support: number;
}

export interface RelatedCreator {
  creator_id: string;
  /** decayed share of this creator's viewers who co-viewed one of the other creator's videos */
  share: number;
  lift: number;
  support: number;
}

/** Day number (days since 1970-01-01) of a YYYY-MM-DD string. */
export const dayNumber = (day: string): number => Math.floor(Date.parse(`${day}T00:00:00Z`) / DAY);

/** The decay weight of a day `ageDays` old (future days weigh 1). */
export const decayWeight = (ageDays: number, halfLifeDays: number): number =>
  0.5 ** (Math.max(0, ageDays) / halfLifeDays);

export function validateReadOptions(o: ReadOptions): void {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(o.asOf) || !Number.isFinite(dayNumber(o.asOf)))
    throw new RangeError(`asOf must be a YYYY-MM-DD day, got ${o.asOf}`);
  const int = (name: string, x: number, min: number, max: number): void => {
    if (!Number.isSafeInteger(x) || x < min || x > max)
      throw new RangeError(`${name} must be a whole number in ${min}..${max}, got ${x}`);
  };
  int('lookbackDays', o.lookbackDays, 1, 3660);
  int('minViewers', o.minViewers, PRIVACY_MIN_VIEWERS, 1_000_000);
  int('limit', o.limit, 1, 1000);
  if (!(Number.isFinite(o.halfLifeDays) && o.halfLifeDays > 0 && o.halfLifeDays <= 3660))
    throw new RangeError(`halfLifeDays must be in (0, 3660], got ${o.halfLifeDays}`);
}
