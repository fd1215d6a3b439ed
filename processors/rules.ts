// The rules every play event must keep before a processor applies it. The collector already
// validates what clients send (api/collector/event-schema.ts); these few checks guard records
// that other producers write straight to Kafka, so that nothing a record carries can break a
// ClickHouse insert (negative numbers into UInt columns, enum values it does not know) or
// poison a partition's state (a time in year 3000 would push the watermark past every open
// window). A record that breaks a rule is dead-lettered with every reason, never applied.
import { dlq, type Outcome } from './outcome.js';
import { EVENT_TYPES, TRAFFIC_SOURCES, type PlayEvent } from '../schemas/types.js';

export const EVENT_RULES_CODE = 'VP_ERR_EVENT_RULES';

/** Earliest event or receive time accepted: 2000-01-01T00:00:00Z. */
export const MIN_TIME_MS = Date.UTC(2000, 0, 1);
/** Latest receive time accepted: 2100-01-01T00:00:00Z (ClickHouse DateTime ends in 2106). */
export const MAX_TIME_MS = Date.UTC(2100, 0, 1);
/** An event may lie at most this far after its receive time (the collector's reject bound). */
export const MAX_FUTURE_MS = 24 * 3_600_000;
/** Positions and durations: at most 24 h, as the collector allows. */
export const MAX_DURATION_MS = 86_400_000;
/** Identifiers: 1..128 characters. */
export const MAX_ID_LENGTH = 128;

const eventTypes = new Set<string>(EVENT_TYPES);
const trafficSources = new Set<string>(TRAFFIC_SOURCES);

const isMs = (x: unknown, max: number): boolean =>
  Number.isSafeInteger(x) && (x as number) >= 0 && (x as number) <= max;

/** Every rule `value` breaks, as "field: what is wrong"; empty when it keeps them all. */
export function playEventProblems(value: PlayEvent | null | undefined): string[] {
  if (value === null || value === undefined || typeof value !== 'object') {
    return ['value: a play event is required (a null record, e.g. a tombstone, is not one)'];
  }
  const e = value;
  const problems: string[] = [];
  for (const field of ['event_id', 'session_id', 'viewer_id', 'video_id'] as const) {
    const id = e[field];
    if (typeof id !== 'string' || id.length === 0) problems.push(`${field}: must not be empty`);
    else if (id.length > MAX_ID_LENGTH) problems.push(`${field}: must be at most ${MAX_ID_LENGTH} characters`);
  }
  if (!eventTypes.has(e.event_type)) problems.push(`event_type: must be one of ${EVENT_TYPES.join(', ')}`);
  if (!trafficSources.has(e.traffic_source))
    problems.push(`traffic_source: must be one of ${TRAFFIC_SOURCES.join(', ')}`);
  const receivedOk =
    Number.isSafeInteger(e.received_at) && e.received_at >= MIN_TIME_MS && e.received_at <= MAX_TIME_MS;
  if (!receivedOk) problems.push('received_at: must be a time between 2000-01-01 and 2100-01-01');
  if (!Number.isSafeInteger(e.event_time) || e.event_time < MIN_TIME_MS) {
    problems.push('event_time: must be a time after 2000-01-01');
  } else if (receivedOk && e.event_time > e.received_at + MAX_FUTURE_MS) {
    problems.push('event_time: must not be more than 24 h after received_at');
  }
  for (const field of ['position_ms', 'watched_ms'] as const) {
    if (!isMs(e[field], MAX_DURATION_MS)) problems.push(`${field}: must be a whole number of ms from 0 to 24 h`);
  }
  // Nullable numbers: null is fine (a seek without seek_from_ms is simply not split).
  for (const field of ['seek_from_ms', 'startup_ms', 'rebuffer_ms'] as const) {
    const x = e[field];
    if (x !== null && x !== undefined && !isMs(x, MAX_DURATION_MS))
      problems.push(`${field}: must be null or a whole number of ms from 0 to 24 h`);
  }
  return problems;
}

const isId = (x: unknown): boolean => typeof x === 'string' && x.length > 0 && x.length <= MAX_ID_LENGTH;
const isNullableMs = (x: unknown): boolean => x === null || x === undefined || isMs(x, MAX_DURATION_MS);

/** The same rules as playEventProblems, as one boolean and without allocating: the hot path. */
function keepsRules(e: PlayEvent | null | undefined): boolean {
  return (
    e !== null &&
    e !== undefined &&
    typeof e === 'object' &&
    isId(e.event_id) &&
    isId(e.session_id) &&
    isId(e.viewer_id) &&
    isId(e.video_id) &&
    eventTypes.has(e.event_type) &&
    trafficSources.has(e.traffic_source) &&
    Number.isSafeInteger(e.received_at) &&
    e.received_at >= MIN_TIME_MS &&
    e.received_at <= MAX_TIME_MS &&
    Number.isSafeInteger(e.event_time) &&
    e.event_time >= MIN_TIME_MS &&
    e.event_time <= e.received_at + MAX_FUTURE_MS &&
    isMs(e.position_ms, MAX_DURATION_MS) &&
    isMs(e.watched_ms, MAX_DURATION_MS) &&
    isNullableMs(e.seek_from_ms) &&
    isNullableMs(e.startup_ms) &&
    isNullableMs(e.rebuffer_ms)
  );
}

/** The dlq outcome for a play event that breaks a rule, or null when it keeps them all. */
export function checkPlayEvent(value: PlayEvent | null | undefined): Outcome | null {
  if (keepsRules(value)) return null;
  const problems = playEventProblems(value);
  return problems.length === 0 ? null : dlq(EVENT_RULES_CODE, problems.join('; '));
}
