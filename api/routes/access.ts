// Access checks and the finality (ETag, caching) of a route's answer.
import { assertCreatorAccess, notFound } from '../auth.js';
import type { Dim } from '../queries/counts.js';
import { finality, type Finality } from '../queries/finality.js';
import type { Range } from '../queries/range.js';
import { openViews } from '../queries/sessions.js';
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
 * Whether the answer about a range ending at `to` is final — then it gets an ETag,
 * `Cache-Control: private, max-age` and 304 on If-None-Match (set `reply.finalRange`): `to` at
 * or before finalized_through; for answers built from sessions or uniq states also the
 * engagement processor past `to`, and (sessions) every view of the range closed. Ask before
 * reading the data, so data read afterwards is at least as final.
 */
export async function finalityFor(
  request: FastifyRequest,
  to: number,
  needs: { engagement?: boolean; sessionsOf?: { dim: Dim; id: string; range: Range } } = {},
): Promise<{ f: Finality; final: boolean }> {
  const ctx = ctxOf(request);
  const f = await finality(ctx);
  let final = f.counts !== null && to <= f.counts;
  if (final && (needs.engagement || needs.sessionsOf)) final = f.engagement !== null && to <= f.engagement;
  if (final && needs.sessionsOf) {
    const s = needs.sessionsOf;
    final = (await openViews(ctx, s.dim, s.id, s.range)) === 0;
  }
  return { f, final };
}
