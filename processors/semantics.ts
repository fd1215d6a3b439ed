// What the numbers mean, where both sides need it: the processors (the write side) and the
// insights API's read-model queries (api/queries/) import these definitions from here, so a
// read never depends on a processor's internals. docs/semantics.md explains each rule.
import { DAY } from '../lib/time.js';
import { DEFAULT_RULE_PARAMETERS } from './parameters.js';

// ---------------------------------------------------------------- processors, by name

/** The processor names, as written to the watermarks, checkpoints and late-events tables. */
export const VIEW_COUNTS = 'view-counts';
export const ENGAGEMENT = 'engagement';
export const RAW_EVENTS = 'raw-events';
export const RECOMMENDATIONS = 'recommendations';
export const CATALOG = 'catalog';

// ---------------------------------------------------------------- finality

/**
 * The window grace view-counts runs with unless configured otherwise (rule parameter
 * windowGraceMs, processors/parameters.ts; the API takes the configured one from config.rules).
 */
export const DEFAULT_WINDOW_GRACE_MS = DEFAULT_RULE_PARAMETERS.windowGraceMs;

/**
 * Counts are final up to here: view-counts' lowest watermark over its partitions, minus the
 * window grace it runs with: a minute window is final once the watermark passed its end plus
 * the grace (docs/semantics.md, "Late events").
 */
export const finalizedThrough = (viewCountsWatermarkMs: number, windowGraceMs: number): number =>
  Math.max(0, viewCountsWatermarkMs - windowGraceMs);

// ---------------------------------------------------------------- engagement rollup

/** Percent viewed is summed as whole millionths of a view (exact integer sums, 2 decimals read). */
export const PERCENT_SCALE = 1_000_000;

/**
 * Startup times are counted in buckets, a mergeable histogram (summed with sumMap): whole
 * milliseconds below 128 ms, then buckets 1 % wide — so a quantile read from the sums is
 * within 1 % of a startup time that lies at the quantile's rank.
 */
export const STARTUP_EXACT_BELOW = 128;
const STARTUP_STEP = Math.log(1.01);
export const startupBucket = (ms: number): number =>
  ms < STARTUP_EXACT_BELOW
    ? Math.max(0, Math.floor(ms))
    : STARTUP_EXACT_BELOW + Math.floor(Math.log(ms / STARTUP_EXACT_BELOW) / STARTUP_STEP);
/** The value a bucket stands for: its ms, or the geometric middle of a 1 % bucket. */
export const startupOfBucket = (b: number): number =>
  b < STARTUP_EXACT_BELOW
    ? b
    : Math.round(STARTUP_EXACT_BELOW * Math.exp((b - STARTUP_EXACT_BELOW + 0.5) * STARTUP_STEP));

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
