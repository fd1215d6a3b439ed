// Delivery: when each event of a session reaches the collector (or Kafka), and the faults
// real traffic has — all at configurable rates, each per generated event, 0 allowed:
//
// - normal: sent 0.1..2 s after it happened, in session order (the SDK keeps order);
// - out of order: held back until a few seconds after the session's next event;
// - late: delivered 2..15 minutes after it happened (a phone that was offline);
// - duplicate: the same event (same event_id, same content) sent again 0.2..30 s later;
// - malformed: an extra record that is not a valid play event (bad fields for the collector,
//   undecodable bytes for Kafka). It never counts, so it never reaches the truth.
//
// Times here are true times: `deliverAt` is when the client sends the request (and, for the
// truth, when the collector receives it); the client stamps `sent_at` in its own clock.
import { type Rng } from './rng.js';
import { toWire, type SimEvent, type SimSession, type WireEvent } from './session.js';
import { admitEventTime } from './truth.js';
import { DAY } from '../lib/time.js';

export interface FaultRates {
  outOfOrder: number;
  late: number;
  duplicate: number;
  malformed: number;
}

export const DEFAULT_FAULT_RATES: FaultRates = { outOfOrder: 0.02, late: 0.005, duplicate: 0.01, malformed: 0.002 };

export function validateFaultRates(r: FaultRates): void {
  for (const [name, v] of Object.entries(r)) {
    if (!(v >= 0 && v <= 1)) throw new RangeError(`fault rate ${name} must be in 0..1, got ${v}`);
  }
  if (r.outOfOrder + r.late > 1) throw new RangeError('out-of-order and late rates together must not exceed 1');
}

export interface EventDelivery {
  kind: 'event';
  /** True time at which the client sends it; for the truth, when the collector receives it. */
  deliverAt: number;
  /** The client's clock minus true time: its requests carry sent_at = send time + skewMs. */
  skewMs: number;
  viewer_id: string;
  /** As the client sends it (event_time in the client's clock). */
  event: WireEvent;
  /** event_time once the collector has applied rule 3 (what Kafka and the truth hold). */
  acceptedEventTime: number;
  /** A second copy of an event already sent. */
  duplicate: boolean;
  late: boolean;
  /** Delivered after an event that follows it in its session. */
  outOfOrder: boolean;
}

export const MALFORMED_VARIANTS = [
  'unknown_event_type',
  'missing_event_id',
  'string_event_time',
  'null_video_id',
  'unknown_traffic_source',
  'fractional_watched_ms',
  'string_position_ms',
  'future_event_time',
  'ancient_event_time',
] as const;
export type MalformedVariant = (typeof MALFORMED_VARIANTS)[number];

export interface MalformedDelivery {
  kind: 'malformed';
  deliverAt: number;
  skewMs: number;
  viewer_id: string;
  variant: MalformedVariant;
  /** What the collector target sends: an object that is not a valid play event. */
  body: Record<string, unknown>;
  /**
   * What the Kafka target writes: bytes no play-event decoder accepts. Either not the
   * Confluent framing at all, or the framing (magic 0, schema id filled in by the sink at
   * bytes 1..4) with a body far shorter than any PlayEvent.
   */
  bytes: Buffer;
  /** Bytes 1..4 are to be replaced by the real schema id. */
  framed: boolean;
}

export type Delivery = EventDelivery | MalformedDelivery;

export interface PlannedSession {
  deliveries: Delivery[];
  /** How many of the session's events are sent (all, unless the delivery budget ran out). */
  sentEvents: number;
  truncated: boolean;
}

function malformedBody(variant: MalformedVariant, wire: WireEvent, rng: Rng): Record<string, unknown> {
  const body: Record<string, unknown> = { ...wire, event_id: rng.uuid() };
  switch (variant) {
    case 'unknown_event_type':
      body.event_type = 'teleport';
      break;
    case 'missing_event_id':
      delete body.event_id;
      break;
    case 'string_event_time':
      body.event_time = 'yesterday';
      break;
    case 'null_video_id':
      body.video_id = null;
      break;
    case 'unknown_traffic_source':
      body.traffic_source = 'carrier_pigeon';
      break;
    case 'fractional_watched_ms':
      body.watched_ms = 1234.5;
      break;
    case 'string_position_ms':
      body.position_ms = '12s';
      break;
    case 'future_event_time':
      // 400 days ahead: rejected whatever the real receive time (events are within the horizon of now).
      body.event_time = wire.event_time + 400 * DAY;
      break;
    case 'ancient_event_time':
      // 400 days back: older than any allowed horizon (at most 366 days).
      body.event_time = wire.event_time - 400 * DAY;
      break;
  }
  return body;
}

function malformedBytes(rng: Rng, wire: WireEvent): { bytes: Buffer; framed: boolean } {
  if (rng.chance(0.5)) {
    // Not Confluent framing: the JSON text itself (first byte '{', not the magic 0).
    return { bytes: Buffer.from(JSON.stringify(wire)), framed: false };
  }
  // Magic 0, schema id (filled in by the sink), then 1..12 random bytes: a PlayEvent needs at
  // least 19 bytes (one per field), so this is always a truncated record.
  const body = Buffer.alloc(rng.range(1, 12));
  for (let i = 0; i < body.length; i++) body[i] = rng.int(256);
  return { bytes: Buffer.concat([Buffer.alloc(5), body]), framed: true };
}

/**
 * Plans how one session's events are delivered: at most `budget` deliveries (events,
 * duplicates and malformed records together). When the budget runs out mid-session, the
 * remaining events are never sent.
 */
export function planDeliveries(session: SimSession, rates: FaultRates, rng: Rng, budget: number): PlannedSession {
  const { spec, events } = session;
  const skewMs = spec.viewer.skewMs;
  const viewer_id = spec.viewer.viewer_id;
  const deliveries: Delivery[] = [];
  const order: number[] = []; // session index of each event delivery (−1 for others)
  let used = 0;
  let inOrderAt = -Infinity;
  let sent = 0;
  for (let i = 0; i < events.length && used < budget; i++) {
    const e: SimEvent = events[i]!;
    const wire = toWire(spec, e);
    const u = rng.next();
    let deliverAt: number;
    let late = false;
    if (u < rates.late) {
      deliverAt = e.t + rng.range(120_000, 900_000);
      late = true;
    } else if (u < rates.late + rates.outOfOrder) {
      deliverAt = (events[i + 1]?.t ?? e.t) + rng.range(500, 5000);
    } else {
      deliverAt = Math.max(e.t + rng.range(100, 2000), inOrderAt);
      inOrderAt = deliverAt;
    }
    const admission = admitEventTime(wire.event_time, deliverAt + skewMs, deliverAt);
    if (!admission.accepted) throw new Error(`generated event ${e.event_id} would be rejected: ${admission.reason}`);
    const delivery: EventDelivery = {
      kind: 'event',
      deliverAt,
      skewMs,
      viewer_id,
      event: wire,
      acceptedEventTime: admission.event_time,
      duplicate: false,
      late,
      outOfOrder: false,
    };
    deliveries.push(delivery);
    order.push(i);
    used++;
    sent++;
    if (used < budget && rng.chance(rates.duplicate)) {
      deliveries.push({ ...delivery, deliverAt: deliverAt + rng.range(200, 30_000), duplicate: true, late: false });
      order.push(-1);
      used++;
    }
    if (used < budget && rng.chance(rates.malformed)) {
      const variant = rng.pick(MALFORMED_VARIANTS);
      deliveries.push({
        kind: 'malformed',
        deliverAt: e.t + rng.range(100, 2000),
        skewMs,
        viewer_id,
        variant,
        body: malformedBody(variant, wire, rng),
        ...malformedBytes(rng, wire),
      });
      order.push(-1);
      used++;
    }
  }
  // Mark the events that arrive after a later event of their session. The stream orders
  // deliveries by (deliverAt, planning order), and so does this.
  const byArrival = deliveries
    .map((d, k) => k)
    .sort((a, b) => deliveries[a]!.deliverAt - deliveries[b]!.deliverAt || a - b);
  let highest = -1;
  for (const k of byArrival) {
    const idx = order[k]!;
    if (idx < 0) continue;
    if (idx < highest) (deliveries[k] as EventDelivery).outOfOrder = true;
    else highest = idx;
  }
  return { deliveries, sentEvents: sent, truncated: sent < events.length };
}
