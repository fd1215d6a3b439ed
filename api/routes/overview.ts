// GET /v1/creators/:id/overview — the headline numbers of a range, each with the previous
// period of equal length and the change.
import type { Cell } from '../csv.js';
import { countsSeries, uniqueViewersOf, type Counts } from '../queries/counts.js';
import { engagements } from '../queries/sessions.js';
import { iso } from '../queries/range.js';
import { finalizedThroughSchema, insightsSchema, nullableNumber, objectSchema, rangeSchema } from '../route-schemas.js';
import { accessCreator, finalityFor } from './access.js';
import { ctxOf, type ApiRoutes } from './context.js';
import { parseRange, previousOf, rangeJson, type RangeQuery } from './range-params.js';
import { sendTabular } from './tabular.js';

export const OVERVIEW_METRICS = [
  'plays',
  'views',
  'watch_time_ms',
  'average_view_duration_ms',
  'average_percentage_viewed',
  'unique_viewers',
  'completion_rate',
] as const;
type Metric = (typeof OVERVIEW_METRICS)[number];

const metricSchema = objectSchema(
  {
    value: nullableNumber,
    previous: nullableNumber,
    change_percent: { ...nullableNumber, description: '100 × (value − previous) / previous; null when previous is 0' },
  },
  'the range, the previous period, and the change',
);

const okSchema = objectSchema({
  creator_id: { type: 'string' },
  range: rangeSchema,
  previous_range: rangeSchema,
  finalized_through: finalizedThroughSchema,
  metrics: objectSchema(Object.fromEntries(OVERVIEW_METRICS.map((m) => [m, metricSchema]))),
});

export function changePercent(value: number | null, previous: number | null): number | null {
  if (value === null || previous === null || previous === 0) return null;
  return Number(((100 * (value - previous)) / previous).toFixed(2));
}

export const overviewRoutes: ApiRoutes = async (app) => {
  app.get<{ Params: { id: string }; Querystring: RangeQuery & { format?: string } }>(
    '/v1/creators/:id/overview',
    {
      schema: insightsSchema({
        tag: 'creators',
        summary: 'Headline numbers of a creator, against the previous period',
        description: [
          'plays, views and watch_time_ms are exact sums of view_counts over the range (minute, hour and day rows',
          'where they fit). unique_viewers merges the hourly uniq states of the hours starting in the range (an',
          'estimate, within about 2 %). average_view_duration_ms, average_percentage_viewed (0..100) and',
          'completion_rate (0..1) average the views (sessions with counted_view = 1) that qualified in the range.',
          'Each metric comes with the previous period of equal length and change_percent (null when the',
          'previous value is 0). CSV: one row per metric.',
        ],
        ok: okSchema,
      }),
    },
    async (request, reply) => {
      const ctx = ctxOf(request);
      const id = request.params.id;
      const parsed = parseRange(request.query, ctx.now());
      await accessCreator(request, id);
      const cur = parsed.range;
      const prev = previousOf(cur);
      const { f, finalIf } = await finalityFor(request, cur.to, { views: true });
      const [periods, [uc, up], [ec, ep]] = await Promise.all([
        // both periods in one read: two buckets split at cur.from, each exact
        countsSeries(ctx, 'creator', id, [prev.from, cur.from, cur.to]),
        uniqueViewersOf(ctx, 'creator', id, [cur, prev]),
        engagements(ctx, 'creator', id, [cur, prev]),
      ]);
      const [p, c] = periods as [Counts, Counts];
      const pairs: Record<Metric, [number | null, number | null]> = {
        plays: [c.plays, p.plays],
        views: [c.views, p.views],
        watch_time_ms: [c.watch_time_ms, p.watch_time_ms],
        average_view_duration_ms: [ec.average_view_duration_ms, ep.average_view_duration_ms],
        average_percentage_viewed: [ec.average_percentage_viewed, ep.average_percentage_viewed],
        unique_viewers: [uc!, up!],
        completion_rate: [ec.completion_rate, ep.completion_rate],
      };
      const metrics = Object.fromEntries(
        OVERVIEW_METRICS.map((m) => {
          const [value, previous] = pairs[m];
          return [m, { value, previous, change_percent: changePercent(value, previous) }];
        }),
      ) as Record<Metric, { value: number | null; previous: number | null; change_percent: number | null }>;
      // the views' numbers of both periods: open ones may still change
      reply.finalRange = finalIf(ec.open_views + ep.open_views);
      const body = {
        creator_id: id,
        range: rangeJson(parsed),
        previous_range: { from: iso(prev.from), to: iso(prev.to), tz: parsed.tz },
        finalized_through: f.counts === null ? null : iso(f.counts),
        metrics,
      };
      return sendTabular(request, reply, body, () => ({
        name: `overview-${id}`,
        columns: ['metric', 'value', 'previous', 'change_percent'],
        rows: OVERVIEW_METRICS.map((m): Cell[] => [
          m,
          metrics[m].value,
          metrics[m].previous,
          metrics[m].change_percent,
        ]),
      }));
    },
  );
};
