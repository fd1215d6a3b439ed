// One request body, checked and turned into PlayEvents: the envelope either passes or the
// whole request is refused (400/413 problem); then every event on its own is validated,
// moved by the request's clock skew, and either becomes a PlayEvent or a rejection with its
// index and reasons. Pure: no I/O, no clock (received_at comes in).
import type { PlayEvent } from '../../schemas/types.js';
import { ProblemError } from '../problem.js';
import { envelopeReasons, validateEvent, type EventInput } from './event-schema.js';
import { correctEventTime, skewOffsetMs, timeMs, type EventTimeRejection } from './event-time.js';
import { jsonSizeUpTo } from './json-size.js';
import type { CollectorOptions } from './options.js';

export type RejectionKind = 'invalid_event' | EventTimeRejection;

export interface Rejection {
  index: number;
  /** The event's event_id when it sent a string one (clipped), else null. */
  event_id: string | null;
  reasons: string[];
  kind: RejectionKind;
}

export interface Candidate {
  index: number;
  event: PlayEvent;
  clamped: boolean;
}

export interface Envelope {
  sentAt: number;
  events: unknown[];
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The envelope's `sent_at` (ms) and events, or a ProblemError (400, or 413 for size limits). */
export function readEnvelope(
  body: unknown,
  limits: Pick<CollectorOptions, 'maxEventsPerRequest' | 'maxEventBytes'>,
): Envelope {
  if (!isPlainObject(body) || !Array.isArray(body.events)) {
    throw new ProblemError('bad_request', 'the body must be a JSON object {"sent_at": ..., "events": [...]}');
  }
  const events = body.events as unknown[];
  if (events.length > limits.maxEventsPerRequest) {
    throw new ProblemError(
      'payload_too_large',
      `${events.length} events in one request; at most ${limits.maxEventsPerRequest} are allowed`,
      { max_events: limits.maxEventsPerRequest },
    );
  }
  for (let i = 0; i < events.length; i++) {
    const size = jsonSizeUpTo(events[i], limits.maxEventBytes);
    if (size > limits.maxEventBytes) {
      throw new ProblemError('payload_too_large', `event ${i} is larger than ${limits.maxEventBytes} bytes as JSON`, {
        index: i,
        max_event_bytes: limits.maxEventBytes,
      });
    }
  }
  const reasons = envelopeReasons(body);
  if (reasons.length > 0) {
    throw new ProblemError('bad_request', `invalid envelope: ${reasons.join('; ')}`, { reasons });
  }
  const sentAt = timeMs(body.sent_at as number | string);
  if (sentAt === undefined) {
    throw new ProblemError('bad_request', 'sent_at: is not a valid time', {
      reasons: ['sent_at: is not a valid time'],
    });
  }
  return { sentAt, events };
}

/** The Avro record for a valid event: every field, in schema order, nullable ones null when absent. */
export function toPlayEvent(e: EventInput, eventTime: number, receivedAt: number): PlayEvent {
  return {
    event_id: e.event_id.toLowerCase(),
    event_type: e.event_type,
    event_time: eventTime,
    received_at: receivedAt,
    session_id: e.session_id,
    viewer_id: e.viewer_id,
    video_id: e.video_id,
    position_ms: e.position_ms,
    watched_ms: e.watched_ms,
    device: e.device,
    os: e.os,
    country: e.country,
    traffic_source: e.traffic_source,
    referrer_video_id: e.referrer_video_id ?? null,
    seek_from_ms: e.seek_from_ms ?? null,
    startup_ms: e.startup_ms ?? null,
    rebuffer_ms: e.rebuffer_ms ?? null,
    error_code: e.error_code ?? null,
    sdk_version: e.sdk_version,
  };
}

function eventIdOf(value: unknown): string | null {
  if (!isPlainObject(value) || typeof value.event_id !== 'string') return null;
  return value.event_id.length > 128 ? `${value.event_id.slice(0, 128)}…` : value.event_id;
}

/** Each event validated and time-corrected: a PlayEvent to send, or a rejection. */
export function assessEvents(
  envelope: Envelope,
  receivedAt: number,
  horizonMs: number,
): { candidates: Candidate[]; rejected: Rejection[]; offsetMs: number } {
  const offsetMs = skewOffsetMs(envelope.sentAt, receivedAt);
  const candidates: Candidate[] = [];
  const rejected: Rejection[] = [];
  envelope.events.forEach((value, index) => {
    const v = validateEvent(value);
    if (!v.ok) {
      rejected.push({ index, event_id: eventIdOf(value), reasons: v.reasons, kind: 'invalid_event' });
      return;
    }
    const eventTime = timeMs(v.event.event_time);
    if (eventTime === undefined) {
      const reasons = ['event_time: is not a valid time'];
      rejected.push({ index, event_id: v.event.event_id, reasons, kind: 'invalid_event' });
      return;
    }
    const t = correctEventTime(eventTime, offsetMs, receivedAt, horizonMs);
    if (!t.ok) {
      rejected.push({ index, event_id: v.event.event_id, reasons: [t.reason], kind: t.reason });
      return;
    }
    candidates.push({ index, event: toPlayEvent(v.event, t.eventTime, receivedAt), clamped: t.clamped });
  });
  return { candidates, rejected, offsetMs };
}
