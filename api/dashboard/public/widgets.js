// What the dashboard's pages share: the period and time zone the visitor chose, readers of the
// insights API's JSON shapes (/docs), and small renderers (tiles, tables, selects, share bars).
/* global sessionStorage */
import { enc } from './api.js';
import { empty, h, nextId } from './dom.js';
import { change, count, duration, elapsed, isNum, label, metric, ratio, toDate, when } from './format.js';

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

// ---- QoE and data health --------------------------------------------------------------------

/** One tile of text: `key` names it for tests (data-metric), `value` is the raw number. */
function textTile(key, title, text, value, hint) {
  return h(
    'div',
    { class: 'tile', dataset: { metric: key, value: isNum(value) ? String(value) : '' } },
    h('dt', {}, title),
    h('dd', { class: 'value' }, text),
    hint ? h('dd', { class: 'change flat' }, hint) : null,
  );
}

const ms = (x) => (isNum(x) ? `${count(x)} ms` : '—');

/** The QoE panel of /v1/creators/:id/qoe or /v1/videos/:id/qoe (its `totals`). */
export function qoeTiles(r) {
  const t = r?.totals ?? {};
  if (!num(t.plays)) return empty('No plays in this period.');
  return h(
    'div',
    {},
    h(
      'dl',
      { class: 'tiles', id: 'qoe-tiles' },
      textTile('plays', 'Plays', count(t.plays), t.plays, `${count(t.startup_measured)} with a startup time`),
      textTile('startup_ms_p50', 'Startup time, median', ms(t.startup_ms_p50), t.startup_ms_p50, 'estimate'),
      textTile('startup_ms_p95', 'Startup time, 95th pct', ms(t.startup_ms_p95), t.startup_ms_p95, 'estimate'),
      textTile(
        'rebuffering_ratio',
        'Rebuffering ratio',
        ratio(t.rebuffering_ratio),
        t.rebuffering_ratio,
        `${duration(t.rebuffer_ms)} stalled`,
      ),
      textTile(
        'rebuffers_per_play',
        'Stalls per play',
        isNum(t.rebuffers_per_play) ? t.rebuffers_per_play.toFixed(2) : '—',
        t.rebuffers_per_play,
        `${count(t.plays_with_rebuffer)} plays stalled`,
      ),
      textTile('failures', 'Playback failures', count(t.failures), t.failures, `${ratio(t.failure_rate)} of plays`),
    ),
    h(
      'p',
      { class: 'hint' },
      'Plays that started in the period. Rebuffering ratio: stall time / (watch time + stall time). ' +
        'Failures: plays with a player error. Startup times are estimates (within 1 %).',
    ),
  );
}

/** The health panel of /v1/creators/:id/health. */
export function healthTiles(r) {
  const late = r?.late_events ?? {};
  const dead = r?.dead_letters ?? {};
  const codes = Array.isArray(dead.by_code) ? dead.by_code : [];
  return h(
    'div',
    {},
    h(
      'dl',
      { class: 'tiles', id: 'health-tiles' },
      textTile(
        'freshness_seconds',
        'Freshness',
        isNum(r?.freshness_seconds) ? `${elapsed(Math.max(0, r.freshness_seconds) * 1000)} behind` : 'no data yet',
        r?.freshness_seconds,
        r?.newest_watermark ? `newest event ${when(r.newest_watermark)}` : null,
      ),
      textTile(
        'finalized_through',
        'Final through',
        r?.finalized_through ? when(r.finalized_through) : '—',
        r?.finalized_through ? Date.parse(r.finalized_through) : undefined,
        'counts up to here no longer change',
      ),
      textTile(
        'late_applied',
        'Late events counted',
        count(num(late.applied)),
        num(late.applied),
        'applied where they belong',
      ),
      textTile(
        'late_set_aside',
        'Late events set aside',
        count(num(late.set_aside)),
        num(late.set_aside),
        'their session had closed',
      ),
      textTile(
        'dead_letters',
        'Dead-lettered records',
        count(num(dead.records)),
        num(dead.records),
        codes.length ? codes.map((c) => `${c.code} ${count(num(c.records))}`).join(', ') : 'none refused',
      ),
    ),
  );
}
