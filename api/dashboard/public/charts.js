// uPlot charts: a time-series line chart, a bar chart and an x-y curve (retention). Each chart
// fills its container's width, follows resizes, and describes itself for screen readers
// (role="img" with a summary) and for tests (data-points: non-empty values drawn). A series
// with `marker: true` draws only dots at its non-null values (annotations such as "left right
// after a stall"); it is left out of data-points and data-series, and data-markers lists the x
// values it marks.
/* global document, getComputedStyle, ResizeObserver, requestAnimationFrame */
import uPlot from './vendor/uplot.js';
import { h } from './dom.js';
import { isNum } from './format.js';

const css = (name, fallback) => getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;

export const palette = () => [css('--series-1', '#2563eb'), css('--series-2', '#d97706'), css('--series-3', '#059669')];

function axisStyle() {
  const ink = css('--muted', '#555');
  const grid = css('--grid', '#e5e7eb');
  return { stroke: ink, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
}

/**
 * Mounts a uPlot chart into a new element and returns it.
 * spec: { x: number[], series: [{ label, values, color?, fill?, dash?, marker? }], kind: 'line'|'bars'|'curve',
 *         height, ariaLabel, yFormat(v), xFormat(v) (for 'curve'), xRange, yRange }
 */
export function chart(spec) {
  const colors = palette();
  const height = spec.height ?? 240;
  const lines = spec.series.filter((s) => !s.marker);
  const points = lines.reduce((n, s) => n + s.values.filter((v) => isNum(v) && v !== 0).length, 0);
  const total = lines[0]?.values.reduce((n, v) => n + (isNum(v) ? v : 0), 0) ?? 0;
  const markers = spec.series
    .filter((s) => s.marker)
    .flatMap((s) => s.values.flatMap((v, i) => (isNum(v) ? [spec.x[i]] : [])));
  const wrap = h('figure', {
    id: spec.id,
    class: `chart chart-${spec.kind ?? 'line'}`,
    role: 'img',
    'aria-label': spec.ariaLabel,
    dataset: {
      points: String(points),
      series: String(lines.length),
      total: String(total),
      ...(markers.length || spec.series.some((s) => s.marker) ? { markers: markers.join(',') } : {}),
    },
  });
  const axis = axisStyle();
  const yFormat = spec.yFormat ?? ((v) => String(v));
  const bars = spec.kind === 'bars' ? uPlot.paths.bars({ size: [0.8, 24], gap: 1 }) : undefined;
  const opts = {
    width: 600,
    height,
    legend: { show: spec.series.length > 1 || spec.legend === true, live: spec.kind !== 'bars' },
    cursor: { drag: { x: false, y: false }, points: { size: 6 } },
    scales: {
      x: spec.kind === 'curve' ? { time: false, range: spec.xRange ?? [0, 100] } : { time: true },
      y: { range: (_u, min, max) => spec.yRange ?? [0, max > 0 ? max * 1.08 : 1] },
    },
    axes: [
      spec.kind === 'curve'
        ? { ...axis, values: (_u, ticks) => ticks.map((t) => (spec.xFormat ?? String)(t)) }
        : { ...axis, space: 60 },
      { ...axis, size: 64, values: (_u, ticks) => ticks.map((t) => yFormat(t)) },
    ],
    series: [
      { label: spec.kind === 'curve' ? (spec.xLabel ?? 'x') : 'Time', value: spec.xValue },
      ...spec.series.map((s, i) => {
        const color = s.color ?? (s.marker ? css('--down', '#b91c1c') : colors[i % colors.length]);
        if (s.marker) {
          return {
            label: s.label,
            stroke: color,
            width: 0,
            paths: () => null,
            points: { show: true, size: 9, width: 2, stroke: color, fill: css('--panel', '#fff') },
            spanGaps: false,
            value: (_u, v) => (v === null || v === undefined ? '—' : (s.markerValue ?? yFormat)(v, _u)),
          };
        }
        return {
          label: s.label,
          stroke: color,
          width: spec.kind === 'bars' ? 0 : 2,
          fill: spec.kind === 'bars' ? color : (s.fill ?? undefined),
          dash: s.dash,
          paths: bars,
          points: { show: spec.kind !== 'bars' && s.values.length <= 60 },
          spanGaps: false,
          value: (_u, v) => (v === null || v === undefined ? '—' : yFormat(v)),
        };
      }),
    ],
  };
  const data = [spec.x, ...spec.series.map((s) => s.values)];
  const plot = new uPlot(opts, data, wrap);
  const fit = () => {
    const w = Math.floor(wrap.clientWidth);
    if (w > 0 && Math.abs(w - plot.width) > 1) plot.setSize({ width: w, height });
  };
  new ResizeObserver(() => requestAnimationFrame(fit)).observe(wrap);
  requestAnimationFrame(fit);
  wrap.plot = plot;
  return wrap;
}
