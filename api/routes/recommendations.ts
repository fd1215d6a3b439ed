// GET /v1/videos/:id/recommendations — related videos (item-to-item co-viewing);
// GET /v1/creators/:id/audience/also-watched — the other creators this creator's viewers watch.
// The scoring is in processors/recommendations/score.ts, the SQL in api/queries/recommendations.ts.
// Answers are never final (the graph keeps growing and decays with time): no ETag, no-store.
import { assertVideoAccess } from '../auth.js';
import type { Cell } from '../csv.js';
import {
  servedAlsoWatched,
  DEFAULT_READ,
  PRIVACY_MIN_VIEWERS,
  servedRelatedVideos,
  resolveRead,
  type ReadParams,
} from '../queries/recommendations.js';
import { arrayOf, insightsSchema, limitParam, objectSchema } from '../route-schemas.js';
import { accessCreator } from './access.js';
import { ctxOf, type ApiRoutes } from './context.js';
import { sendTabular } from './tabular.js';

const MAX_LIMIT = 50;

const halfLifeParam = {
  type: 'number',
  minimum: 0.5,
  maximum: 365,
  default: DEFAULT_READ.halfLifeDays,
  description: `time decay: a day this many days old weighs one half (0.5..365, default ${DEFAULT_READ.halfLifeDays})`,
};

const readSchema = {
  as_of: { type: 'string', format: 'date', description: 'UTC day the decay is measured from (today)' },
  lookback_days: { type: 'integer', description: 'days read, ending with as_of' },
  half_life_days: { type: 'number' },
  min_viewers: {
    type: 'integer',
    description: `k: a pair is shown only when at least this many distinct viewers co-viewed it (never below ${PRIVACY_MIN_VIEWERS})`,
  },
};

const relatedSchema = objectSchema({
  video_id: { type: 'string' },
  ...readSchema,
  exclude_same_creator: { type: 'boolean' },
  recommendations: arrayOf(
    objectSchema({
      video_id: { type: 'string' },
      title: { type: 'string' },
      creator_id: { type: 'string' },
      score: {
        type: 'number',
        description:
          'cosine similarity of the decayed co-view counts, 0..1: co-viewers / sqrt(viewers(a) × viewers(b))',
      },
      support: {
        type: 'integer',
        description: 'distinct viewers who co-viewed the two videos in the period (≥ min_viewers)',
      },
    }),
    'best first (score, then support, then video_id)',
  ),
});

const alsoWatchedSchema = objectSchema({
  creator_id: { type: 'string' },
  ...readSchema,
  sort: { type: 'string', enum: ['share', 'lift'] },
  creators: arrayOf(
    objectSchema({
      creator_id: { type: 'string' },
      share: {
        type: 'number',
        description:
          "decayed share of this creator's viewers who co-viewed one of the other creator's videos in a session",
      },
      lift: {
        type: 'number',
        description:
          'share ÷ the other creator’s share of all viewers: how much likelier than an average viewer (1 = no affinity)',
      },
      co_viewers: { type: 'number', description: 'decayed co-viewers (the numerator of share)' },
      support: { type: 'integer', description: 'distinct co-viewers in the period (≥ min_viewers)' },
    }),
    'ordered by sort (descending), then support, then creator_id',
  ),
});

const readJson = (o: ReturnType<typeof resolveRead>): Record<string, unknown> => ({
  as_of: o.asOf,
  lookback_days: o.lookbackDays,
  half_life_days: o.halfLifeDays,
  min_viewers: o.minViewers,
});

interface RelatedQuery {
  limit?: number;
  exclude_same_creator?: boolean;
  half_life_days?: number;
  format?: string;
}

interface AlsoWatchedQuery {
  limit?: number;
  sort?: 'share' | 'lift';
  half_life_days?: number;
  format?: string;
}

export const recommendationsRoutes: ApiRoutes = async (app) => {
  app.get<{ Params: { id: string }; Querystring: RelatedQuery }>(
    '/v1/videos/:id/recommendations',
    {
      schema: insightsSchema({
        tag: 'videos',
        summary: 'Videos related to a video',
        description: [
          'Item-to-item co-viewing: videos watched by the same viewers within a viewing session (qualified views',
          'less than 30 minutes apart, the first 20 videos of a session), counted once per viewer and day. score is',
          'the cosine of the co-view counts with a time decay (0.5 ^ (age_days / half_life_days)) over the last',
          `${DEFAULT_READ.lookbackDays} days; a video is listed only when at least ${PRIVACY_MIN_VIEWERS} distinct viewers`,
          'co-viewed it (privacy and minimum support). Only catalog videos are recommended, never the video itself;',
          'exclude_same_creator leaves out the same creator’s videos. With the default half_life_days the answer is',
          'read from related_videos, materialized per video and rescored within seconds of new co-views (and every',
          'UTC day); other half-lives are scored per request. CSV columns: video_id, title, creator_id, score, support.',
        ],
        query: {
          limit: limitParam(DEFAULT_READ.limit, MAX_LIMIT, 'related videos'),
          exclude_same_creator: {
            type: 'boolean',
            default: false,
            description: 'leave out videos of the same creator (default false)',
          },
          half_life_days: halfLifeParam,
        },
        range: false,
        ok: relatedSchema,
      }),
    },
    async (request, reply) => {
      const ctx = ctxOf(request);
      const video = await assertVideoAccess(request, request.params.id);
      const q = request.query;
      const read: ReadParams = { limit: q.limit ?? DEFAULT_READ.limit, halfLifeDays: q.half_life_days };
      const o = resolveRead(read, ctx.now());
      const exclude = q.exclude_same_creator ?? false;
      const recs = await servedRelatedVideos(ctx, video.video_id, { ...o, excludeSameCreator: exclude }, ctx.now());
      const body = {
        video_id: video.video_id,
        ...readJson(o),
        exclude_same_creator: exclude,
        recommendations: recs.map((r) => ({
          video_id: r.video_id,
          title: r.title,
          creator_id: r.creator_id,
          score: r.score,
          support: r.support,
        })),
      };
      return sendTabular(request, reply, body, () => ({
        name: `recommendations-${video.video_id}`,
        columns: ['video_id', 'title', 'creator_id', 'score', 'support'],
        rows: recs.map((r): Cell[] => [r.video_id, r.title, r.creator_id, r.score, r.support]),
      }));
    },
  );

  app.get<{ Params: { id: string }; Querystring: AlsoWatchedQuery }>(
    '/v1/creators/:id/audience/also-watched',
    {
      schema: insightsSchema({
        tag: 'creators',
        summary: "Creators this creator's viewers also watch",
        description: [
          "Other creators whose videos this creator's viewers watch in the same viewing sessions. share is the",
          "decayed share of this creator's viewers who co-viewed one of the other creator's videos; lift divides it",
          'by the other creator’s share of all viewers (overall popularity), so 1 means no particular affinity.',
          `Same decay and lookback as video recommendations; a creator is listed only when at least ${PRIVACY_MIN_VIEWERS}`,
          'distinct viewers co-viewed the two. Ownership comes from the catalog. sort: share (default) or lift. With',
          'the default half_life_days it is read from related_creators, materialized per creator as the co-views change.',
          'CSV columns: creator_id, share, lift, co_viewers, support.',
        ],
        query: {
          limit: limitParam(DEFAULT_READ.limit, MAX_LIMIT, 'creators'),
          sort: { type: 'string', enum: ['share', 'lift'], default: 'share', description: 'share (default) or lift' },
          half_life_days: halfLifeParam,
        },
        range: false,
        ok: alsoWatchedSchema,
      }),
    },
    async (request, reply) => {
      const ctx = ctxOf(request);
      const id = request.params.id;
      await accessCreator(request, id);
      const q = request.query;
      const o = resolveRead({ limit: q.limit ?? DEFAULT_READ.limit, halfLifeDays: q.half_life_days }, ctx.now());
      const sort = q.sort ?? 'share';
      const creators = await servedAlsoWatched(ctx, id, { ...o, sort }, ctx.now());
      const body = { creator_id: id, ...readJson(o), sort, creators };
      return sendTabular(request, reply, body, () => ({
        name: `also-watched-${id}`,
        columns: ['creator_id', 'share', 'lift', 'co_viewers', 'support'],
        rows: creators.map((c): Cell[] => [c.creator_id, c.share, c.lift, c.co_viewers, c.support]),
      }));
    },
  );
};
