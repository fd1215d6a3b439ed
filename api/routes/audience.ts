// GET /v1/creators/:id/audience — who watches a creator: unique, new and returning viewers,
// countries and devices.
import type { Cell } from '../csv.js';
import { audience } from '../queries/creators.js';
import { arrayOf, insightsSchema, objectSchema, rangeSchema } from '../route-schemas.js';
import { accessCreator, finalityFor } from './access.js';
import { ctxOf, type ApiRoutes } from './context.js';
import { parseRange, rangeJson, type RangeQuery } from './range-params.js';
import { sendTabular } from './tabular.js';

const rowSchema = objectSchema({
  value: { type: 'string' },
  views: { type: 'integer' },
  viewers: {
    type: 'integer',
    description:
      'distinct viewers among those views (an estimate: uniqCombined states of the minutes, hours and days making up the range; a viewer whose view the repeat cap un-counted later may stay counted)',
  },
  watch_time_ms: { type: 'integer' },
});

const okSchema = objectSchema({
  creator_id: { type: 'string' },
  range: rangeSchema,
  unique_viewers: {
    type: 'integer',
    description: 'viewers with any event in the range (hourly uniq states, estimate)',
  },
  new_viewers: { type: 'integer', description: 'viewers this creator saw for the first time in the range (exact)' },
  returning_viewers: { type: 'integer', description: 'unique_viewers − new_viewers' },
  views: { type: 'integer', description: 'views (counted_view = 1) that qualified in the range' },
  countries: arrayOf(rowSchema, 'ISO 3166-1 alpha-2 (ZZ unknown), most views first; views add up to views'),
  devices: arrayOf(rowSchema, 'most views first; views add up to views'),
});

export const audienceRoutes: ApiRoutes = async (app) => {
  app.get<{ Params: { id: string }; Querystring: RangeQuery & { format?: string } }>(
    '/v1/creators/:id/audience',
    {
      schema: insightsSchema({
        tag: 'creators',
        summary: "A creator's audience",
        description: [
          'unique_viewers merges the hourly uniq states of the hours starting in the range; new_viewers counts the',
          "viewers whose first event with any of the creator's videos lies in the range (first-seen states);",
          'returning_viewers are the rest. countries and devices count the views (sessions with counted_view = 1',
          'that qualified in the range; engagement_rollup) and their distinct viewers (estimates). CSV columns: dimension, value, views, viewers,',
          'watch_time_ms.',
        ],
        ok: okSchema,
      }),
    },
    async (request, reply) => {
      const ctx = ctxOf(request);
      const id = request.params.id;
      const parsed = parseRange(request.query, ctx.now());
      await accessCreator(request, id);
      const { finalIf } = await finalityFor(request, parsed.range.to, { views: true });
      const { open_views, ...a } = await audience(ctx, id, parsed.range);
      reply.finalRange = finalIf(open_views);
      const body = { creator_id: id, range: rangeJson(parsed), ...a };
      return sendTabular(request, reply, body, () => ({
        name: `audience-${id}`,
        columns: ['dimension', 'value', 'views', 'viewers', 'watch_time_ms'],
        rows: [
          ...a.countries.map((x): Cell[] => ['country', x.value, x.views, x.viewers, x.watch_time_ms]),
          ...a.devices.map((x): Cell[] => ['device', x.value, x.views, x.viewers, x.watch_time_ms]),
        ],
      }));
    },
  );
};
