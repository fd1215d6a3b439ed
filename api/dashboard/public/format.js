// Number, duration and date formatting for the dashboard (the browser's locale).

const int = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const compact = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });
const pct1 = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1, minimumFractionDigits: 1 });

export const isNum = (x) => typeof x === 'number' && Number.isFinite(x);

export const count = (n) => (isNum(n) ? int.format(n) : '—');

export const short = (n) => (isNum(n) ? (Math.abs(n) >= 10_000 ? compact.format(n) : int.format(n)) : '—');

/** 0..100 → "42.0 %" */
export const percent = (n) => (isNum(n) ? `${pct1.format(n)} %` : '—');

/** 0..1 → "42.0 %" */
export const ratio = (r) => (isNum(r) ? percent(r * 100) : '—');

/** ms → "3:07" (under an hour), "1:02:07" (hours) */
export function duration(ms) {
  if (!isNum(ms)) return '—';
  const s = Math.round(ms / 1000);
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return hh ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

/**
 * A lag for people: "12 s", "28 min", "3 h 5 min", "2 d 4 h", rounded to the last unit shown
 * (the rule of lib/durations.ts, which `viewpulse status` uses).
 */
export function elapsed(ms) {
  if (!isNum(ms)) return '—';
  const S = 1000;
  const MIN = 60 * S;
  const H = 60 * MIN;
  const D = 24 * H;
  const two = (big, bigName, small, smallName) => {
    const smalls = Math.round(ms / small);
    const b = Math.floor(smalls / (big / small));
    const rest = smalls - b * (big / small);
    return rest === 0 ? `${b} ${bigName}` : `${b} ${bigName} ${rest} ${smallName}`;
  };
  if (ms < MIN - S / 2) return `${Math.round(ms / S)} s`;
  if (ms < H - MIN / 2) return `${Math.round(ms / MIN)} min`;
  if (ms < D - H / 2) return two(H, 'h', MIN, 'min');
  return two(D, 'd', H, 'h');
}

/** ms → "12.3 h" / "45 min" (watch time totals) */
export function hours(ms) {
  if (!isNum(ms)) return '—';
  const h = ms / 3_600_000;
  if (h >= 1) return `${h >= 100 ? int.format(h) : pct1.format(h)} h`;
  return `${int.format(ms / 60_000)} min`;
}

/** Signed change in percent: "+12.5 %", "−3.0 %", "new" when there was nothing before. */
export function change(p) {
  if (p === null || p === undefined) return 'new';
  if (!isNum(p)) return '—';
  const sign = p > 0 ? '+' : p < 0 ? '−' : '±';
  return `${sign}${pct1.format(Math.abs(p))} %`;
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });

/** epoch ms, seconds or an ISO string → Date */
export function toDate(t) {
  if (t instanceof Date) return t;
  if (isNum(t)) return new Date(t < 1e11 ? t * 1000 : t);
  if (typeof t === 'string') {
    const d = new Date(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}/.test(t) ? `${t.replace(' ', 'T')}Z` : t);
    return Number.isNaN(d.getTime()) ? undefined : d;
  }
  return undefined;
}

export function when(t) {
  const d = toDate(t);
  return d ? dateTime.format(d) : '—';
}

export function day(t) {
  const d = toDate(t);
  return d ? dateOnly.format(d) : '—';
}

/** Field names of the API (snake_case) → labels. */
export const LABELS = {
  plays: 'Plays',
  views: 'Views',
  watch_time_ms: 'Watch time',
  average_view_duration_ms: 'Average view duration',
  average_percentage_viewed: 'Average percentage viewed',
  unique_viewers: 'Unique viewers',
  completion_rate: 'Completion rate',
  country: 'Country',
  device: 'Device',
  traffic_source: 'Traffic source',
  os: 'Operating system',
  // traffic sources
  search: 'Search',
  suggested: 'Suggested videos',
  browse: 'Browse features',
  external: 'External',
  direct: 'Direct or unknown',
  notification: 'Notifications',
  playlist: 'Playlists',
  // devices
  desktop: 'Desktop',
  mobile: 'Mobile phone',
  tablet: 'Tablet',
  tv: 'TV',
  console: 'Game console',
  other: 'Other',
};

/** A label for an API key or value: known ones by name, others with the first letter capitalised. */
export function label(key) {
  const k = String(key);
  if (Object.hasOwn(LABELS, k)) return LABELS[k];
  const text = k.replaceAll('_', ' ');
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** The right formatter for a metric's value. */
export function metric(key, value) {
  if (key.endsWith('_ms')) return key === 'watch_time_ms' ? hours(value) : duration(value);
  if (key === 'completion_rate') return value !== undefined && value <= 1 ? ratio(value) : percent(value);
  if (key.startsWith('average_percentage') || key.endsWith('_percent') || key.endsWith('_pct')) return percent(value);
  return count(value);
}
