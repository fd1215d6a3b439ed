// GET /v1/creators/:id/realtime — the last hour by minute, the last two days by hour, who is
// watching now, and what is hot.
import type { Cell } from '../csv.js';
import { realtime } from '../queries/creators.js';
import { arrayOf, countsProperties, insightsSchema, nullableString, objectSchema } from '../route-schemas.js';
import { accessCreator } from './access.js';
import { ctxOf, type ApiRoutes } from './context.js';
import { sendTabular } from './tabular.js';

const TOP_VIDEOS = 10;

const pointSchema = objectSchema({
  time: { type: 'string', format: 'date-time', description: 'window start' },
  views: { type: 'integer' },
  plays: { type: 'integer' },
});

const okSchema = objectSchema({
  creator_id: { type: 'string' },
  now: { type: 'string', format: 'date-time' },
  views_last_60_minutes: { type: 'integer' },
  views_last_48_hours: { type: 'integer' },
  minutes: arrayOf(pointSchema, '60 minute windows, the current one last'),
  hours: arrayOf(pointSchema, '48 hour windows (UTC), the current one last'),
  watching_now: objectSchema(
    { viewers: { type: 'integer' }, sessions: { type: 'integer' } },
    'open sessions with an event in the last 60 s, and their distinct viewers',
  ),
  top_videos: arrayOf(
    objectSchema({ video_id: { type: 'string' }, title: nullableString, ...countsProperties }),
    `the ${TOP_VIDEOS} videos with most views in the 48 hour windows`,
  ),
});

export const realtimeRoutes: ApiRoutes = async (app) => {
  app.get<{ Params: { id: string }; Querystring: { format?: string } }>(
    '/v1/creators/:id/realtime',
    {
      schema: insightsSchema({
        tag: 'creators',
        summary: 'What is happening now',
        description: [
          'Views and plays per minute for the last 60 minutes and per hour for the last 48 hours (the current',
          'window included, exact, from view_counts), viewers watching now (sessions not yet closed with an',
          `event in the last 60 s), and the top ${TOP_VIDEOS} videos of the 48 hours. Never cached.`,
          'CSV columns: grain, time, views, plays.',
        ],
        range: false,
        ok: okSchema,
      }),
    },
    async (request, reply) => {
      const ctx = ctxOf(request);
      const id = request.params.id;
      await accessCreator(request, id);
      const r = await realtime(ctx, id, ctx.now(), TOP_VIDEOS);
      const body = { creator_id: id, ...r };
      return sendTabular(request, reply, body, () => ({
        name: `realtime-${id}`,
        columns: ['grain', 'time', 'views', 'plays'],
        rows: [
          ...r.minutes.map((p): Cell[] => ['minute', p.time, p.views, p.plays]),
          ...r.hours.map((p): Cell[] => ['hour', p.time, p.views, p.plays]),
        ],
      }));
    },
  );
};
