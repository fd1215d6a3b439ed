// GET /v1/videos/:id/stats — a video's totals and series over a range.
import { assertVideoAccess } from '../auth.js';
import { countsSeries, sumCounts, uniqueViewers } from '../queries/counts.js';
import { engagement } from '../queries/sessions.js';
import { iso, type Interval } from '../queries/range.js';
import {
  arrayOf,
  countsProperties,
  finalizedThroughSchema,
  insightsSchema,
  intervalParam,
  nullableNumber,
  objectSchema,
  rangeSchema,
  videoSchema,
} from '../route-schemas.js';
import { boundariesOf, parseRange, rangeJson, type RangeQuery } from './range-params.js';
import { ctxOf, type ApiRoutes } from './context.js';
import { finalityFor } from './access.js';
import { sendTabular } from './tabular.js';
import { MAX_POINTS } from './timeseries.js';

const okSchema = objectSchema({
  video: videoSchema,
  range: rangeSchema,
  interval: { type: 'string' },
  finalized_through: finalizedThroughSchema,
  totals: objectSchema({
    ...countsProperties,
    unique_viewers: { type: 'integer', description: 'hourly uniq states merged (estimate, within about 2 %)' },
    average_view_duration_ms: { ...nullableNumber, description: 'mean watch time of the views (null without views)' },
    average_percentage_viewed: { ...nullableNumber, description: '0..100, mean of min(1, watch / duration)' },
    completion_rate: { ...nullableNumber, description: '0..1, share of views that sent complete' },
  }),
  series: arrayOf(
    objectSchema({ time: { type: 'string', format: 'date-time' }, ...countsProperties }),
    'one point per bucket of interval (in tz), zeros included',
  ),
});

interface Query extends RangeQuery {
  interval?: Interval;
  format?: string;
}

export const videoStatsRoutes: ApiRoutes = async (app) => {
  app.get<{ Params: { id: string }; Querystring: Query }>(
    '/v1/videos/:id/stats',
    {
      schema: insightsSchema({
        tag: 'videos',
        summary: "A video's totals and series",
        description: [
          'Exact plays, views and watch time over the range and per bucket (view_counts); unique viewers from the',
          'hourly uniq states; engagement averages over the views (sessions, counted_view = 1) of the range.',
          'finalized_through: the lowest view-counts watermark over its partitions minus the window grace; a range',
          'ending at or before it, with every view in it closed, is final and answered with an ETag and',
          'Cache-Control (304 on If-None-Match).',
          'CSV: the series (time, plays, views, watch_time_ms).',
        ],
        query: { interval: intervalParam({ default: 'day', maxPoints: MAX_POINTS }) },
        ok: okSchema,
      }),
    },
    async (request, reply) => {
      const ctx = ctxOf(request);
      const interval = request.query.interval ?? 'day';
      const parsed = parseRange(request.query, ctx.now());
      const boundaries = boundariesOf(parsed, interval, MAX_POINTS);
      const video = await assertVideoAccess(request, request.params.id);
      const id = video.video_id;
      const { f, finalIf } = await finalityFor(request, parsed.range.to, { views: true });
      const [series, uniques, eng] = await Promise.all([
        countsSeries(ctx, 'video', id, boundaries),
        uniqueViewers(ctx, 'video', id, parsed.range),
        engagement(ctx, 'video', id, parsed.range),
      ]);
      reply.finalRange = finalIf(eng.open_views);
      const points = series.map((c, i) => ({ time: iso(boundaries[i]!), ...c }));
      const body = {
        video,
        range: rangeJson(parsed),
        interval,
        finalized_through: f.counts === null ? null : iso(f.counts),
        totals: {
          ...sumCounts(series),
          unique_viewers: uniques,
          average_view_duration_ms: eng.average_view_duration_ms,
          average_percentage_viewed: eng.average_percentage_viewed,
          completion_rate: eng.completion_rate,
        },
        series: points,
      };
      return sendTabular(request, reply, body, () => ({
        name: `stats-${id}`,
        columns: ['time', 'plays', 'views', 'watch_time_ms'],
        rows: points.map((p) => [p.time, p.plays, p.views, p.watch_time_ms]),
      }));
    },
  );
};
