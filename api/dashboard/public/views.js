// The dashboard's pages, built from the insights API's JSON (shapes: /docs):
//   creatorView  realtime, overview tiles against the previous period, a time series, top videos
//   videoView    totals and series, retention against the comparison curve, breakdowns, traffic
//   adminHome    an admin picks a creator
// Every card loads on its own, so one failing request leaves the rest of the page working.
/* global document, location, sessionStorage */
import { enc, get } from './api.js';
import { chart } from './charts.js';
import { card, empty, fill, h, nextId, replace } from './dom.js';
import { change, count, duration, hours, isNum, label, metric, ratio, short, toDate, when } from './format.js';

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

const OVERVIEW_METRICS = [
  'views',
  'plays',
  'watch_time_ms',
  'unique_viewers',
  'average_view_duration_ms',
  'average_percentage_viewed',
  'completion_rate',
];
const SERIES_METRICS = ['views', 'plays', 'watch_time_ms', 'unique_viewers'];
const VIDEO_SORTS = [
  ['views', 'Views'],
  ['watch_time_ms', 'Watch time'],
  ['plays', 'Plays'],
];
const PERIODS = [
  ['7', 'Last 7 days'],
  ['28', 'Last 28 days'],
  ['90', 'Last 90 days'],
];
const DIMENSIONS = ['country', 'device', 'traffic_source', 'os'];
/** The minute series covers the last few hours only (at most 10,000 points per request). */
const MINUTE_SERIES_HOURS = 6;

// ---- shared state: the period and the browser's time zone ------------------------------------

const PERIOD_KEY = 'viewpulse.period';
const tz = (() => {
  try {
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    return /^[A-Za-z0-9_+\-/]{1,64}$/.test(zone) ? zone : 'UTC';
  } catch {
    return 'UTC';
  }
})();

function periodDays() {
  const d = Number(sessionStorage.getItem(PERIOD_KEY) ?? 7);
  return PERIODS.some(([v]) => Number(v) === d) ? d : 7;
}

const sinceIso = (ms) => new Date(Math.floor((Date.now() - ms) / 60_000) * 60_000).toISOString();

/** from/tz of the current period (to is the API's default: now). */
const periodParams = () => ({ from: sinceIso(periodDays() * DAY_MS), tz });

const periodText = () => PERIODS.find(([v]) => Number(v) === periodDays())?.[1] ?? 'Last 7 days';

function periodSelect(onChange) {
  return select('Period', PERIODS, String(periodDays()), (v) => {
    sessionStorage.setItem(PERIOD_KEY, v);
    onChange();
  });
}

// ---- reading the API's shapes ---------------------------------------------------------------

const num = (x) => (x === null || x === undefined || x === '' ? undefined : Number(x));

/** [{ t: epoch seconds, v }] of a list of { time, [key] } points, oldest first. */
function points(list, key) {
  if (!Array.isArray(list)) return [];
  return list
    .map((p) => ({ t: Math.floor((toDate(p.time)?.getTime() ?? NaN) / 1000), v: num(p[key]) ?? 0 }))
    .filter((p) => Number.isFinite(p.t))
    .sort((a, b) => a.t - b.t);
}

const videoHref = (id) => `#/videos/${enc(id)}`;
const creatorHref = (id) => `#/creators/${enc(id)}`;
const titleOf = (v) => v?.title || v?.video_id || '(untitled)';
const views = (n) => `${count(num(n))} ${num(n) === 1 ? 'view' : 'views'}`;
const sum = (ps) => ps.reduce((n, p) => n + (p.v ?? 0), 0);

// ---- small renderers ------------------------------------------------------------------------

/** A list of metric tiles; `compare` adds the change against the previous period. */
function tiles(entries, compare) {
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

function select(labelText, options, value, onChange) {
  const id = nextId('sel');
  const el = h(
    'select',
    { id, onChange: (e) => onChange(e.target.value) },
    options.map(([v, text]) => h('option', { value: v, selected: v === value }, text)),
  );
  return h('label', { for: id }, labelText, el);
}

function table({ caption, columns, rows, onRow }) {
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
function shareBar(share) {
  const el = h('span', { class: 'bar', 'aria-hidden': 'true' });
  el.style.width = `${Math.max(0, Math.min(100, isNum(share) ? share : 0))}%`;
  return el;
}

// ---- creator page ---------------------------------------------------------------------------

export function creatorView(creatorId, session) {
  const base = `/v1/creators/${enc(creatorId)}`;
  const status = h('span', { id: 'freshness' });
  const page = h(
    'div',
    { class: 'page page-creator', dataset: { creator: creatorId } },
    h('h1', {}, session.role === 'creator' && creatorId === session.sub ? 'Your channel' : `Channel ${creatorId}`),
    h('p', { class: 'subtitle' }, 'Creator ', h('code', {}, creatorId), ` · times in ${tz} · `, status),
  );

  const realtime = card('Realtime', { id: 'realtime' });
  const overview = card(periodText(), { id: 'overview' });
  const series = card('Trend', { id: 'timeseries' });
  const top = card('Top videos', { id: 'top-videos' });
  page.append(
    h('div', { class: 'grid' }, h('div', { class: 'span-12' }, realtime.section)),
    h('div', { class: 'grid' }, h('div', { class: 'span-12' }, overview.section)),
    h('div', { class: 'grid' }, h('div', { class: 'span-12' }, series.section)),
    h('div', { class: 'grid' }, h('div', { class: 'span-12' }, top.section)),
  );

  void get(`${base}/health`, { tz })
    .then((r) =>
      replace(
        status,
        isNum(r?.freshness_seconds) ? `data ${short(Math.max(0, r.freshness_seconds))} s behind` : 'no data yet',
        r?.finalized_through ? ` · final through ${when(r.finalized_through)}` : '',
      ),
    )
    .catch(() => replace(status, ''));

  const loadRealtime = () => fill(realtime.body, async () => renderRealtime(await get(`${base}/realtime`)));
  realtime.section
    .querySelector('.card-head')
    .append(h('button', { type: 'button', class: 'secondary', onClick: () => void loadRealtime() }, 'Refresh'));
  void loadRealtime();

  const loadOverview = () =>
    fill(overview.body, async () => renderOverview(await get(`${base}/overview`, periodParams())));
  overview.section.querySelector('.card-head').append(
    h(
      'div',
      { class: 'controls' },
      periodSelect(() => {
        replace(overview.section.querySelector('h2'), periodText());
        void loadOverview();
        void loadSeries();
        void loadTop();
      }),
    ),
  );
  void loadOverview();

  // time series with its controls
  const state = { metric: 'views', interval: 'hour' };
  const intervalSelect = select(
    'Interval',
    [
      ['minute', `Minute (last ${MINUTE_SERIES_HOURS} h)`],
      ['hour', 'Hour'],
      ['day', 'Day'],
    ],
    state.interval,
    (i) => {
      state.interval = i;
      void loadSeries();
    },
  );
  const loadSeries = () =>
    fill(series.body, async () => {
      // unique viewers come from hourly states: no minute series
      const minuteOption = intervalSelect.querySelector('option[value="minute"]');
      minuteOption.disabled = state.metric === 'unique_viewers';
      if (state.metric === 'unique_viewers' && state.interval === 'minute') {
        state.interval = 'hour';
        intervalSelect.querySelector('select').value = 'hour';
      }
      const params =
        state.interval === 'minute' ? { from: sinceIso(MINUTE_SERIES_HOURS * HOUR_MS), tz } : periodParams();
      const r = await get(`${base}/timeseries`, { metric: state.metric, interval: state.interval, ...params });
      return renderSeries(r, state.metric, state.interval);
    });
  series.section.querySelector('.card-head').append(
    h(
      'div',
      { class: 'controls' },
      select(
        'Metric',
        SERIES_METRICS.map((m) => [m, label(m)]),
        state.metric,
        (m) => {
          state.metric = m;
          void loadSeries();
        },
      ),
      intervalSelect,
    ),
  );
  void loadSeries();

  // top videos with sort and "show more"
  const sortState = { sort: 'views' };
  const loadTop = () => fill(top.body, async () => renderTopVideos(base, sortState.sort));
  top.section.querySelector('.card-head').append(
    h(
      'div',
      { class: 'controls' },
      select('Sort by', VIDEO_SORTS, sortState.sort, (s) => {
        sortState.sort = s;
        void loadTop();
      }),
    ),
  );
  void loadTop();
  return page;
}

function renderRealtime(r) {
  const minutes = points(r?.minutes, 'views');
  const hoursPts = points(r?.hours, 'views');
  const watching = num(r?.watching_now?.viewers);
  const lastHour = num(r?.views_last_60_minutes) ?? sum(minutes);
  const lastTwoDays = num(r?.views_last_48_hours) ?? sum(hoursPts);
  const topVideos = Array.isArray(r?.top_videos) ? r.top_videos : [];
  const big = (id, value, text) =>
    h(
      'div',
      {},
      h('div', { class: 'big', id, dataset: { value: String(value ?? '') } }, count(value)),
      h('span', {}, text),
    );

  const charts = h(
    'div',
    { class: 'span-8' },
    h('h3', {}, 'Views per minute, last 60 minutes'),
    lastHour > 0
      ? chart({
          kind: 'bars',
          id: 'chart-minutes',
          height: 140,
          x: minutes.map((p) => p.t),
          series: [{ label: 'Views', values: minutes.map((p) => p.v) }],
          yFormat: short,
          ariaLabel: `Bar chart: ${count(lastHour)} views in the last 60 minutes, at most ${count(minutes.reduce((m, p) => Math.max(m, p.v), 0))} in one minute`,
        })
      : empty('No views in the last 60 minutes.'),
    h('h3', {}, 'Views per hour, last 48 hours'),
    lastTwoDays > 0
      ? chart({
          kind: 'bars',
          id: 'chart-hours',
          height: 140,
          x: hoursPts.map((p) => p.t),
          series: [{ label: 'Views', values: hoursPts.map((p) => p.v) }],
          yFormat: short,
          ariaLabel: `Bar chart: ${count(lastTwoDays)} views in the last 48 hours, at most ${count(hoursPts.reduce((m, p) => Math.max(m, p.v), 0))} in one hour`,
        })
      : empty('No views in the last 48 hours.'),
  );
  const side = h(
    'div',
    { class: 'span-4' },
    h('h3', {}, 'Top videos, last 48 hours'),
    topVideos.length
      ? h(
          'ol',
          { class: 'ranked', id: 'realtime-top' },
          topVideos.map((v) =>
            h('li', {}, h('a', { href: videoHref(v.video_id) }, titleOf(v)), h('span', {}, views(v.views))),
          ),
        )
      : empty('Nothing watched in the last 48 hours.'),
  );
  return h(
    'div',
    { class: 'realtime' },
    h(
      'div',
      { class: 'realtime-now' },
      big('watching-now', watching, 'watching now'),
      big('views-60m', lastHour, 'views · last 60 minutes'),
      big('views-48h', lastTwoDays, 'views · last 48 hours'),
    ),
    h('div', { class: 'grid' }, charts, side),
  );
}

function renderOverview(o) {
  const m = o?.metrics ?? {};
  const entries = OVERVIEW_METRICS.map((key) => ({ key, ...(m[key] ?? {}) }));
  if (!entries.some((e) => e.value) && !entries.some((e) => e.previous)) {
    return empty('No plays in this period or the one before.');
  }
  const prev = o?.previous_range;
  return h(
    'div',
    {},
    tiles(entries, 'compared with the previous period'),
    o?.range
      ? h(
          'p',
          { class: 'hint' },
          `${when(o.range.from)} – ${when(o.range.to)}, compared with ${when(prev?.from)} – ${when(prev?.to)}.`,
        )
      : null,
  );
}

function renderSeries(r, m, interval) {
  const pts = points(r?.points, 'value');
  if (!pts.some((p) => p.v)) return empty(`No ${label(m).toLowerCase()} in this period.`);
  const total = isNum(r?.total) ? r.total : undefined;
  return h(
    'div',
    {},
    chart({
      kind: 'line',
      id: 'chart-series',
      height: 260,
      x: pts.map((p) => p.t),
      series: [{ label: label(m), values: pts.map((p) => p.v) }],
      yFormat: m.endsWith('_ms') ? hours : short,
      ariaLabel: `Line chart of ${label(m).toLowerCase()} per ${interval}: ${pts.length} points${total !== undefined ? `, ${metric(m, total)} in total` : ''}`,
    }),
    total !== undefined
      ? h('p', { class: 'hint', id: 'series-total', dataset: { value: String(total) } }, `${metric(m, total)} in total`)
      : null,
  );
}

async function renderTopVideos(base, sort) {
  const rows = [];
  const body = h('div', {});
  const more = h('button', { type: 'button', class: 'secondary more', hidden: true }, 'Show more');
  let cursor;
  const columns = [
    { label: 'Video', cls: 'title-cell', cell: (v) => h('a', { href: videoHref(v.video_id) }, titleOf(v)) },
    { label: 'Views', num: true, cell: (v) => count(num(v.views)) },
    { label: 'Watch time', num: true, cell: (v) => hours(num(v.watch_time_ms)) },
    { label: 'Plays', num: true, cell: (v) => count(num(v.plays)) },
    { label: 'Length', num: true, cell: (v) => duration(num(v.duration_ms)) },
  ];
  const draw = () =>
    replace(
      body,
      table({
        caption: `${periodText()}. Select a video for its retention, breakdowns and traffic.`,
        columns,
        rows,
        onRow: (v) => (location.hash = videoHref(v.video_id)),
      }),
    );
  const page = async () => {
    // The cursor keeps the range of the first page: send it alone with the sort.
    const params = cursor ? { sort, limit: 10, cursor, tz } : { sort, limit: 10, ...periodParams() };
    const r = await get(`${base}/videos`, params);
    for (const v of Array.isArray(r?.videos) ? r.videos : []) rows.push(v);
    cursor = r?.next_cursor ?? undefined;
    more.hidden = !cursor;
    draw();
  };
  more.addEventListener('click', async () => {
    more.disabled = true;
    try {
      await page();
    } finally {
      more.disabled = false;
    }
  });
  await page();
  if (!rows.length) return empty('This channel has no videos yet.');
  return h('div', { id: 'top-videos-table' }, body, more);
}

// ---- video page -----------------------------------------------------------------------------

export function videoView(videoId, session) {
  const base = `/v1/videos/${enc(videoId)}`;
  const heading = h('h1', {}, 'Video');
  const crumbs = h(
    'p',
    { class: 'crumbs' },
    session.role === 'creator' ? h('a', { href: creatorHref(session.sub) }, '← Your channel') : null,
  );
  const subtitle = h('p', { class: 'subtitle' }, 'Video ', h('code', {}, videoId));
  const page = h('div', { class: 'page page-video', dataset: { video: videoId } }, crumbs, heading, subtitle);

  const stats = card(periodText(), { id: 'video-stats' });
  const retention = card('Audience retention', { id: 'retention' });
  const breakdown = card('Breakdown', { id: 'breakdown' });
  const traffic = card('Traffic sources', { id: 'traffic' });
  page.append(
    h('div', { class: 'grid' }, h('div', { class: 'span-12' }, stats.section)),
    h('div', { class: 'grid' }, h('div', { class: 'span-12' }, retention.section)),
    h(
      'div',
      { class: 'grid' },
      h('div', { class: 'span-6' }, breakdown.section),
      h('div', { class: 'span-6' }, traffic.section),
    ),
  );

  const loadStats = () =>
    fill(stats.body, async () => {
      const interval = periodDays() <= 7 ? 'hour' : 'day';
      const r = await get(`${base}/stats`, { interval, ...periodParams() });
      const v = r?.video ?? {};
      replace(heading, titleOf(v));
      document.title = `${titleOf(v)} — Viewpulse`;
      if (v.creator_id && (session.role === 'admin' || v.creator_id !== session.sub)) {
        replace(crumbs, h('a', { href: creatorHref(v.creator_id) }, `← Channel ${v.creator_id}`));
      }
      replace(
        subtitle,
        'Video ',
        h('code', {}, videoId),
        isNum(v.duration_ms) ? ` · ${duration(v.duration_ms)} long` : '',
        v.published_at ? ` · published ${when(v.published_at)}` : '',
        r?.finalized_through ? ` · final through ${when(r.finalized_through)}` : '',
      );
      return renderVideoStats(r, interval);
    });
  const loadRetention = () =>
    fill(retention.body, async () => renderRetention(await get(`${base}/retention`, periodParams())));
  const dim = { value: 'country' };
  const loadBreakdown = () =>
    fill(breakdown.body, async () =>
      renderBreakdown(await get(`${base}/breakdown`, { dimension: dim.value, ...periodParams() }), dim.value),
    );
  const loadTraffic = () => fill(traffic.body, async () => renderTraffic(await get(`${base}/traffic`, periodParams())));

  stats.section.querySelector('.card-head').append(
    h(
      'div',
      { class: 'controls' },
      periodSelect(() => {
        replace(stats.section.querySelector('h2'), periodText());
        void loadStats();
        void loadRetention();
        void loadBreakdown();
        void loadTraffic();
      }),
    ),
  );
  breakdown.section.querySelector('.card-head').append(
    h(
      'div',
      { class: 'controls' },
      select(
        'Dimension',
        DIMENSIONS.map((d) => [d, label(d)]),
        dim.value,
        (d) => {
          dim.value = d;
          void loadBreakdown();
        },
      ),
    ),
  );
  void loadStats();
  void loadRetention();
  void loadBreakdown();
  void loadTraffic();
  return page;
}

function renderVideoStats(r, interval) {
  const totals = r?.totals ?? {};
  const pts = points(r?.series, 'views');
  const out = h('div', {}, tiles(OVERVIEW_METRICS.map((key) => ({ key, value: num(totals[key]) }))));
  out.append(
    h('h3', {}, `Views per ${interval}`),
    pts.some((p) => p.v)
      ? chart({
          kind: 'line',
          id: 'chart-video-series',
          height: 200,
          x: pts.map((p) => p.t),
          series: [{ label: 'Views', values: pts.map((p) => p.v) }],
          yFormat: short,
          ariaLabel: `Line chart of views per ${interval}: ${count(sum(pts))} views over ${pts.length} ${interval}s`,
        })
      : empty('No views in this period.'),
  );
  return out;
}

/** 101 values in percent (0..100) from [{ percent, retention 0..1 }]. */
function curve(list) {
  const out = new Array(101).fill(null);
  for (const p of Array.isArray(list) ? list : []) {
    const at = num(p?.percent);
    if (isNum(at) && at >= 0 && at <= 100 && isNum(num(p.retention))) out[Math.round(at)] = 100 * Number(p.retention);
  }
  return out;
}

function renderRetention(r) {
  const mine = curve(r?.points);
  const comparison = curve(r?.comparison?.points);
  if (!num(r?.views) || !mine.some((v) => isNum(v) && v > 0))
    return empty('No views in this period, so no retention curve yet.');
  const hasComparison = num(r?.comparison?.views) > 0 && comparison.some((v) => isNum(v) && v > 0);
  const series = [{ label: 'This video', values: mine }];
  if (hasComparison) series.push({ label: 'Similar videos of the channel', values: comparison, dash: [6, 4] });
  const at = (i) => (isNum(mine[i]) ? `${Math.round(mine[i])} %` : '—');
  return h(
    'div',
    {},
    chart({
      kind: 'curve',
      id: 'chart-retention',
      height: 260,
      x: Array.from({ length: 101 }, (_, i) => i),
      xRange: [0, 100],
      xFormat: (t) => `${t} %`,
      xLabel: 'Position',
      xValue: (_u, v) => (v === null || v === undefined ? '—' : `${v} %`),
      yRange: [0, 100],
      yFormat: (v) => `${Math.round(v)} %`,
      legend: true,
      series,
      ariaLabel: `Retention curve over ${count(num(r.views))} views: ${at(0)} at the start, ${at(50)} at the middle, ${at(100)} at the end${hasComparison ? ', with a comparison curve' : ''}`,
    }),
    h(
      'p',
      { class: 'hint' },
      `Share of ${count(num(r.views))} views still watching at each point of the video.`,
      hasComparison
        ? ` Dashed: ${r.comparison.description ?? 'similar videos'} (${count(num(r.comparison.videos))} videos, ${count(num(r.comparison.views))} views).`
        : ' No similar videos of this channel to compare with.',
    ),
  );
}

function renderBreakdown(r, dimension) {
  const rows = (Array.isArray(r?.rows) ? r.rows : []).map((x) => ({ ...x }));
  if (r?.other && num(r.other.views) > 0) {
    rows.push({ value: `${count(num(r.other.values))} more`, views: r.other.views, share: r.other.share, other: true });
  }
  if (!rows.length) return empty(`No views by ${label(dimension).toLowerCase()} in this period.`);
  return table({
    caption: `${count(num(r.total_views))} views by ${label(dimension).toLowerCase()}`,
    columns: [
      {
        label: label(dimension),
        cell: (x) =>
          x.value === ''
            ? '(unknown)'
            : (dimension === 'traffic_source' || dimension === 'device') && !x.other
              ? label(x.value)
              : x.value,
      },
      { label: 'Views', num: true, cell: (x) => count(num(x.views)) },
      { label: 'Share', num: true, cell: (x) => ratio(num(x.share)) },
      {
        label: h('span', { class: 'visually-hidden' }, 'Share bar'),
        cls: 'bar-cell',
        cell: (x) => shareBar(100 * (num(x.share) ?? 0)),
      },
    ],
    rows,
  });
}

function renderTraffic(r) {
  const sources = Array.isArray(r?.sources) ? r.sources : [];
  if (!sources.length) return empty('No views in this period.');
  const referrers = Array.isArray(r?.suggested?.referrers) ? r.suggested.referrers : [];
  const otherRef = r?.suggested?.other;
  return h(
    'div',
    {},
    table({
      caption: `Where ${count(num(r.total_views))} views came from`,
      columns: [
        { label: 'Source', cell: (x) => label(x.value || 'unknown') },
        { label: 'Views', num: true, cell: (x) => count(num(x.views)) },
        { label: 'Share', num: true, cell: (x) => ratio(num(x.share)) },
        {
          label: h('span', { class: 'visually-hidden' }, 'Share bar'),
          cls: 'bar-cell',
          cell: (x) => shareBar(100 * (num(x.share) ?? 0)),
        },
      ],
      rows: sources,
    }),
    h('h3', { id: 'suggested-title' }, `Suggested by (${count(num(r?.suggested?.views))} views)`),
    referrers.length
      ? h(
          'ol',
          { class: 'ranked', id: 'suggested-by', 'aria-labelledby': 'suggested-title' },
          referrers.map((v) =>
            h(
              'li',
              {},
              v.video_id
                ? h('a', { href: videoHref(v.video_id) }, v.title ?? v.video_id)
                : h('span', {}, '(the player did not say)'),
              h('span', {}, `${views(v.views)} · ${ratio(num(v.share))}`),
            ),
          ),
          otherRef && num(otherRef.views) > 0
            ? h(
                'li',
                {},
                h('span', {}, `${count(num(otherRef.videos))} more videos`),
                h('span', {}, views(otherRef.views)),
              )
            : null,
        )
      : empty('No views from suggestions in this period.'),
  );
}

// ---- admin home -----------------------------------------------------------------------------

export function adminHome() {
  const id = nextId('creator');
  const input = h('input', { id, name: 'creator', required: true, autocomplete: 'off', spellcheck: 'false' });
  const form = h(
    'form',
    {
      class: 'admin-form',
      onSubmit: (e) => {
        e.preventDefault();
        const v = input.value.trim();
        if (v) location.hash = creatorHref(v);
      },
    },
    h('label', { for: id }, 'Creator id', input),
    h('button', { type: 'submit' }, 'Open channel'),
  );
  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'admin-title' },
    h('h1', { id: 'admin-title' }, 'Admin'),
    h('p', { class: 'subtitle' }, 'An admin token reads every creator. Which channel?'),
    form,
  );
}
