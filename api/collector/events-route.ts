// POST /v1/events: write key → rate limit → body limits (fastify) → envelope → per-event
// validation and event time → deduplication → Kafka. It answers 200 only once Kafka has
// acknowledged every accepted event; when Kafka fails, is slow or pushes back it answers 503
// with Retry-After and forgets the request's event_ids so the retry is not taken for a
// duplicate.
//
// Answers (all errors are application/problem+json, never a 5xx for anything a client sends):
//   200  {"accepted": n, "duplicates": d, "rejected": [{"index", "event_id", "reasons"}]}
//        also when every event was rejected (accepted 0): the request itself was fine, and the
//        per-event reasons are the answer; retrying it cannot help. An empty batch is 200 too.
//   400  not JSON, or not an envelope {"sent_at": epoch ms | RFC 3339, "events": [...]}
//   401  X-Write-Key missing or unknown (checked before the body is read)
//   413  body > 512 KB, > 500 events, or one event > 32 KB as JSON
//   415  not application/json
//   429  over the write key's rate (Retry-After)
//   503  Kafka failed, timed out or pushed back (Retry-After); retry the whole request
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ViewpulseError } from '../../lib/errors.js';
import type { PlayEvent } from '../../schemas/types.js';
import { ProblemError } from '../problem.js';
import { assessEvents, readEnvelope, type Rejection } from './batch.js';
import { compactUuid, type RecentIds } from './dedup.js';
import type { CollectorMetrics } from './metrics.js';
import type { CollectorOptions } from './options.js';
import type { TokenBuckets } from '../../lib/rate-limit.js';

/** Where accepted events go; resolves once they are durable (AvroProducer.send satisfies it). */
export interface EventSink {
  send(events: PlayEvent[]): Promise<void>;
}

export interface IngestResult {
  accepted: number;
  duplicates: number;
  rejected: Omit<Rejection, 'kind'>[];
}

export interface EventsRouteContext {
  sink: EventSink;
  options: CollectorOptions;
  now: () => number;
  dedup: RecentIds;
  limiter: TokenBuckets;
  checkKey: (candidate: unknown) => string | undefined;
  metrics: CollectorMetrics;
}

export const WRITE_KEY_HEADER = 'x-write-key';

const TIMEOUT = Symbol('timeout');

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | typeof TIMEOUT> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<typeof TIMEOUT>((resolve) => (timer = setTimeout(() => resolve(TIMEOUT), ms)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function unavailable(detail: string, code: string, retryAfter: number, cause?: unknown): ProblemError {
  return new ProblemError(
    'unavailable',
    `${detail}; retry the whole request after ${retryAfter} s (events already stored are recognised as duplicates)`,
    { code, retry_after_seconds: retryAfter },
    { 'retry-after': String(retryAfter) },
    { cause },
  );
}

function sendFailure(err: unknown, retryAfter: number): ProblemError {
  if (err instanceof ViewpulseError && !err.retriable && err.code !== 'VP_ERR_CLOSED') {
    // Valid events that the producer still refuses: a bug on our side, not the client's.
    return new ProblemError('internal', 'the events could not be written', { code: err.code }, {}, { cause: err });
  }
  const code = err instanceof ViewpulseError ? err.code : 'VP_ERR_KAFKA';
  const detail =
    code === 'VP_ERR_BACKPRESSURE'
      ? 'the collector has too much work waiting for Kafka'
      : 'Kafka did not accept the events';
  return unavailable(detail, code, retryAfter, err);
}

export function registerEventsRoute(app: FastifyInstance, ctx: EventsRouteContext): void {
  const keyOf = new WeakMap<FastifyRequest, string>();

  const authorize = async (request: FastifyRequest): Promise<void> => {
    const key = ctx.checkKey(request.headers[WRITE_KEY_HEADER]);
    if (key === undefined) {
      const missing = request.headers[WRITE_KEY_HEADER] === undefined;
      throw new ProblemError(
        'unauthorized',
        missing ? 'the X-Write-Key header is missing' : 'the X-Write-Key header does not name a known write key',
      );
    }
    const wait = ctx.limiter.take(key);
    if (wait > 0) {
      throw new ProblemError(
        'rate_limited',
        `more than ${ctx.options.rateLimit.perSecond} requests per second for this write key`,
        { retry_after_seconds: wait, limit_per_second: ctx.options.rateLimit.perSecond },
        { 'retry-after': String(wait) },
      );
    }
    keyOf.set(request, key);
  };

  app.post('/v1/events', { bodyLimit: ctx.options.maxBodyBytes, onRequest: authorize }, async (request, reply) => {
    const receivedAt = ctx.now();
    const envelope = readEnvelope(request.body, ctx.options);
    const { candidates, rejected, offsetMs } = assessEvents(envelope, receivedAt, ctx.options.eventHorizonMs);

    // Deduplicate: within this request, against recent requests, and against requests in flight.
    const fresh: PlayEvent[] = [];
    const freshKeys: string[] = [];
    const inRequest = new Set<string>();
    const waits: Promise<boolean>[] = [];
    let duplicates = 0;
    let clamped = 0;
    for (const c of candidates) {
      const key = compactUuid(c.event.event_id);
      const status = inRequest.has(key) ? 'seen' : ctx.dedup.status(key);
      inRequest.add(key);
      if (status === 'new') {
        fresh.push(c.event);
        freshKeys.push(key);
        if (c.clamped) clamped++;
      } else {
        duplicates++;
        if (status !== 'seen') waits.push(status);
      }
    }

    const settle = fresh.length > 0 ? ctx.dedup.claim(freshKeys) : undefined;
    const started = performance.now();
    const sent: Promise<unknown> = settle
      ? Promise.resolve()
          .then(() => ctx.sink.send(fresh))
          .then(
            () => {
              settle(true);
              ctx.metrics.kafkaSend.observe({ outcome: 'ok' }, (performance.now() - started) / 1000);
              return undefined;
            },
            (err: unknown) => {
              settle(false);
              ctx.metrics.kafkaSend.observe({ outcome: 'failed' }, (performance.now() - started) / 1000);
              return err ?? new Error('send failed');
            },
          )
      : Promise.resolve(undefined);

    const retryAfter = ctx.options.retryAfterSeconds;
    const outcome = await withTimeout(Promise.all([sent, Promise.all(waits)]), ctx.options.sendTimeoutMs);
    if (outcome === TIMEOUT) {
      // The send goes on; its outcome still settles the claim (a retry meanwhile waits for it).
      request.log.warn({ events: fresh.length, waiting_for: waits.length }, 'Kafka acknowledgement timed out');
      throw unavailable(`Kafka did not acknowledge within ${ctx.options.sendTimeoutMs} ms`, 'VP_ERR_KAFKA', retryAfter);
    }
    const [sendError, earlier] = outcome;
    if (sendError !== undefined) {
      request.log.warn({ err: sendError, events: fresh.length }, 'Kafka send failed');
      throw sendFailure(sendError, retryAfter);
    }
    if (earlier.includes(false)) {
      throw unavailable('an earlier request carrying some of these event_ids failed', 'VP_ERR_KAFKA', retryAfter);
    }

    // Counted once answered 200 (a 503's retry would count them again).
    for (const r of rejected) ctx.metrics.rejected.inc({ reason: r.kind });
    ctx.metrics.accepted.inc(fresh.length);
    ctx.metrics.duplicates.inc(duplicates);
    ctx.metrics.clamped.inc(clamped);
    request.log.debug(
      {
        key: keyOf.get(request),
        accepted: fresh.length,
        duplicates,
        rejected: rejected.length,
        skew_offset_ms: offsetMs,
      },
      'events ingested',
    );
    const result: IngestResult = {
      accepted: fresh.length,
      duplicates,
      rejected: rejected.map(({ index, event_id, reasons }) => ({ index, event_id, reasons })),
    };
    return reply.code(200).send(result);
  });
}
