// GET /v1/videos/:id/retention — the audience retention curve, against similar videos.
import type { Cell } from '../csv.js';
import { assertVideoAccess } from '../auth.js';
import { RETENTION_POINTS, retention } from '../queries/videos.js';
import { arrayOf, insightsSchema, objectSchema, rangeSchema, videoSchema } from '../route-schemas.js';
import { ctxOf, type ApiRoutes } from './context.js';
import { finalityFor } from './access.js';
import { parseRange, rangeJson, type RangeQuery } from './range-params.js';
import { sendTabular } from './tabular.js';

const pointsSchema = arrayOf(
  objectSchema({
    percent: { type: 'integer', minimum: 0, maximum: 100 },
    retention: { type: 'number', description: '0..1: share of the views still watching at this percent' },
  }),
  `${RETENTION_POINTS} points, percent 0..100`,
);

const okSchema = objectSchema({
  video: videoSchema,
  range: rangeSchema,
  views: { type: 'integer', description: 'views (counted_view = 1) that qualified in the range' },
  points: pointsSchema,
  stall_exits: arrayOf(
    objectSchema({
      percent: { type: 'integer', minimum: 0, maximum: 100, description: "the exit point: the last event's position" },
      views: { type: 'integer', minimum: 1, description: 'views in the range that left right after a stall here' },
    }),
    'per percent point with at least one, ascending: views (counted_view = 1, qualified in the range) that left right after a stall — their last event, not complete, was during a stall or at most 10 s after a rebuffer_end (docs/semantics.md "Left after a stall")',
  ),
  stall_exit_marker_min: {
    type: 'integer',
    minimum: 2,
    description: 'the chart marks a stall_exits point with at least this many views: max(2, ceil(2 % of views))',
  },
  comparison: objectSchema({
    description: { type: 'string' },
    min_duration_ms: { type: 'integer' },
    max_duration_ms: { type: 'integer' },
    videos: { type: 'integer', description: 'similar videos with views in the range' },
    views: { type: 'integer' },
    points: pointsSchema,
  }),
});

export const retentionRoutes: ApiRoutes = async (app) => {
  app.get<{ Params: { id: string }; Querystring: RangeQuery & { format?: string } }>(
    '/v1/videos/:id/retention',
    {
      schema: insightsSchema({
        tag: 'videos',
        summary: 'Audience retention',
        description: [
          'For each percent 0..100 of the video, the share of its views (sessions with counted_view = 1 that',
          'qualified in the range) whose watched segments cover it (docs/semantics.md: seeks are handled,',
          "re-watching counts once). comparison: the mean curve of the creator's other videos lasting ×0.5..×2",
          'as long, each video weighing the same. stall_exits: per percent, the views that left right after a stall',
          'there (last event during a stall or ≤ 10 s after a rebuffer_end, not complete); the dashboard marks',
          'points with at least stall_exit_marker_min = max(2, 2 % of views). CSV columns: percent, retention, comparison.',
        ],
        ok: okSchema,
      }),
    },
    async (request, reply) => {
      const ctx = ctxOf(request);
      const parsed = parseRange(request.query, ctx.now());
      const video = await assertVideoAccess(request, request.params.id);
      const { finalIf } = await finalityFor(request, parsed.range.to, { views: true });
      const { open_views, ...r } = await retention(ctx, video, parsed.range);
      reply.finalRange = finalIf(open_views);
      const body = { video, range: rangeJson(parsed), ...r };
      return sendTabular(request, reply, body, () => ({
        name: `retention-${video.video_id}`,
        columns: ['percent', 'retention', 'comparison'],
        rows: r.points.map((p, i): Cell[] => [p.percent, p.retention, r.comparison.points[i]?.retention ?? null]),
      }));
    },
  );
};
