// The creator page: realtime, overview tiles against the previous period, a time series, top
// videos. Every card loads on its own, so one failing request leaves the rest of the page working.
/* global location */
import { enc, get } from './api.js';
import { chart } from './charts.js';
import { card, empty, fill, h, replace } from './dom.js';
import { count, duration, elapsed, hours, isNum, label, metric, short, when } from './format.js';
import {
  HOUR_MS,
  MINUTE_SERIES_HOURS,
  num,
  OVERVIEW_METRICS,
  periodParams,
  periodSelect,
  periodText,
  points,
  select,
  SERIES_METRICS,
  sinceIso,
  sum,
  table,
  tiles,
  qoeTiles,
  healthTiles,
  titleOf,
  tz,
  VIDEO_SORTS,
  videoHref,
  views,
} from './widgets.js';

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
  const qoe = card('Playback quality', { id: 'qoe' });
  const health = card('Data health', { id: 'health' });
  page.append(
    h('div', { class: 'grid' }, h('div', { class: 'span-12' }, realtime.section)),
    h('div', { class: 'grid' }, h('div', { class: 'span-12' }, overview.section)),
    h('div', { class: 'grid' }, h('div', { class: 'span-12' }, series.section)),
    h('div', { class: 'grid' }, h('div', { class: 'span-12' }, top.section)),
    h('div', { class: 'grid' }, h('div', { class: 'span-12' }, qoe.section)),
    h('div', { class: 'grid' }, h('div', { class: 'span-12' }, health.section)),
  );

  // The subtitle's freshness and the health panel share the first answer; a retry asks again.
  const healthAnswer = get(`${base}/health`, periodParams());
  let firstHealth = healthAnswer;
  void fill(health.body, async () => {
    const r = firstHealth ?? get(`${base}/health`, periodParams());
    firstHealth = undefined;
    return healthTiles(await r);
  });
  const loadQoe = () => fill(qoe.body, async () => qoeTiles(await get(`${base}/qoe`, periodParams())));
  void loadQoe();
  void healthAnswer
    .then((r) =>
      replace(
        status,
        isNum(r?.freshness_seconds) ? `data ${elapsed(Math.max(0, r.freshness_seconds) * 1000)} behind` : 'no data yet',
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
        void loadQoe();
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
