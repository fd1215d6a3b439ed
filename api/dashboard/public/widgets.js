// What the dashboard's pages share: the period and time zone the visitor chose, readers of the
// insights API's JSON shapes (/docs), and small renderers (tiles, tables, selects, share bars).
/* global sessionStorage */
import { enc } from './api.js';
import { h, nextId } from './dom.js';
import { change, count, isNum, label, metric, toDate } from './format.js';

const DAY_MS = 86_400_000;
export const HOUR_MS = 3_600_000;

export const OVERVIEW_METRICS = [
  'views',
  'plays',
  'watch_time_ms',
  'unique_viewers',
  'average_view_duration_ms',
  'average_percentage_viewed',
  'completion_rate',
];
export const SERIES_METRICS = ['views', 'plays', 'watch_time_ms', 'unique_viewers'];
export const VIDEO_SORTS = [
  ['views', 'Views'],
  ['watch_time_ms', 'Watch time'],
  ['plays', 'Plays'],
];
const PERIODS = [
  ['7', 'Last 7 days'],
  ['28', 'Last 28 days'],
  ['90', 'Last 90 days'],
];
export const DIMENSIONS = ['country', 'device', 'traffic_source', 'os'];
/** The minute series covers the last few hours only (at most 10,000 points per request). */
export const MINUTE_SERIES_HOURS = 6;

// ---- shared state: the period and the browser's time zone ------------------------------------

const PERIOD_KEY = 'viewpulse.period';
export const tz = (() => {
  try {
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    return /^[A-Za-z0-9_+\-/]{1,64}$/.test(zone) ? zone : 'UTC';
  } catch {
    return 'UTC';
  }
})();

export function periodDays() {
  const d = Number(sessionStorage.getItem(PERIOD_KEY) ?? 7);
  return PERIODS.some(([v]) => Number(v) === d) ? d : 7;
}

export const sinceIso = (ms) => new Date(Math.floor((Date.now() - ms) / 60_000) * 60_000).toISOString();

/** from/tz of the current period (to is the API's default: now). */
export const periodParams = () => ({ from: sinceIso(periodDays() * DAY_MS), tz });

export const periodText = () => PERIODS.find(([v]) => Number(v) === periodDays())?.[1] ?? 'Last 7 days';

export function periodSelect(onChange) {
  return select('Period', PERIODS, String(periodDays()), (v) => {
    sessionStorage.setItem(PERIOD_KEY, v);
    onChange();
  });
}

// ---- reading the API's shapes ---------------------------------------------------------------

export const num = (x) => (x === null || x === undefined || x === '' ? undefined : Number(x));

/** [{ t: epoch seconds, v }] of a list of { time, [key] } points, oldest first. */
export function points(list, key) {
  if (!Array.isArray(list)) return [];
  return list
    .map((p) => ({ t: Math.floor((toDate(p.time)?.getTime() ?? NaN) / 1000), v: num(p[key]) ?? 0 }))
    .filter((p) => Number.isFinite(p.t))
    .sort((a, b) => a.t - b.t);
}

export const videoHref = (id) => `#/videos/${enc(id)}`;
export const creatorHref = (id) => `#/creators/${enc(id)}`;
export const titleOf = (v) => v?.title || v?.video_id || '(untitled)';
export const views = (n) => `${count(num(n))} ${num(n) === 1 ? 'view' : 'views'}`;
export const sum = (ps) => ps.reduce((n, p) => n + (p.v ?? 0), 0);

// ---- small renderers ------------------------------------------------------------------------

/** A list of metric tiles; `compare` adds the change against the previous period. */
export function tiles(entries, compare) {
  return h(
    'dl',
    { class: 'tiles' },
    entries.map(({ key, value, previous, change_percent: ch }) => {
      const dir = !isNum(ch) ? 'flat' : ch > 0 ? 'up' : ch < 0 ? 'down' : 'flat';
      return h(
        'div',
        { class: 'tile', dataset: { metric: key, value: isNum(value) ? String(value) : '' } },
        h('dt', {}, label(key)),
        h('dd', { class: 'value' }, metric(key, value)),
        compare
          ? h(
              'dd',
              { class: `change ${dir}`, dataset: { change: isNum(ch) ? String(ch) : '' } },
              h('span', { 'aria-hidden': 'true' }, dir === 'up' ? '▲ ' : dir === 'down' ? '▼ ' : ''),
              isNum(ch) ? change(ch) : previous === 0 && value > 0 ? 'new' : '—',
              h('span', { class: 'visually-hidden' }, ` ${compare}`),
              isNum(previous) ? h('span', { class: 'previous' }, ` · was ${metric(key, previous)}`) : null,
            )
          : null,
      );
    }),
  );
}

export function select(labelText, options, value, onChange) {
  const id = nextId('sel');
  const el = h(
    'select',
    { id, onChange: (e) => onChange(e.target.value) },
    options.map(([v, text]) => h('option', { value: v, selected: v === value }, text)),
  );
  return h('label', { for: id }, labelText, el);
}

export function table({ caption, columns, rows, onRow }) {
  return h(
    'table',
    {},
    caption ? h('caption', {}, caption) : null,
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        columns.map((c) => h('th', { scope: 'col', class: c.num ? 'num' : c.cls }, c.label)),
      ),
    ),
    h(
      'tbody',
      {},
      rows.map((r) =>
        h(
          'tr',
          {
            class: onRow ? 'clickable' : undefined,
            // Rows are clickable for the mouse; the link in the first cell is the keyboard path.
            onClick: onRow ? (e) => (e.target.closest('a') ? undefined : onRow(r)) : undefined,
          },
          columns.map((c, i) =>
            h(i === 0 ? 'th' : 'td', { scope: i === 0 ? 'row' : undefined, class: c.num ? 'num' : c.cls }, c.cell(r)),
          ),
        ),
      ),
    ),
  );
}

/** A share bar (0..100); its width is set through the CSSOM (the page's CSP allows no style attributes). */
export function shareBar(share) {
  const el = h('span', { class: 'bar', 'aria-hidden': 'true' });
  el.style.width = `${Math.max(0, Math.min(100, isNum(share) ? share : 0))}%`;
  return el;
}
