// GET /v1/videos/:id/breakdown — a video's views by country, device, traffic source or OS.
import type { Cell } from '../csv.js';
import { assertVideoAccess } from '../auth.js';
import { breakdown, DIMENSIONS, type Dimension } from '../queries/videos.js';
import { arrayOf, insightsSchema, limitParam, objectSchema, rangeSchema, videoSchema } from '../route-schemas.js';
import { ctxOf, intParam, type ApiRoutes } from './context.js';
import { finalityFor } from './access.js';
import { parseRange, rangeJson, type RangeQuery } from './range-params.js';
import { sendTabular } from './tabular.js';

export const breakdownRowSchema = objectSchema({
  value: { type: 'string' },
  views: { type: 'integer' },
  watch_time_ms: { type: 'integer' },
  share: { type: 'number', description: '0..1 of the views' },
});

const okSchema = objectSchema({
  video: videoSchema,
  range: rangeSchema,
  dimension: { type: 'string', enum: [...DIMENSIONS] },
  total_views: { type: 'integer' },
  total_watch_time_ms: { type: 'integer' },
  rows: arrayOf(breakdownRowSchema, 'the top values by views'),
  other: objectSchema(
    {
      values: { type: 'integer' },
      views: { type: 'integer' },
      watch_time_ms: { type: 'integer' },
      share: { type: 'number' },
    },
    'every value beyond the top ones, summed: rows + other = total',
  ),
});

interface Query extends RangeQuery {
  dimension: Dimension;
  limit?: number;
  format?: string;
}

export const breakdownRoutes: ApiRoutes = async (app) => {
  app.get<{ Params: { id: string }; Querystring: Query }>(
    '/v1/videos/:id/breakdown',
    {
      schema: insightsSchema({
        tag: 'videos',
        summary: "A video's views by one dimension",
        description: [
          'Views (sessions with counted_view = 1 that qualified in the range) and their watch time by country,',
          'device, traffic_source or os: the top `limit` values and an "other" bucket with the rest, so rows and',
          'other add up to total_views. CSV columns: value, views, watch_time_ms, share (other last, as "(other)").',
        ],
        query: {
          dimension: { type: 'string', enum: [...DIMENSIONS], description: 'what to break the views down by' },
          limit: limitParam(10, 100, 'values before "other"'),
        },
        required: ['dimension'],
        ok: okSchema,
      }),
    },
    async (request, reply) => {
      const ctx = ctxOf(request);
      const parsed = parseRange(request.query, ctx.now());
      const limit = intParam('limit', request.query.limit, 10, 1, 100);
      const video = await assertVideoAccess(request, request.params.id);
      const dimension = request.query.dimension;
      const { finalIf } = await finalityFor(request, parsed.range.to, { views: true });
      const { open_views, ...b } = await breakdown(ctx, video.video_id, dimension, parsed.range, limit);
      reply.finalRange = finalIf(open_views);
      const body = { video, range: rangeJson(parsed), dimension, ...b };
      return sendTabular(request, reply, body, () => ({
        name: `breakdown-${video.video_id}-${dimension}`,
        columns: ['value', 'views', 'watch_time_ms', 'share'],
        rows: [
          ...b.rows.map((x): Cell[] => [x.value, x.views, x.watch_time_ms, x.share]),
          ['(other)', b.other.views, b.other.watch_time_ms, b.other.share],
        ],
      }));
    },
  );
};
