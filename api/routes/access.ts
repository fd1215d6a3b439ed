// Access checks and the finality (ETag, caching) of a route's answer.
import { assertCreatorAccess, notFound } from '../auth.js';
import { finality, type Finality } from '../queries/finality.js';
import { creatorExists } from '../queries/video-catalog.js';
import { ctxOf } from './context.js';
import type { FastifyRequest } from 'fastify';

// ---------------------------------------------------------------------------- access

/**
 * assertCreatorAccess, and for admins (who may name any creator) a 404 when the catalog knows no
 * video of the creator — the same answer a creator gets for someone else's id.
 */
export async function accessCreator(request: FastifyRequest, creatorId: string): Promise<void> {
  assertCreatorAccess(request, creatorId);
  if (request.principal?.role === 'admin' && !(await creatorExists(ctxOf(request), creatorId)))
    throw notFound('creator');
}

/**
 * Whether the answer about a range ending at `to` can be final — then it gets an ETag,
 * `Cache-Control: private, max-age` and 304 on If-None-Match (set `reply.finalRange`): `to` at
 * or before finalized_through, and for answers built from the rollup or uniq states
 * (`engagement`) also the engagement processor past `to`. Ask before reading the data, so data
 * read afterwards is at least as final.
 *
 * An answer made of counted views' numbers (`views`: the rollup's views, watch time, averages,
 * retention) is final only if, besides, none of those views is still open: the route reads them
 * in one query that also sums their open_views, and asks `finalIf(thatSum)` — the numbers and
 * their open count are the same rows.
 */
export async function finalityFor(
  request: FastifyRequest,
  to: number,
  needs?: { engagement?: boolean },
): Promise<{ f: Finality; final: boolean }>;
export async function finalityFor(
  request: FastifyRequest,
  to: number,
  needs: { views: true },
): Promise<{ f: Finality; finalIf: (openViews: number) => boolean }>;
export async function finalityFor(
  request: FastifyRequest,
  to: number,
  needs: { engagement?: boolean; views?: true } = {},
): Promise<{ f: Finality; final?: boolean; finalIf?: (openViews: number) => boolean }> {
  const f = await finality(ctxOf(request));
  let final = f.counts !== null && to <= f.counts;
  if (final && (needs.engagement || needs.views)) final = f.engagement !== null && to <= f.engagement;
  if (needs.views) return { f, finalIf: (openViews) => final && openViews === 0 };
  return { f, final };
}
