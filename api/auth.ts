// Authentication and authorization of the insights API (DESIGN.md, security model).
//
//  - Every /v1 route needs `Authorization: Bearer <JWT>`, HS256-signed with
//    VIEWPULSE_JWT_SECRET, with `sub` (the creator id), `role` (creator | admin) and `exp`.
//    Missing, malformed, badly signed or expired tokens: 401 problem+json with
//    `WWW-Authenticate: Bearer ...` (RFC 6750) and a `reason`.
//  - A creator reads only its own creator and videos; anything else is 404, with the body a
//    truly missing one gets, so existence is never revealed. An admin reads everything.
//  - Each token (sub + role) has a token-bucket rate limit: 429 with Retry-After.
//
// Routes reuse three helpers:
//   app.register(..) inside the /v1 scope gets `request.principal` set by the auth hook;
//   assertCreatorAccess(request, creatorId)        sync: throws the 404 when not allowed
//   await assertVideoAccess(request, videoId)       looks the video up in `videos` FINAL (VideoLookups);
//                                                  unknown, deleted or not yours → 404
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { TokenBuckets, type RateLimitOptions } from '../lib/rate-limit.js';
import { ProblemError } from './problem.js';
import type { VideoLookups, VideoRecord } from './queries/video-catalog.js';
import type { FinalityDb } from './queries/db.js';

export const ROLES = ['creator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface Principal {
  /** the creator id (admins: whatever the issuer put in `sub`) */
  sub: string;
  role: Role;
}

/** Identifiers the API serves (creator and video ids, token subjects). */
export const ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$';
const ID_RE = new RegExp(ID_PATTERN);

declare module 'fastify' {
  interface FastifyRequest {
    /** set by the auth hook on every /v1 route */
    principal: Principal | null;
  }
  interface FastifyInstance {
    /** what the insights routes read from: set by buildApp */
    viewpulse: FinalityDb & { now: () => number; videos: VideoLookups };
  }
}

const REALM = 'viewpulse';
const encoder = new TextEncoder();

export type AuthFailure = 'missing_token' | 'malformed_header' | 'invalid_token' | 'token_expired' | 'invalid_claims';

const FAILURE_DETAIL: Record<AuthFailure, string> = {
  missing_token: 'send a bearer token: Authorization: Bearer <token>',
  malformed_header: 'the Authorization header must be "Bearer <token>"',
  invalid_token: 'the token is not valid (malformed, or not signed with this server’s secret)',
  token_expired: 'the token has expired; ask for a new one',
  invalid_claims: 'the token must carry sub (a creator id), role (creator or admin) and exp',
};

export function unauthorized(reason: AuthFailure): ProblemError {
  const params =
    reason === 'missing_token'
      ? `Bearer realm="${REALM}"`
      : `Bearer realm="${REALM}", error="${reason === 'malformed_header' ? 'invalid_request' : 'invalid_token'}", error_description="${reason.replaceAll('_', ' ')}"`;
  return new ProblemError('unauthorized', FAILURE_DETAIL[reason], { reason }, { 'www-authenticate': params });
}

/** The one "not found" of a creator or video: the same for "not yours" and "does not exist". */
export function notFound(what: 'creator' | 'video'): ProblemError {
  return new ProblemError('not_found', `no such ${what}`);
}

export interface TokenOptions {
  secret: string;
  sub: string;
  role: Role;
  ttlSeconds: number;
  /** epoch ms; default Date.now() */
  now?: number;
}

/** A signed token (what `viewpulse token` prints). */
export async function signToken(o: TokenOptions): Promise<string> {
  if (!ID_RE.test(o.sub)) throw new RangeError(`sub must match ${ID_PATTERN}`);
  if (!ROLES.includes(o.role)) throw new RangeError(`role must be one of ${ROLES.join(', ')}`);
  if (!Number.isSafeInteger(o.ttlSeconds) || o.ttlSeconds <= 0) throw new RangeError('ttl must be a positive number');
  const iat = Math.floor((o.now ?? Date.now()) / 1000);
  return new SignJWT({ role: o.role })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(o.sub)
    .setIssuedAt(iat)
    .setExpirationTime(iat + o.ttlSeconds)
    .sign(encoder.encode(o.secret));
}

/** Verifies a token: its principal, or the reason it is refused. */
export async function verifyToken(
  token: string,
  secret: string,
  now: number,
): Promise<{ ok: true; principal: Principal; expSeconds: number } | { ok: false; reason: AuthFailure }> {
  try {
    const { payload } = await jwtVerify(token, encoder.encode(secret), {
      algorithms: ['HS256'],
      currentDate: new Date(now),
      requiredClaims: ['sub', 'exp'],
    });
    const role = payload.role;
    if (typeof payload.sub !== 'string' || !ID_RE.test(payload.sub)) return { ok: false, reason: 'invalid_claims' };
    if (typeof role !== 'string' || !(ROLES as readonly string[]).includes(role))
      return { ok: false, reason: 'invalid_claims' };
    return { ok: true, principal: { sub: payload.sub, role: role as Role }, expSeconds: payload.exp! };
  } catch (err) {
    if (err instanceof joseErrors.JWTExpired) return { ok: false, reason: 'token_expired' };
    if (err instanceof joseErrors.JWTClaimValidationFailed) return { ok: false, reason: 'invalid_claims' };
    return { ok: false, reason: 'invalid_token' };
  }
}

/**
 * Tokens that verified, kept until they expire: checking an HS256 signature through WebCrypto
 * took 13 % of the API's CPU per request (profiled at 58 requests/s), and a dashboard sends
 * the same token with every request. Only successes are kept (a refused token is checked again
 * each time), each until its `exp` exactly as jwtVerify would refuse it (now ≥ exp), the
 * oldest dropped beyond `maxEntries`. Keyed by the whole token: the same bytes under the same
 * secret verify the same way.
 */
export class VerifiedTokens {
  private readonly entries = new Map<string, { ok: true; principal: Principal; expSeconds: number }>();

  constructor(
    private readonly secret: string,
    private readonly maxEntries = 10_000,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  async verify(token: string, now: number): ReturnType<typeof verifyToken> {
    const hit = this.entries.get(token);
    if (hit) {
      if (now < hit.expSeconds * 1000) return hit;
      this.entries.delete(token);
    }
    const r = await verifyToken(token, this.secret, now);
    if (r.ok) {
      this.entries.set(token, r);
      if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    }
    return r;
  }
}

// ---------------------------------------------------------------------------- rate limit

export type { RateLimitOptions } from '../lib/rate-limit.js';

export const DEFAULT_RATE_LIMIT: Required<RateLimitOptions> = { perSecond: 20, burst: 60, maxKeys: 10_000 };

// ---------------------------------------------------------------------------- hooks

export interface AuthOptions {
  secret: string;
  now: () => number;
  /** false turns the rate limit off */
  rateLimit: RateLimitOptions | false;
  onFailure?: (reason: AuthFailure | 'rate_limited') => void;
}

/**
 * Adds the auth hook to a scope (buildApp's /v1 scope): every request there is authenticated
 * and rate limited before validation and handlers run.
 */
export function installAuth(scope: FastifyInstance, o: AuthOptions): void {
  const buckets =
    o.rateLimit === false ? undefined : new TokenBuckets({ ...DEFAULT_RATE_LIMIT, ...o.rateLimit }, o.now);
  const verified = new VerifiedTokens(o.secret);
  scope.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    // Answers depend on the token and the format; keep what CORS put there (Origin).
    const vary = reply.getHeader('vary');
    reply.header('vary', vary ? `${String(vary)}, Authorization, Accept` : 'Authorization, Accept');
    const header = request.headers.authorization;
    let failure: AuthFailure | undefined;
    let principal: Principal | undefined;
    if (header === undefined || header === '') failure = 'missing_token';
    else {
      const m = /^Bearer +([A-Za-z0-9\-_=]+\.[A-Za-z0-9\-_=]+\.[A-Za-z0-9\-_=]*) *$/i.exec(header);
      if (!m) failure = /^Bearer\b/i.test(header) ? 'invalid_token' : 'malformed_header';
      else {
        const r = await verified.verify(m[1]!, o.now());
        if (r.ok) principal = r.principal;
        else failure = r.reason;
      }
    }
    if (!principal) {
      o.onFailure?.(failure!);
      throw unauthorized(failure!);
    }
    request.principal = principal;
    request.log = request.log.child({ sub: principal.sub, role: principal.role });
    const wait = buckets?.take(`${principal.role}\u0000${principal.sub}`) ?? 0;
    if (wait > 0) {
      o.onFailure?.('rate_limited');
      throw new ProblemError(
        'rate_limited',
        'too many requests for this token; retry later',
        { retry_after_seconds: wait },
        { 'retry-after': String(wait) },
      );
    }
  });
}

function principalOf(request: FastifyRequest): Principal {
  // Only reachable when a route was registered outside the /v1 scope by mistake.
  if (!request.principal) throw unauthorized('missing_token');
  return request.principal;
}

/** Throws the creator 404 unless the token may read `creatorId` (its own, or any for an admin). */
export function assertCreatorAccess(request: FastifyRequest, creatorId: string): void {
  const p = principalOf(request);
  if (p.role !== 'admin' && p.sub !== creatorId) throw notFound('creator');
}

/**
 * The catalog entry of `videoId` when the token may read it; otherwise the video 404 (unknown,
 * deleted and someone else's video answer the same).
 */
export async function assertVideoAccess(request: FastifyRequest, videoId: string): Promise<VideoRecord> {
  const p = principalOf(request);
  const video = ID_RE.test(videoId) ? await request.server.viewpulse.videos.find(videoId) : undefined;
  if (!video || (p.role !== 'admin' && video.creator_id !== p.sub)) throw notFound('video');
  return video;
}
