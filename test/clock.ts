// The "now" that generated test traffic ends at (the generator's default start is derived
// from it), pinned so that a run sees the same hours of the day whenever it runs: the wall
// clock's hour otherwise decides which day and zone boundaries fall inside the data.
//
//   VIEWPULSE_TEST_NOW=2026-11-30T08:50:00Z   an ISO 8601 date-time with Z or an offset
//   VIEWPULSE_TEST_NOW=1795942200000          epoch milliseconds
//   VIEWPULSE_TEST_NOW=08:50                  that UTC time of day on yesterday's UTC date
//   (unset)                                   DEFAULT_TEST_TIME on yesterday's UTC date
//
// Yesterday, because the real collector judges event times against its real receive time: an
// event more than 5 s ahead of it is clamped (the truth would no longer hold) and one older
// than the 7-day horizon is refused. Yesterday at any time of day is in the past, and the
// oldest data a test generates (a 3-day span and the 4 h tail before now) stays well inside
// the horizon. A pinned now outside [wall clock − 3 days, wall clock] is refused.
const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

/**
 * The default time of day (UTC). With the generator's default span (1 h for up to 360,000
 * records) the traffic then runs from 01:00 to about 03:00 UTC; the insights API test spreads
 * its traffic over 4 h, 22:00 to about 03:00, across UTC midnight and the local midnights of
 * a zone east of UTC (Etc/GMT-1: 23:00 UTC) and one west of it (Etc/GMT+1: 01:00 UTC).
 */
export const DEFAULT_TEST_TIME = '06:00';
/** How far back a pinned now may be. */
export const MAX_TEST_NOW_AGE_MS = 3 * DAY;

/** `HH:MM[:SS]` (UTC) on the UTC day before `wallClock`. */
function yesterdayAt(time: string, wallClock: number): number | undefined {
  const m = /^([01][0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9]))?$/.exec(time);
  if (!m) return undefined;
  const day = Math.floor(wallClock / DAY) * DAY - DAY;
  return day + Number(m[1]) * HOUR + Number(m[2]) * MINUTE + Number(m[3] ?? 0) * 1000;
}

/** VIEWPULSE_TEST_NOW (or the default) as epoch ms; throws on a value it cannot use. */
export function testNow(env: NodeJS.ProcessEnv = process.env, wallClock: number = Date.now()): number {
  const raw = env.VIEWPULSE_TEST_NOW?.trim() || DEFAULT_TEST_TIME;
  let t: number | undefined;
  if (/^[0-9]{12,}$/.test(raw)) t = Number(raw);
  else if (/^[0-9]{2}:[0-9]{2}/.test(raw)) t = yesterdayAt(raw, wallClock);
  // a date-time without Z or an offset would be read in the local time zone: refused
  else if (/^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(Z|[+-][0-9]{2}:[0-9]{2})$/.test(raw)) t = Date.parse(raw);
  if (t === undefined || !Number.isFinite(t)) {
    throw new Error(
      `VIEWPULSE_TEST_NOW=${JSON.stringify(raw)}: expected an ISO 8601 date-time with Z or an offset, epoch ms, or HH:MM (UTC, yesterday)`,
    );
  }
  if (t > wallClock || t < wallClock - MAX_TEST_NOW_AGE_MS) {
    throw new Error(
      `VIEWPULSE_TEST_NOW=${JSON.stringify(raw)} is ${new Date(t).toISOString()}: it must be in the past and at most ` +
        `${MAX_TEST_NOW_AGE_MS / DAY} days ago (the collector clamps future events and refuses ones older than 7 days)`,
    );
  }
  return t;
}
