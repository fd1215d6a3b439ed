// GET /v1/creators/:id/health — how fresh and how final a creator's numbers are.
import { health } from '../queries/health.js';
import {
  arrayOf,
  finalizedThroughSchema,
  insightsSchema,
  nullableNumber,
  nullableString,
  objectSchema,
  rangeSchema,
} from '../route-schemas.js';
import { accessCreator } from './access.js';
import { ctxOf, type ApiRoutes } from './context.js';
import { parseRange, rangeJson, type RangeQuery } from './range-params.js';

const okSchema = objectSchema({
  creator_id: { type: 'string' },
  now: { type: 'string', format: 'date-time' },
  newest_watermark: { ...nullableString, description: 'the most advanced watermark of any processor partition' },
  freshness_seconds: { ...nullableNumber, description: 'now − newest_watermark, in seconds' },
  finalized_through: finalizedThroughSchema,
  processors: arrayOf(
    objectSchema({
      processor: { type: 'string' },
      partitions: { type: 'integer' },
      oldest_watermark: { type: 'string', format: 'date-time' },
      newest_watermark: { type: 'string', format: 'date-time' },
    }),
    'watermarks per processor over its input partitions',
  ),
  range: rangeSchema,
  late_events: objectSchema(
    {
      applied: { type: 'integer', description: 'late events still counted (as delta rows)' },
      set_aside: { type: 'integer', description: 'late events not applied (their session had closed)' },
      by_processor: arrayOf(
        objectSchema({
          processor: { type: 'string' },
          applied: { type: 'integer' },
          set_aside: { type: 'integer' },
          worst_lateness_ms: { type: 'integer' },
        }),
      ),
    },
    "late events of the creator's videos with an event time in the range (late_events FINAL)",
  ),
  dead_letters: objectSchema(
    {
      records: { type: 'integer', description: "distinct records of the creator's videos a processor refused" },
      by_code: arrayOf(objectSchema({ code: { type: 'string' }, records: { type: 'integer' } }), 'VP_ERR_... codes'),
      undecodable_records: {
        type: 'integer',
        description: 'records no processor could decode (no video known), pipeline-wide',
      },
    },
    'input records sent to the dead-letter topic with a Kafka timestamp in the range (dead_letters FINAL)',
  ),
});

export const healthRoutes: ApiRoutes = async (app) => {
  app.get<{ Params: { id: string }; Querystring: RangeQuery }>(
    '/v1/creators/:id/health',
    {
      schema: insightsSchema({
        tag: 'creators',
        summary: "How fresh and final a creator's numbers are",
        description: [
          'Data freshness (now − the newest processor watermark), finalized_through (the lowest view-counts',
          'watermark minus the window grace: counts up to there are final), watermarks per processor, and the late',
          "events of the creator's videos in the range: applied (still counted) and set aside, and the records of",
          'its videos that a processor refused (dead letters, by code) plus the undecodable records pipeline-wide.',
          'JSON only.',
        ],
        csv: false,
        ok: okSchema,
      }),
    },
    async (request, reply) => {
      const ctx = ctxOf(request);
      const id = request.params.id;
      const parsed = parseRange(request.query, ctx.now());
      await accessCreator(request, id);
      const h = await health(ctx, id, parsed.range, ctx.now());
      reply.header('cache-control', 'no-store');
      return { creator_id: id, ...h, range: rangeJson(parsed) };
    },
  );
};
