// GET /v1/creators/:id/qoe and /v1/videos/:id/qoe — quality of experience: startup time,
// rebuffering and playback failures of the plays that started in a range, totals and series.
import { assertVideoAccess } from '../auth.js';
import type { Dim } from '../queries/counts.js';
import { qoe, type Qoe } from '../queries/qoe.js';
import { iso, type Interval } from '../queries/range.js';
import {
  arrayOf,
  finalizedThroughSchema,
  insightsSchema,
  nullableNumber,
  objectSchema,
  rangeSchema,
  videoSchema,
} from '../route-schemas.js';
import { accessCreator, finalityFor } from './access.js';
import { ctxOf, type ApiRoutes } from './context.js';
import { boundariesOf, parseRange, rangeJson, type RangeQuery } from './range-params.js';
import { sendTabular } from './tabular.js';
import { MAX_POINTS } from './timeseries.js';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** At most this many buckets in the series: hours over the longest range (400 days) fit. */
export const QOE_MAX_POINTS = MAX_POINTS;
const QOE_INTERVALS: readonly Interval[] = ['hour', 'day'];

const figureProperties = {
  plays: { type: 'integer', description: 'sessions with a play_start whose first event lies in the range (exact)' },
  startup_measured: { type: 'integer', description: 'plays that reported a startup time (startup_ms)' },
  startup_ms_p50: {
    ...nullableNumber,
    description:
      'median startup time in ms, an estimate: the nearest-rank median of startup times counted in buckets 1 % wide (exact below 128 ms), so within 1 % of a startup time at that rank; null without a measured startup',
  },
  startup_ms_p95: {
    ...nullableNumber,
    description: '95th percentile startup time in ms, an estimate (nearest rank over 1 % buckets, as the median)',
  },
  rebuffering_ratio: {
    ...nullableNumber,
    description: '0..1: rebuffer_ms / (watch_time_ms + rebuffer_ms) over the plays (exact); null when both are 0',
  },
  rebuffer_ms: { type: 'integer', description: 'stall time of the plays, ms (the rebuffer_end events)' },
  watch_time_ms: { type: 'integer', description: 'watch time of the plays, ms (whole sessions)' },
  rebuffers: { type: 'integer', description: 'stalls (rebuffer_end events) of the plays' },
  rebuffers_per_play: { ...nullableNumber, description: 'rebuffers / plays; null without plays' },
  plays_with_rebuffer: { type: 'integer', description: 'plays with at least one stall' },
  failures: { type: 'integer', description: 'plays with at least one error event (exact)' },
  failure_rate: { ...nullableNumber, description: '0..1: failures / plays; null without plays' },
} as const;

const okProperties = {
  range: rangeSchema,
  interval: { type: 'string', enum: QOE_INTERVALS },
  finalized_through: finalizedThroughSchema,
  open_plays: { type: 'integer', description: 'plays whose session is still open (their figures may still change)' },
  totals: objectSchema(figureProperties),
  series: arrayOf(
    objectSchema({ time: { type: 'string', format: 'date-time' }, ...figureProperties }),
    'one point per bucket of interval (in tz) by the start of the play, zeros and nulls included',
  ),
};

const DESCRIPTION = [
  'Quality of experience of the plays that started in the range (sessions with a play_start whose first',
  'event time lies in [from, to), each at its latest version; docs/semantics.md "Quality of experience"):',
  'startup time p50 and p95 over the plays that reported one (estimates, not exact: nearest rank over a histogram of 1 % buckets),',
  'read from the engagement rollup (sums per window of the play start, never per session);',
  'rebuffering ratio = stall time / (watch time + stall time), stalls per play, and playback failures',
  '(plays with at least one error event) with their share of the plays; exact counts. Totals and one point',
  'per hour or day (in tz). Final ranges (finalized_through, the engagement processor past to and every',
  'play closed) get an ETag and Cache-Control. CSV: the series (time, plays, startup_ms_p50,',
  'startup_ms_p95, rebuffering_ratio, rebuffers, failures).',
];

interface Query extends RangeQuery {
  interval?: Interval;
  format?: string;
}

const intervalParam = {
  type: 'string',
  enum: QOE_INTERVALS,
  default: 'day',
  description: 'bucket of the series: hour or day (in tz)',
};

async function answer(
  request: FastifyRequest<{ Params: { id: string }; Querystring: Query }>,
  reply: FastifyReply,
  dim: Dim,
  id: string,
  head: Record<string, unknown>,
): Promise<unknown> {
  const ctx = ctxOf(request);
  const interval = request.query.interval ?? 'day';
  const parsed = parseRange(request.query, ctx.now());
  const boundaries = boundariesOf(parsed, interval, QOE_MAX_POINTS);
  const { f, final } = await finalityFor(request, parsed.range.to, { engagement: true });
  const q: Qoe = await qoe(ctx, dim, id, boundaries);
  reply.finalRange = final && q.open === 0;
  const series = q.series.map((s, i) => ({ time: iso(boundaries[i]!), ...s }));
  const body = {
    ...head,
    range: rangeJson(parsed),
    interval,
    finalized_through: f.counts === null ? null : iso(f.counts),
    open_plays: q.open,
    totals: q.totals,
    series,
  };
  return sendTabular(request, reply, body, () => ({
    name: `qoe-${id}`,
    columns: ['time', 'plays', 'startup_ms_p50', 'startup_ms_p95', 'rebuffering_ratio', 'rebuffers', 'failures'],
    rows: series.map((s) => [
      s.time,
      s.plays,
      s.startup_ms_p50,
      s.startup_ms_p95,
      s.rebuffering_ratio,
      s.rebuffers,
      s.failures,
    ]),
  }));
}

export const qoeRoutes: ApiRoutes = async (app) => {
  app.get<{ Params: { id: string }; Querystring: Query }>(
    '/v1/creators/:id/qoe',
    {
      schema: insightsSchema({
        tag: 'creators',
        summary: "Quality of experience of a creator's plays",
        description: [...DESCRIPTION, "A creator's plays are those of its catalog videos."],
        query: { interval: intervalParam },
        ok: objectSchema({ creator_id: { type: 'string' }, ...okProperties }),
      }),
    },
    async (request, reply) => {
      const id = request.params.id;
      await accessCreator(request, id);
      return answer(request, reply, 'creator', id, { creator_id: id });
    },
  );
  app.get<{ Params: { id: string }; Querystring: Query }>(
    '/v1/videos/:id/qoe',
    {
      schema: insightsSchema({
        tag: 'videos',
        summary: "Quality of experience of a video's plays",
        description: DESCRIPTION,
        query: { interval: intervalParam },
        ok: objectSchema({ video: videoSchema, ...okProperties }),
      }),
    },
    async (request, reply) => {
      const video = await assertVideoAccess(request, request.params.id);
      return answer(request, reply, 'video', video.video_id, { video });
    },
  );
};
