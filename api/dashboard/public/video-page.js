// The video page: totals and series, retention against the comparison curve, breakdowns,
// traffic. Every card loads on its own, so one failing request leaves the rest of the page working.
/* global document */
import { enc, get } from './api.js';
import { chart } from './charts.js';
import { card, empty, fill, h, replace } from './dom.js';
import { count, duration, isNum, label, ratio, short, when } from './format.js';
import {
  creatorHref,
  DIMENSIONS,
  num,
  OVERVIEW_METRICS,
  periodDays,
  periodParams,
  periodSelect,
  periodText,
  points,
  select,
  shareBar,
  sum,
  table,
  tiles,
  qoeTiles,
  titleOf,
  videoHref,
  views,
} from './widgets.js';

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
  const qoe = card('Playback quality', { id: 'qoe' });
  page.append(
    h('div', { class: 'grid' }, h('div', { class: 'span-12' }, stats.section)),
    h('div', { class: 'grid' }, h('div', { class: 'span-12' }, retention.section)),
    h(
      'div',
      { class: 'grid' },
      h('div', { class: 'span-6' }, breakdown.section),
      h('div', { class: 'span-6' }, traffic.section),
    ),
    h('div', { class: 'grid' }, h('div', { class: 'span-12' }, qoe.section)),
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
  const loadQoe = () => fill(qoe.body, async () => qoeTiles(await get(`${base}/qoe`, periodParams())));
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
        void loadQoe();
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
  void loadQoe();
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
  // Points where at least stall_exit_marker_min views left right after a stall: a dot on the curve.
  const min = Math.max(2, num(r?.stall_exit_marker_min) || 2);
  const stalled = new Array(101).fill(0);
  for (const x of Array.isArray(r?.stall_exits) ? r.stall_exits : []) {
    const p = num(x?.percent);
    if (isNum(p) && p >= 0 && p <= 100) stalled[Math.round(p)] = num(x.views) || 0;
  }
  const marked = stalled.map((n, i) => (n >= min && isNum(mine[i]) ? mine[i] : null));
  const markedCount = marked.filter((v) => v !== null).length;
  if (markedCount) series.push({ label: 'left right after a stall', values: marked, marker: true });
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
      ariaLabel: `Retention curve over ${count(num(r.views))} views: ${at(0)} at the start, ${at(50)} at the middle, ${at(100)} at the end${hasComparison ? ', with a comparison curve' : ''}${markedCount ? `; ${count(markedCount)} points where many viewers left right after a stall are marked` : ''}`,
    }),
    h(
      'p',
      { class: 'hint' },
      `Share of ${count(num(r.views))} views still watching at each point of the video.`,
      hasComparison
        ? ` Dashed: ${r.comparison.description ?? 'similar videos'} (${count(num(r.comparison.videos))} videos, ${count(num(r.comparison.views))} views).`
        : ' No similar videos of this channel to compare with.',
      markedCount
        ? ` Dots: points where at least ${count(min)} views left right after a stall (during it or within 10 s after it ended).`
        : '',
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
