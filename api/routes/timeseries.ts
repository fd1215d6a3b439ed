// GET /v1/creators/:id/timeseries — one metric of a creator per minute, hour or day.
import { countsSeries, uniqueViewersSeries } from '../queries/counts.js';
import { iso, type Interval } from '../queries/range.js';
import {
  arrayOf,
  finalizedThroughSchema,
  insightsSchema,
  intervalParam,
  nullableNumber,
  objectSchema,
  rangeSchema,
} from '../route-schemas.js';
import { accessCreator, finalityFor } from './access.js';
import { badRequest } from './context.js';
import { boundariesOf, parseRange, rangeJson, type RangeQuery } from './range-params.js';
import { ctxOf, type ApiRoutes } from './context.js';
import { sendTabular } from './tabular.js';

export const SERIES_METRICS = ['plays', 'views', 'watch_time_ms', 'unique_viewers'] as const;
export type SeriesMetric = (typeof SERIES_METRICS)[number];

/** Most points of a count series, and of a unique-viewer series. */
export const MAX_POINTS = 10_000;
export const MAX_UNIQUE_POINTS = 2_000;

export const pointSchema = objectSchema({
  time: { type: 'string', format: 'date-time', description: 'bucket start (the first bucket starts at from)' },
  value: { type: 'number' },
});

const okSchema = objectSchema({
  creator_id: { type: 'string' },
  metric: { type: 'string', enum: [...SERIES_METRICS] },
  interval: { type: 'string' },
  range: rangeSchema,
  finalized_through: finalizedThroughSchema,
  total: { ...nullableNumber, description: 'sum of the points (null for unique_viewers, which do not add up)' },
  points: arrayOf(pointSchema, 'one point per bucket, zeros included, oldest first'),
});

interface Query extends RangeQuery {
  metric?: SeriesMetric;
  interval?: Interval;
  format?: string;
}

export const timeseriesRoutes: ApiRoutes = async (app) => {
  app.get<{ Params: { id: string }; Querystring: Query }>(
    '/v1/creators/:id/timeseries',
    {
      schema: insightsSchema({
        tag: 'creators',
        summary: 'One metric of a creator over time',
        description: [
          'plays, views and watch_time_ms per bucket are exact sums of view_counts (read at the coarsest grain that',
          'fits the buckets). unique_viewers merges the hourly uniq states of the UTC hours starting in each bucket',
          `(interval hour or day only; an estimate within about 2 %). Buckets follow tz; at most ${MAX_POINTS} points`,
          `(${MAX_UNIQUE_POINTS} for unique_viewers). CSV columns: time, value.`,
        ],
        query: {
          metric: {
            type: 'string',
            enum: [...SERIES_METRICS],
            default: 'views',
            description: 'what to count (default views)',
          },
          interval: intervalParam({
            default: 'day',
            maxPoints: MAX_POINTS,
            more:
              `The limit is ${MAX_UNIQUE_POINTS} for metric=unique_viewers, and metric=unique_viewers takes only ` +
              'interval=hour|day (it comes from hourly states; minute is a 400).',
          }),
        },
        ok: okSchema,
      }),
    },
    async (request, reply) => {
      const ctx = ctxOf(request);
      const id = request.params.id;
      const metric = request.query.metric ?? 'views';
      const interval = request.query.interval ?? 'day';
      const parsed = parseRange(request.query, ctx.now());
      if (metric === 'unique_viewers' && interval === 'minute')
        throw badRequest('unique_viewers come from hourly states: use interval=hour or interval=day');
      const boundaries = boundariesOf(parsed, interval, metric === 'unique_viewers' ? MAX_UNIQUE_POINTS : MAX_POINTS);
      await accessCreator(request, id);
      const { f, final } = await finalityFor(request, parsed.range.to, { engagement: metric === 'unique_viewers' });
      const values =
        metric === 'unique_viewers'
          ? await uniqueViewersSeries(ctx, 'creator', id, boundaries)
          : (await countsSeries(ctx, 'creator', id, boundaries)).map((c) => c[metric]);
      reply.finalRange = final;
      const points = values.map((value, i) => ({ time: iso(boundaries[i]!), value }));
      const body = {
        creator_id: id,
        metric,
        interval,
        range: rangeJson(parsed),
        finalized_through: f.counts === null ? null : iso(f.counts),
        total: metric === 'unique_viewers' ? null : values.reduce((s, x) => s + x, 0),
        points,
      };
      return sendTabular(request, reply, body, () => ({
        name: `timeseries-${id}-${metric}`,
        columns: ['time', 'value'],
        rows: points.map((p) => [p.time, p.value]),
      }));
    },
  );
};
