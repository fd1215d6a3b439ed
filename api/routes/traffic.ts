// GET /v1/videos/:id/traffic — where a video's views came from.
import type { Cell } from '../csv.js';
import { assertVideoAccess } from '../auth.js';
import { traffic } from '../queries/videos.js';
import {
  arrayOf,
  insightsSchema,
  limitParam,
  nullableString,
  objectSchema,
  rangeSchema,
  videoSchema,
} from '../route-schemas.js';
import { breakdownRowSchema } from './breakdown.js';
import { ctxOf, intParam, type ApiRoutes } from './context.js';
import { finalityFor } from './access.js';
import { parseRange, rangeJson, type RangeQuery } from './range-params.js';
import { sendTabular } from './tabular.js';

const okSchema = objectSchema({
  video: videoSchema,
  range: rangeSchema,
  total_views: { type: 'integer' },
  sources: arrayOf(breakdownRowSchema, 'every traffic source with views, most first; they add up to total_views'),
  suggested: objectSchema(
    {
      views: { type: 'integer', description: 'views from suggested traffic' },
      referrers: arrayOf(
        objectSchema({
          video_id: { type: 'string', description: 'the suggesting video (empty when the player did not say)' },
          title: { ...nullableString, description: 'from the catalog; null when it does not know the video' },
          views: { type: 'integer' },
          share: { type: 'number', description: '0..1 of the suggested views' },
        }),
        'the videos that suggested this one, most views first',
      ),
      other: objectSchema(
        { videos: { type: 'integer' }, views: { type: 'integer' } },
        'suggesting videos beyond the top ones',
      ),
    },
    'referrers + other = views',
  ),
});

interface Query extends RangeQuery {
  limit?: number;
  format?: string;
}

export const trafficRoutes: ApiRoutes = async (app) => {
  app.get<{ Params: { id: string }; Querystring: Query }>(
    '/v1/videos/:id/traffic',
    {
      schema: insightsSchema({
        tag: 'videos',
        summary: 'Traffic sources of a video',
        description: [
          'Views (sessions with counted_view = 1 that qualified in the range) by traffic source, and for',
          'suggested traffic the videos that suggested it (referrer_video_id) with their titles: the top `limit`',
          'and the rest. CSV columns: kind (source or referrer), value, title, views.',
        ],
        query: { limit: limitParam(20, 100, 'suggesting videos') },
        ok: okSchema,
      }),
    },
    async (request, reply) => {
      const ctx = ctxOf(request);
      const parsed = parseRange(request.query, ctx.now());
      const limit = intParam('limit', request.query.limit, 20, 1, 100);
      const video = await assertVideoAccess(request, request.params.id);
      const { finalIf } = await finalityFor(request, parsed.range.to, { views: true });
      const { open_views, ...t } = await traffic(ctx, video.video_id, parsed.range, limit);
      reply.finalRange = finalIf(open_views);
      const body = { video, range: rangeJson(parsed), ...t };
      return sendTabular(request, reply, body, () => ({
        name: `traffic-${video.video_id}`,
        columns: ['kind', 'value', 'title', 'views'],
        rows: [
          ...t.sources.map((x): Cell[] => ['source', x.value, null, x.views]),
          ...t.suggested.referrers.map((x): Cell[] => ['referrer', x.video_id, x.title, x.views]),
        ],
      }));
    },
  );
};
