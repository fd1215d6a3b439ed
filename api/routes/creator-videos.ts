// GET /v1/creators/:id/videos — a creator's videos, best first, page by page.
import { creatorVideos, sortValue, VIDEO_SORTS, type VideoKey, type VideoSort } from '../queries/creators.js';
import {
  arrayOf,
  countsProperties,
  insightsSchema,
  limitParam,
  nullableString,
  objectSchema,
  rangeSchema,
} from '../route-schemas.js';
import { ID_PATTERN } from '../auth.js';
import { MAX_TIME_MS, MIN_TIME_MS } from '../queries/range.js';
import { accessCreator, finalityFor } from './access.js';
import { intParam, ctxOf, type ApiRoutes } from './context.js';
import { badRequest } from './context.js';
import { parseRange, rangeJson, type RangeQuery } from './range-params.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { sendTabular } from './tabular.js';

const MAX_LIMIT = 100;

const videoRow = objectSchema({
  video_id: { type: 'string' },
  title: { type: 'string' },
  duration_ms: { type: 'integer' },
  published_at: { type: 'string', format: 'date-time' },
  ...countsProperties,
});

const okSchema = objectSchema({
  creator_id: { type: 'string' },
  sort: { type: 'string', enum: [...VIDEO_SORTS] },
  range: rangeSchema,
  videos: arrayOf(videoRow, 'ordered by sort (descending), then video_id'),
  next_cursor: { ...nullableString, description: 'pass as cursor for the next page; null on the last page' },
});

interface Query extends RangeQuery {
  sort?: VideoSort;
  limit?: number;
  cursor?: string;
  format?: string;
}

const ID_RE = new RegExp(ID_PATTERN);

/** The cursor's keyset position and range, checked against this request (same sort, same range if given). */
function readCursor(text: string, sort: VideoSort): { key: VideoKey; from: number; to: number } {
  const c = decodeCursor(text);
  const ok =
    c.s === sort &&
    typeof c.f === 'number' &&
    typeof c.t === 'number' &&
    Number.isSafeInteger(c.f) &&
    Number.isSafeInteger(c.t) &&
    (c.f as number) >= MIN_TIME_MS &&
    (c.t as number) <= MAX_TIME_MS &&
    typeof c.v === 'number' &&
    Number.isSafeInteger(c.v) &&
    typeof c.id === 'string' &&
    ID_RE.test(c.id);
  if (!ok) throw badRequest('cursor: not a cursor of this sort (keep sort when paging)');
  return { key: { value: c.v as number, video_id: c.id as string }, from: c.f as number, to: c.t as number };
}

export const creatorVideosRoutes: ApiRoutes = async (app) => {
  app.get<{ Params: { id: string }; Querystring: Query }>(
    '/v1/creators/:id/videos',
    {
      schema: insightsSchema({
        tag: 'creators',
        summary: "A creator's top videos",
        description: [
          'Every video of the creator in the catalog (zeros included) with its exact plays, views and watch time',
          'in the range, ordered by sort descending and then video_id. Keyset pagination: next_cursor is opaque,',
          'tied to sort and the range: pass it with the same sort (and from/to, or none: the cursor keeps the',
          'range of the first page). CSV: one row per video of the page.',
        ],
        query: {
          sort: { type: 'string', enum: [...VIDEO_SORTS], default: 'views', description: 'order (default views)' },
          limit: limitParam(20, MAX_LIMIT, 'videos per page'),
          cursor: {
            type: 'string',
            minLength: 1,
            maxLength: 512,
            pattern: '^[A-Za-z0-9_-]+$',
            description:
              'next_cursor of the previous page. Opaque: only a value this API answered as next_cursor is accepted, ' +
              'with the same sort, and with the same from/to or none (the cursor keeps the range of its first page); ' +
              'anything else is a 400 "cursor: ...".',
          },
        },
        ok: okSchema,
      }),
    },
    async (request, reply) => {
      const ctx = ctxOf(request);
      const id = request.params.id;
      const sort = request.query.sort ?? 'views';
      const limit = intParam('limit', request.query.limit, 20, 1, MAX_LIMIT);
      const cursor = request.query.cursor === undefined ? undefined : readCursor(request.query.cursor, sort);
      const q = request.query;
      // A cursor keeps the range of its first page unless from/to are given again.
      const parsed = parseRange(
        cursor && q.from === undefined && q.to === undefined
          ? { from: new Date(cursor.from).toISOString(), to: new Date(cursor.to).toISOString(), tz: q.tz }
          : q,
        ctx.now(),
      );
      if (cursor && (cursor.from !== parsed.range.from || cursor.to !== parsed.range.to))
        throw badRequest('cursor: it belongs to another range (keep from and to when paging)');
      const after = cursor?.key;
      await accessCreator(request, id);
      const { final } = await finalityFor(request, parsed.range.to);
      const found = await creatorVideos(ctx, id, parsed.range, sort, limit, after);
      const page = found.slice(0, limit);
      const last = page[page.length - 1];
      const next =
        found.length > limit && last
          ? encodeCursor({
              s: sort,
              f: parsed.range.from,
              t: parsed.range.to,
              v: sortValue(last, sort),
              id: last.video_id,
            })
          : null;
      reply.finalRange = final;
      const body = { creator_id: id, sort, range: rangeJson(parsed), videos: page, next_cursor: next };
      if (next) reply.header('x-next-cursor', next);
      return sendTabular(request, reply, body, () => ({
        name: `videos-${id}`,
        columns: ['video_id', 'title', 'duration_ms', 'published_at', 'plays', 'views', 'watch_time_ms'],
        rows: page.map((x) => [x.video_id, x.title, x.duration_ms, x.published_at, x.plays, x.views, x.watch_time_ms]),
      }));
    },
  );
};
