// What a client may send: the JSON Schemas of one event and of the request envelope, compiled
// once with ajv, and validation results as short human-readable reasons
// ("watched_ms: must be >= 0"). Fields are the Avro PlayEvent's (snake_case) minus
// `received_at`, which the collector sets; nullable fields may be left out. Every bound here
// is also what keeps a hostile body cheap: all fields are scalars (ajv never descends into a
// nested value), strings are capped, unknown fields are refused.
import { Ajv, type ErrorObject } from 'ajv';
import addFormats from 'ajv-formats';
import { DEVICES, EVENT_TYPES, TRAFFIC_SOURCES } from '../../schemas/types.js';

/** 24 hours: the bound of positions and durations in milliseconds (fits an Avro int). */
export const MAX_DURATION_MS = 86_400_000;
/** 9999-12-31T23:59:59.999Z: the largest time accepted at all (skew rules narrow it further). */
export const MAX_EPOCH_MS = 253_402_300_799_999;
/** Most reasons reported for one event. */
export const MAX_REASONS = 10;

// Identifiers: 1..128 visible ASCII characters (no spaces, no control characters).
const id = { type: 'string', minLength: 1, maxLength: 128, pattern: '^[\\x21-\\x7E]+$' } as const;
// Free text: capped, no control characters, no lone UTF-16 surrogates (not encodable as UTF-8).
const text = (maxLength: number) => ({ type: 'string', maxLength, pattern: '^[^\\p{Cc}\\p{Cs}]*$' }) as const;
const durationMs = { type: 'integer', minimum: 0, maximum: MAX_DURATION_MS } as const;
// A point in time: epoch milliseconds, or an RFC 3339 date-time with Z or an offset (what
// Segment- and Mux-style clients send); finer than milliseconds is truncated.
const instant = {
  anyOf: [
    { type: 'integer', minimum: 0, maximum: MAX_EPOCH_MS },
    { type: 'string', format: 'date-time', maxLength: 40 },
  ],
} as const;

export const REQUIRED_EVENT_FIELDS = [
  'event_id',
  'event_type',
  'event_time',
  'session_id',
  'viewer_id',
  'video_id',
  'position_ms',
  'watched_ms',
  'device',
  'os',
  'country',
  'traffic_source',
  'sdk_version',
] as const;

export const eventSchema = {
  $id: 'urn:viewpulse:schema:collector-event',
  type: 'object',
  additionalProperties: false,
  required: REQUIRED_EVENT_FIELDS,
  properties: {
    // Canonical UUID text (36 characters; the urn:uuid: form is refused).
    event_id: { type: 'string', format: 'uuid', maxLength: 36 },
    event_type: { type: 'string', enum: EVENT_TYPES },
    event_time: instant,
    session_id: id,
    viewer_id: id,
    video_id: id,
    position_ms: durationMs,
    watched_ms: durationMs,
    device: { type: 'string', enum: DEVICES },
    os: text(64),
    country: { type: 'string', pattern: '^[A-Z]{2}$' },
    traffic_source: { type: 'string', enum: TRAFFIC_SOURCES },
    referrer_video_id: { ...id, nullable: true },
    seek_from_ms: { ...durationMs, nullable: true },
    startup_ms: { ...durationMs, nullable: true },
    rebuffer_ms: { ...durationMs, nullable: true },
    error_code: { ...text(128), nullable: true },
    sdk_version: text(64),
  },
} as const;

export const envelopeSchema = {
  $id: 'urn:viewpulse:schema:collector-envelope',
  type: 'object',
  additionalProperties: false,
  required: ['sent_at', 'events'],
  properties: {
    sent_at: instant,
    // Each item is validated on its own (eventSchema), so one bad event never fails the batch.
    events: { type: 'array' },
  },
} as const;

/** One event as the client sends it (after validation). */
export interface EventInput {
  event_id: string;
  event_type: (typeof EVENT_TYPES)[number];
  /** Epoch ms or RFC 3339; `timeMs` turns it into epoch ms. */
  event_time: number | string;
  session_id: string;
  viewer_id: string;
  video_id: string;
  position_ms: number;
  watched_ms: number;
  device: (typeof DEVICES)[number];
  os: string;
  country: string;
  traffic_source: (typeof TRAFFIC_SOURCES)[number];
  referrer_video_id?: string | null;
  seek_from_ms?: number | null;
  startup_ms?: number | null;
  rebuffer_ms?: number | null;
  error_code?: string | null;
  sdk_version: string;
}

// verbose: errors carry the value and their branch's schema, so an anyOf field reports only
// the branch of the value's type ("must be >= 0" for a number, "must be a RFC 3339 date-time"
// for a string), not every branch's complaint.
const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: false, verbose: true });
addFormats.default(ajv, ['uuid', 'date-time']);
const validateEventFn = ajv.compile<EventInput>(eventSchema);
const validateEnvelopeFn = ajv.compile<{ sent_at: number | string; events: unknown[] }>(envelopeSchema);

const clip = (s: string, n = 64): string => (s.length > n ? `${s.slice(0, n)}…` : s);

/** One ajv error as "field: message". */
export function reasonOf(e: ErrorObject): string {
  const field = e.instancePath ? e.instancePath.slice(1).replaceAll('/', '.') : '';
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return `${String(params.missingProperty)}: is required`;
    case 'additionalProperties':
      return `${clip(String(params.additionalProperty))}: is not a known field`;
    case 'enum':
      return `${field}: must be one of ${(params.allowedValues as unknown[]).join(', ')}`;
    case 'anyOf':
      return `${field}: must be epoch milliseconds (an integer) or an RFC 3339 date-time string`;
    case 'format':
      return `${field}: must be a ${params.format === 'uuid' ? 'UUID' : 'RFC 3339 date-time'}`;
    case 'type':
      return `${field || 'event'}: must be ${params.type === 'object' ? 'an object' : String(params.type)}`;
    case 'pattern':
      return field === 'country'
        ? 'country: must be an ISO 3166-1 alpha-2 code in upper case'
        : `${field}: must be ${field.endsWith('_id') ? 'visible ASCII without spaces' : 'text without control characters'}`;
    default:
      return `${field || 'event'}: ${e.message ?? e.keyword}`;
  }
}

/** Within an anyOf (epoch ms | RFC 3339), the errors of the branch the value's type selects. */
function relevant(e: ErrorObject): boolean {
  const kind = typeof e.data === 'number' ? 'integer' : typeof e.data === 'string' ? 'string' : undefined;
  if (e.keyword === 'anyOf') return kind === undefined; // neither type: one reason for the field
  if (!/\/anyOf\/\d+\//.test(e.schemaPath)) return true;
  return (e.parentSchema as { type?: string } | undefined)?.type === kind;
}

function reasonsOf(errors: readonly ErrorObject[] | null | undefined): string[] {
  const all = [...new Set((errors ?? []).filter(relevant).map(reasonOf))];
  if (all.length <= MAX_REASONS) return all;
  return [...all.slice(0, MAX_REASONS - 1), `… and ${all.length - (MAX_REASONS - 1)} more`];
}

/** The event if it is valid, otherwise the reasons it is not. */
export function validateEvent(value: unknown): { ok: true; event: EventInput } | { ok: false; reasons: string[] } {
  if (validateEventFn(value)) return { ok: true, event: value };
  return { ok: false, reasons: reasonsOf(validateEventFn.errors) };
}

/** Reasons the envelope (`sent_at`, `events`) is not valid; empty when it is. */
export function envelopeReasons(value: unknown): string[] {
  if (validateEnvelopeFn(value)) return [];
  return reasonsOf(validateEnvelopeFn.errors).map((r) => r.replace(/^event: /, 'body: '));
}
