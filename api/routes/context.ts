// What every insights route plugin is and reads from: the plugin type, the context buildApp sets
// (ClickHouse, the database, the clock), 400 answers and integer parameters. Routes are listed
// in ./index.ts.
import { ProblemError } from '../problem.js';
import type { FinalityDb } from '../queries/db.js';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';

/** A route file exports one of these; ./index.ts lists them in ROUTES. */
export type ApiRoutes = FastifyPluginAsync;

declare module 'fastify' {
  interface FastifyReply {
    /** set by a handler when its answer can no longer change: ETag, Cache-Control, 304 */
    finalRange: boolean;
  }
}

export type ApiContext = FinalityDb & { now: () => number };

/** What a route reads from: ClickHouse, the database, the window grace, the clock (set by buildApp). */
export const ctxOf = (request: FastifyRequest): ApiContext => request.server.viewpulse;

export const badRequest = (detail: string, extra: Record<string, unknown> = {}): ProblemError =>
  new ProblemError('bad_request', detail, extra);

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
