// Time ranges, time zones and buckets for the insights API: pure arithmetic, no I/O.
//
// Every range is half-open, [from, to), in epoch ms, and whole minutes (the finest grain the
// counts exist at). Buckets of a series (minute, hour, day) are cut in the caller's IANA time
// zone: a day bucket runs from local midnight to the next one (23, 24 or 25 hours across a
// DST change), an hour bucket from one local hour to the next (in zones whose offset is not a
// whole number of hours, local hours start at :30 or :45 UTC). The first and last bucket are
// clipped to the range.

import { maxOf, minOf } from '../../lib/arrays.js';
import { MINUTE, HOUR, DAY } from '../../lib/time.js';

export type Interval = 'minute' | 'hour' | 'day';
export const INTERVALS: readonly Interval[] = ['minute', 'hour', 'day'];

/** Windows of the counts table, coarsest last. */
export type Grain = 'minute' | 'hour' | 'day';
export const GRAIN_MS: Record<Grain, number> = { minute: MINUTE, hour: HOUR, day: DAY };

export interface Range {
  from: number;
  to: number;
}

export const floorTo = (t: number, step: number): number => Math.floor(t / step) * step;
export const ceilTo = (t: number, step: number): number => Math.ceil(t / step) * step;

/** Earliest and latest instants the API accepts (ClickHouse DateTime and the pipeline's own bounds). */
export const MIN_TIME_MS = Date.UTC(2000, 0, 1);
export const MAX_TIME_MS = Date.UTC(2100, 0, 1);

// ---------------------------------------------------------------------------- time zones

const formatters = new Map<string, Intl.DateTimeFormat>();

/** True for a time zone the runtime knows (IANA names such as "Europe/Berlin", and "UTC"). */
export function isTimeZone(tz: string): boolean {
  if (typeof tz !== 'string' || tz.length === 0 || tz.length > 64 || !/^[A-Za-z0-9_+\-/]+$/.test(tz)) return false;
  try {
    formatter(tz);
    return true;
  } catch {
    return false;
  }
}

function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    if (formatters.size > 1000) formatters.clear();
    formatters.set(tz, f);
  }
  return f;
}

export interface LocalTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

/** The wall-clock time at instant `t` in `tz`. */
export function localTime(t: number, tz: string): LocalTime {
  const out: LocalTime = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0 };
  for (const p of formatter(tz).formatToParts(new Date(t))) {
    if (p.type in out) out[p.type as keyof LocalTime] = Number(p.value);
  }
  return out;
}

/** Offset of `tz` from UTC at instant `t`, in ms (east positive), to the second. */
export function offsetAt(t: number, tz: string): number {
  const l = localTime(t, tz);
  const asUtc = Date.UTC(l.year, l.month - 1, l.day, l.hour, l.minute, l.second);
  return asUtc - floorTo(t, 1000);
}

/**
 * The instant of a wall-clock time in `tz`. In a DST gap (the wall time does not exist) it
 * answers the first instant after the gap; in an overlap, the earlier of the two.
 */
export function zonedInstant(tz: string, year: number, month: number, day: number, hour = 0, minute = 0): number {
  const wall = Date.UTC(year, month - 1, day, hour, minute);
  // Two offsets can apply near a transition: try both, keep those that round-trip.
  const candidates = new Set([wall - offsetAt(wall - DAY / 2, tz), wall - offsetAt(wall + DAY / 2, tz)]);
  const exact = [...candidates].filter((t) => wallOf(t, tz) === wall).sort((a, b) => a - b);
  if (exact.length > 0) return exact[0]!;
  // A gap: the first instant whose wall time is at or after the requested one.
  let lo = minOf(candidates) - 3 * HOUR;
  let hi = maxOf(candidates) + 3 * HOUR;
  while (hi - lo > MINUTE) {
    const mid = floorTo((lo + hi) / 2, MINUTE);
    if (wallOf(mid, tz) >= wall) hi = mid;
    else lo = mid;
  }
  return hi;
}

function wallOf(t: number, tz: string): number {
  return floorTo(t, 1000) + offsetAt(t, tz);
}

/** Start of the local day (in `tz`) containing `t`. */
export function startOfDay(t: number, tz: string): number {
  const l = localTime(t, tz);
  const s = zonedInstant(tz, l.year, l.month, l.day);
  // zonedInstant of a gap at midnight answers the end of the gap, which is ≤ t here.
  return s <= t ? s : zonedInstant(tz, l.year, l.month, l.day - 1);
}

/** Start of the local hour (in `tz`) containing `t`. */
export function startOfHour(t: number, tz: string): number {
  const l = localTime(t, tz);
  return floorTo(t, 1000) - (l.minute * 60 + l.second) * 1000;
}

/** Start of the bucket of `interval` (in `tz`) containing `t`. */
export function bucketStart(t: number, interval: Interval, tz: string): number {
  if (interval === 'minute') return floorTo(t, MINUTE);
  return interval === 'hour' ? startOfHour(t, tz) : startOfDay(t, tz);
}

/** The bucket after the one starting at `start`. */
function nextBucket(start: number, interval: Interval, tz: string): number {
  let next: number;
  if (interval === 'minute') next = start + MINUTE;
  else if (interval === 'hour') next = startOfHour(start + HOUR + MINUTE / 2, tz);
  else next = startOfDay(start + DAY + HOUR, tz);
  // Never loop: every bucket is at least a minute long, and never longer than 26 hours.
  return next > start ? next : start + GRAIN_MS[interval];
}

/**
 * The bucket boundaries of `range`: [from, b1, b2, ..., to]; bucket i is [b_i, b_i+1). The first
 * and last bucket are clipped to the range. Throws RangeError when there would be more than
 * `maxBuckets`.
 */
export function bucketBoundaries(range: Range, interval: Interval, tz: string, maxBuckets: number): number[] {
  const out = [range.from];
  let b = bucketStart(range.from, interval, tz);
  for (;;) {
    b = nextBucket(b, interval, tz);
    if (b >= range.to) break;
    out.push(b);
    if (out.length > maxBuckets) throw new RangeError(`more than ${maxBuckets} ${interval} buckets`);
  }
  out.push(range.to);
  return out;
}

/** Index of the bucket containing `t` (boundaries from bucketBoundaries; t below the first → 0). */
export function bucketIndex(boundaries: readonly number[], t: number): number {
  let lo = 0;
  let hi = boundaries.length - 2;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (boundaries[mid]! <= t) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

// ---------------------------------------------------------------------------- grains

export interface Segment {
  grain: Grain;
  from: number;
  to: number;
}

/**
 * [from, to) as windows of the counts table, coarsest where they fit: minutes up to the first
 * whole UTC hour, hours up to the first whole UTC day, days, then hours and minutes again.
 * Every minute of the range is covered exactly once, so sums over the segments are exact and
 * read at most 2 × 59 minute rows and 2 × 23 hour rows besides the day rows.
 */
export function segments(range: Range): Segment[] {
  const { from, to } = range;
  const out: Segment[] = [];
  const push = (grain: Grain, a: number, b: number): void => {
    if (a < b) out.push({ grain, from: a, to: b });
  };
  const h1 = ceilTo(from, HOUR);
  const h2 = floorTo(to, HOUR);
  if (h1 >= h2) {
    push('minute', from, to);
    return out;
  }
  push('minute', from, h1);
  const d1 = ceilTo(h1, DAY);
  const d2 = floorTo(h2, DAY);
  if (d1 >= d2) push('hour', h1, h2);
  else {
    push('hour', h1, d1);
    push('day', d1, d2);
    push('hour', d2, h2);
  }
  push('minute', h2, to);
  return out;
}

/** Weeks of the weekly uniq states: ClickHouse's toMonday, Monday 00:00 UTC (1970-01-05 was one). */
export const WEEK = 7 * DAY;
const MONDAY = 4 * DAY;
export const floorToWeek = (t: number): number => floorTo(t - MONDAY, WEEK) + MONDAY;
export const ceilToWeek = (t: number): number => ceilTo(t - MONDAY, WEEK) + MONDAY;

/**
 * Whole UTC days [d1, d2) as the windows of the uniq states, coarsest where they fit: days up to
 * the first Monday, whole weeks, days after the last Monday (at most 2 × 6 days besides the
 * weeks). Without a whole week inside, just the days. Empty parts are left out.
 */
export function daysAndWeeks(d1: number, d2: number): { days: Range[]; weeks: Range | null } {
  const w1 = ceilToWeek(d1);
  const w2 = floorToWeek(d2);
  if (w1 >= w2) return { days: d1 < d2 ? [{ from: d1, to: d2 }] : [], weeks: null };
  const days = [
    { from: d1, to: w1 },
    { from: w2, to: d2 },
  ].filter((r) => r.from < r.to);
  return { days, weeks: { from: w1, to: w2 } };
}

/**
 * segments() with the day segment's whole weeks taken out (for tables with a weekly sibling):
 * the minute, hour and day segments, still ascending, and the weeks between, which cover the
 * range exactly once.
 */
export function segmentsAndWeeks(range: Range): { segments: Segment[]; weeks: Range | null } {
  const out: Segment[] = [];
  let weeks: Range | null = null;
  for (const s of segments(range)) {
    if (s.grain !== 'day') {
      out.push(s);
      continue;
    }
    const split = daysAndWeeks(s.from, s.to);
    weeks = split.weeks;
    for (const d of split.days) out.push({ grain: 'day', from: d.from, to: d.to });
  }
  return { segments: out, weeks };
}

const gcd = (a: number, b: number): number => {
  while (b) [a, b] = [b, a % b];
  return a;
};

/**
 * How to read the inner buckets of a series: the largest unit (seconds) that divides every inner
 * boundary and a day, and the coarsest counts grain that unit is a multiple of. Rows grouped by
 * that unit never straddle a bucket boundary.
 */
export function innerUnit(innerBoundaries: readonly number[]): { unitSeconds: number; grain: Grain } {
  let g = DAY / 1000;
  for (const b of innerBoundaries) g = gcd(g, Math.floor(b / 1000));
  // Boundaries are whole minutes, so g is a multiple of 60.
  const grain: Grain = g % 86_400 === 0 ? 'day' : g % 3_600 === 0 ? 'hour' : 'minute';
  return { unitSeconds: g, grain };
}

// ---------------------------------------------------------------------------- parsing

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})$/;

const daysInMonth = (y: number, m: number): number => new Date(Date.UTC(y, m, 0)).getUTCDate();

/**
 * An ISO 8601 instant: a date-time with its offset (`2026-11-20T10:00:00Z`,
 * `2026-11-20T11:00+01:00`), or a bare date (`2026-11-20`), meaning local midnight in `tz`.
 * Throws RangeError with a message for the caller.
 */
export function parseInstant(text: string, tz: string): number {
  if (typeof text !== 'string' || text.length > 40) throw new RangeError('expected an ISO 8601 date or date-time');
  const d = DATE_RE.exec(text);
  const dt = d ? null : DATE_TIME_RE.exec(text);
  const m = d ?? dt;
  if (!m) {
    throw new RangeError(
      'expected an ISO 8601 date (2026-11-20) or date-time with an offset (2026-11-20T10:00:00Z, 2026-11-20T11:00:00+01:00)',
    );
  }
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) throw new RangeError('no such date');
  let t: number;
  if (d) t = zonedInstant(tz, year, month, day);
  else {
    const [hour, minute, second] = [Number(dt![4]), Number(dt![5]), Number(dt![6] ?? 0)];
    if (hour > 23 || minute > 59 || second > 59) throw new RangeError('no such time of day');
    const frac = dt![7] ? Number(`0.${dt![7]}`) * 1000 : 0;
    const zone = dt![8]!;
    let offset = 0;
    if (zone !== 'Z') {
      const oh = Number(zone.slice(1, 3));
      const om = Number(zone.slice(4, 6));
      if (oh > 23 || om > 59) throw new RangeError('no such offset');
      offset = (zone[0] === '-' ? -1 : 1) * (oh * 60 + om) * MINUTE;
    }
    t = Date.UTC(year, month - 1, day, hour, minute, second) + Math.floor(frac) - offset;
  }
  if (!(t >= MIN_TIME_MS && t <= MAX_TIME_MS)) throw new RangeError('must lie between 2000-01-01 and 2100-01-01');
  return t;
}

export const iso = (t: number): string => new Date(t).toISOString();
