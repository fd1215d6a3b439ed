// RFC 9457 problem details: every error an HTTP surface of Viewpulse answers is one
// `application/problem+json` document with `type`, `title`, `status`, `detail` and a stable
// `code`, plus extra members where they help (limits, retry hints, the request id).
//
//   throw new ProblemError('payload_too_large', 'at most 500 events per request', { max_events: 500 });
//
// installProblemHandlers() turns thrown ProblemErrors, fastify's own errors (bad JSON, body
// too large, unsupported media type) and unknown routes into problem documents, and
// clientErrorHandler answers malformed HTTP on the raw socket in the same shape.
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ErrorCode } from '../lib/errors.js';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** The kinds of problem the HTTP surfaces answer, with their status and stable code (from lib/errors.ts). */
export const PROBLEM_KINDS = {
  bad_request: { status: 400, title: 'Bad request', code: 'VP_ERR_HTTP_BAD_REQUEST' },
  invalid_json: { status: 400, title: 'Body is not valid JSON', code: 'VP_ERR_HTTP_INVALID_JSON' },
  unauthorized: { status: 401, title: 'Missing or invalid credentials', code: 'VP_ERR_HTTP_UNAUTHORIZED' },
  not_found: { status: 404, title: 'Not found', code: 'VP_ERR_HTTP_NOT_FOUND' },
  request_timeout: { status: 408, title: 'Request timeout', code: 'VP_ERR_HTTP_TIMEOUT' },
  payload_too_large: { status: 413, title: 'Payload too large', code: 'VP_ERR_HTTP_PAYLOAD_TOO_LARGE' },
  unsupported_media_type: {
    status: 415,
    title: 'Unsupported media type',
    code: 'VP_ERR_HTTP_UNSUPPORTED_MEDIA_TYPE',
  },
  rate_limited: { status: 429, title: 'Too many requests', code: 'VP_ERR_HTTP_RATE_LIMITED' },
  headers_too_large: { status: 431, title: 'Request headers too large', code: 'VP_ERR_HTTP_HEADERS_TOO_LARGE' },
  internal: { status: 500, title: 'Internal error', code: 'VP_ERR_HTTP_INTERNAL' },
  unavailable: { status: 503, title: 'Service unavailable', code: 'VP_ERR_HTTP_UNAVAILABLE' },
} as const satisfies Record<string, { status: number; title: string; code: ErrorCode }>;

export type ProblemKind = keyof typeof PROBLEM_KINDS;

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  [extra: string]: unknown;
}

export const problemType = (kind: ProblemKind): string => `urn:viewpulse:problem:${kind.replaceAll('_', '-')}`;

/** A problem document for `kind`; `extra` adds members (or overrides `code`). */
export function problem(kind: ProblemKind, detail: string, extra: Record<string, unknown> = {}): Problem {
  const k = PROBLEM_KINDS[kind];
  return { type: problemType(kind), title: k.title, status: k.status, detail, code: k.code, ...extra };
}

/** Thrown from hooks and handlers; the error handler answers it as a problem document. */
export class ProblemError extends Error {
  override name = 'ProblemError';
  readonly problem: Problem;

  constructor(
    kind: ProblemKind,
    detail: string,
    extra: Record<string, unknown> = {},
    /** Response headers, e.g. Retry-After. */
    readonly headers: Record<string, string> = {},
    options?: { cause?: unknown },
  ) {
    super(detail, options);
    this.problem = problem(kind, detail, extra);
  }

  get statusCode(): number {
    return this.problem.status;
  }
}

export function sendProblem(reply: FastifyReply, p: Problem, headers: Record<string, string> = {}): FastifyReply {
  return reply.code(p.status).headers(headers).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(p));
}

interface FastifyLikeError {
  code?: string;
  statusCode?: number;
  message?: string;
}

/** fastify's own errors (body parsing, limits, media types) as problem documents. */
export function problemFromError(err: unknown): { problem: Problem; headers: Record<string, string> } {
  if (err instanceof ProblemError) return { problem: err.problem, headers: err.headers };
  const e = (err ?? {}) as FastifyLikeError;
  switch (e.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_TYPE':
      return {
        problem: problem('unsupported_media_type', 'send the body as application/json', {
          accepted_media_types: ['application/json'],
        }),
        headers: { 'accept-post': 'application/json' },
      };
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { problem: problem('payload_too_large', 'the request body is larger than allowed'), headers: {} };
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { problem: problem('invalid_json', 'the body is not valid JSON'), headers: {} };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { problem: problem('invalid_json', 'the body is empty'), headers: {} };
  }
  const status = e.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const kind: ProblemKind =
      status === 401
        ? 'unauthorized'
        : status === 404
          ? 'not_found'
          : status === 408
            ? 'request_timeout'
            : status === 413
              ? 'payload_too_large'
              : status === 415
                ? 'unsupported_media_type'
                : status === 429
                  ? 'rate_limited'
                  : 'bad_request';
    const p = problem(kind, 'the request was not understood');
    return { problem: { ...p, status }, headers: {} };
  }
  return { problem: problem('internal', 'an unexpected error occurred; it has been logged'), headers: {} };
}

/**
 * Error handler and not-found handler answering problem documents, with the request id.
 * `toProblem` maps an error (default problemFromError; the insights API adds ClickHouse outages).
 */
export function installProblemHandlers(
  app: FastifyInstance,
  toProblem: typeof problemFromError = problemFromError,
): void {
  app.setErrorHandler((err: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const { problem: p, headers } = toProblem(err);
    if (p.status === 503) request.log.warn({ err, code: p.code, detail: p.detail }, 'service unavailable');
    else if (p.status >= 500) request.log.error({ err }, 'request failed');
    else request.log.debug({ code: p.code, detail: p.detail }, 'request refused');
    return sendProblem(reply, { ...p, request_id: request.id }, headers);
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, {
      ...problem('not_found', `no route ${request.method} ${request.url.slice(0, 200)}`),
      request_id: request.id,
    }),
  );
}

/**
 * Node's HTTP parser rejects malformed requests before fastify sees them; answer those with a
 * problem document too (pass as fastify's `clientErrorHandler`).
 */
export function clientErrorHandler(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || err.code === 'EPIPE' || !socket.writable) {
    socket.destroy(err);
    return;
  }
  const p =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? problem('headers_too_large', 'the request headers are larger than allowed')
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? problem('request_timeout', 'the request took too long to arrive')
        : problem('bad_request', 'the request is not valid HTTP');
  const body = JSON.stringify(p);
  const reason = p.title;
  socket.end(
    `HTTP/1.1 ${p.status} ${reason}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
