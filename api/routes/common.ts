// What the insights route plugins share: parameter parsing (ranges, time zones, cursors),
// content negotiation (JSON or CSV), caching of final ranges, and access checks. Not a route
// file itself (routes are listed in ./index.ts).
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { assertCreatorAccess, notFound } from '../auth.js';
import { CSV_CONTENT_TYPE, toCsv, type Cell } from '../csv.js';
import { ProblemError } from '../problem.js';
import { creatorExists, finality, openViews, type Db, type Dim, type Finality } from '../queries/common.js';
import {
  bucketBoundaries,
  floorTo,
  isTimeZone,
  iso,
  parseInstant,
  type Interval,
  type Range,
} from '../queries/range.js';
import { DEFAULT_RANGE_DAYS, MAX_RANGE_DAYS } from '../route-schemas.js';
import { DAY, MINUTE } from '../../lib/time.js';

/** A route file exports one of these; ./index.ts lists them in ROUTES. */
export type ApiRoutes = FastifyPluginAsync;

declare module 'fastify' {
  interface FastifyReply {
    /** set by a handler when its answer can no longer change: ETag, Cache-Control, 304 */
    finalRange: boolean;
  }
}

export type ApiContext = Db & { now: () => number };

/** What a route reads from: ClickHouse, the database, the clock (set by buildApp). */
export const ctxOf = (request: FastifyRequest): ApiContext => request.server.viewpulse;

export const badRequest = (detail: string, extra: Record<string, unknown> = {}): ProblemError =>
  new ProblemError('bad_request', detail, extra);

// ---------------------------------------------------------------------------- ranges

export interface RangeQuery {
  from?: string;
  to?: string;
  tz?: string;
}

export interface ParsedRange {
  range: Range;
  tz: string;
}

export function parseTz(tz: string | undefined): string {
  const zone = tz ?? 'UTC';
  if (!isTimeZone(zone)) throw badRequest(`tz: unknown time zone ${JSON.stringify(zone.slice(0, 64))}`);
  return zone;
}

/**
 * from/to/tz → a validated range of whole minutes: to > from, at most MAX_RANGE_DAYS. Defaults:
 * to = now (the current minute included), from = DEFAULT_RANGE_DAYS before to.
 */
export function parseRange(q: RangeQuery, now: number, maxDays = MAX_RANGE_DAYS): ParsedRange {
  const tz = parseTz(q.tz);
  const instant = (name: 'from' | 'to', text: string): number => {
    try {
      return floorTo(parseInstant(text, tz), MINUTE);
    } catch (err) {
      throw badRequest(`${name}: ${(err as Error).message}`);
    }
  };
  const to = q.to === undefined ? floorTo(now, MINUTE) + MINUTE : instant('to', q.to);
  const from = q.from === undefined ? to - DEFAULT_RANGE_DAYS * DAY : instant('from', q.from);
  if (to <= from) throw badRequest('to must be at least a minute after from');
  if (to - from > maxDays * DAY) throw badRequest(`the range may span at most ${maxDays} days`);
  return { range: { from, to }, tz };
}

export const rangeJson = (p: ParsedRange): { from: string; to: string; tz: string } => ({
  from: iso(p.range.from),
  to: iso(p.range.to),
  tz: p.tz,
});

/** The previous period of equal length, right before `r`. */
export const previousOf = (r: Range): Range => ({ from: r.from - (r.to - r.from), to: r.from });

/** The bucket boundaries of a series, or a 400 when there are too many. */
export function boundariesOf(p: ParsedRange, interval: Interval, max: number): number[] {
  try {
    return bucketBoundaries(p.range, interval, p.tz, max);
  } catch {
    throw badRequest(`too many points: at most ${max} ${interval} buckets; shorten the range or widen the interval`, {
      max_points: max,
    });
  }
}

/**
 * An integer query parameter, checked again after the schema: ajv's type coercion turns "1e309"
 * into Infinity, which slips past `integer` and `maximum`.
 */
export function intParam(name: string, value: number | undefined, def: number, min: number, max: number): number {
  const n = value ?? def;
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw badRequest(`${name}: expected a whole number ${min}..${max}`);
  return n;
}

// ---------------------------------------------------------------------------- cursors

/**
 * Opaque keyset cursors: base64url JSON. Decoded and checked strictly; anything else is a 400.
 */
export function encodeCursor(c: Record<string, string | number>): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

export function decodeCursor(text: string): Record<string, unknown> {
  try {
    if (!/^[A-Za-z0-9_-]{1,512}$/.test(text)) throw new Error('shape');
    const value: unknown = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('shape');
    return value as Record<string, unknown>;
  } catch {
    throw badRequest('cursor: not a cursor this API gave out');
  }
}

// ---------------------------------------------------------------------------- formats

/** CSV when ?format=csv, or when Accept prefers text/csv over JSON; JSON otherwise. */
export function wantsCsv(request: FastifyRequest): boolean {
  const format = (request.query as { format?: string } | undefined)?.format;
  if (format) return format === 'csv';
  const accept = request.headers.accept;
  if (!accept) return false;
  let best: { type: string; q: number } | undefined;
  for (const part of accept.split(',').slice(0, 20)) {
    const [type = '', ...params] = part.trim().toLowerCase().split(';');
    const qp = params.map((s) => s.trim()).find((s) => s.startsWith('q='));
    const q = qp ? Number(qp.slice(2)) : 1;
    if (!(q > 0)) continue;
    if (type !== 'text/csv' && type !== 'application/json' && type !== 'application/*' && type !== '*/*') continue;
    if (!best || q > best.q) best = { type, q };
  }
  return best?.type === 'text/csv';
}

/** JSON `body`, or the CSV table when the client asked for CSV. */
export function sendTabular(
  request: FastifyRequest,
  reply: FastifyReply,
  body: unknown,
  table: () => { columns: string[]; rows: Cell[][]; name: string },
): FastifyReply | unknown {
  if (!wantsCsv(request)) return body;
  const t = table();
  return reply
    .type(CSV_CONTENT_TYPE)
    .header('content-disposition', `inline; filename="${t.name}.csv"`)
    .send(toCsv(t.columns, t.rows));
}

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
