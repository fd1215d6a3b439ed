// The from/to/tz parameters of the insights routes: parsing, limits, buckets.
import {
  bucketBoundaries,
  floorTo,
  type Interval,
  iso,
  isTimeZone,
  parseInstant,
  type Range,
} from '../queries/range.js';
import { DEFAULT_RANGE_DAYS, MAX_RANGE_DAYS } from '../route-schemas.js';
import { badRequest } from './context.js';
import { DAY, MINUTE } from '../../lib/time.js';

// ---------------------------------------------------------------------------- ranges

export interface RangeQuery {
  from?: string;
  to?: string;
  tz?: string;
}

export interface ParsedRange {
  range: Range;
  tz: string;
}

export function parseTz(tz: string | undefined): string {
  const zone = tz ?? 'UTC';
  if (!isTimeZone(zone)) throw badRequest(`tz: unknown time zone ${JSON.stringify(zone.slice(0, 64))}`);
  return zone;
}

/**
 * from/to/tz → a validated range of whole minutes: to > from, at most MAX_RANGE_DAYS. Defaults:
 * to = now (the current minute included), from = DEFAULT_RANGE_DAYS before to.
 */
export function parseRange(q: RangeQuery, now: number, maxDays = MAX_RANGE_DAYS): ParsedRange {
  const tz = parseTz(q.tz);
  const instant = (name: 'from' | 'to', text: string): number => {
    try {
      return floorTo(parseInstant(text, tz), MINUTE);
    } catch (err) {
      throw badRequest(`${name}: ${(err as Error).message}`);
    }
  };
  const to = q.to === undefined ? floorTo(now, MINUTE) + MINUTE : instant('to', q.to);
  const from = q.from === undefined ? to - DEFAULT_RANGE_DAYS * DAY : instant('from', q.from);
  if (to <= from) throw badRequest('to must be at least a minute after from');
  if (to - from > maxDays * DAY) throw badRequest(`the range may span at most ${maxDays} days`);
  return { range: { from, to }, tz };
}

export const rangeJson = (p: ParsedRange): { from: string; to: string; tz: string } => ({
  from: iso(p.range.from),
  to: iso(p.range.to),
  tz: p.tz,
});

/** The previous period of equal length, right before `r`. */
export const previousOf = (r: Range): Range => ({ from: r.from - (r.to - r.from), to: r.from });

/** The bucket boundaries of a series, or a 400 when there are too many. */
export function boundariesOf(p: ParsedRange, interval: Interval, max: number): number[] {
  try {
    return bucketBoundaries(p.range, interval, p.tz, max);
  } catch {
    throw badRequest(`too many points: at most ${max} ${interval} buckets; shorten the range or widen the interval`, {
      max_points: max,
    });
  }
}
