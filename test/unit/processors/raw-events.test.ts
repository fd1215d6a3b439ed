// The raw-events processor, driven in memory: one play_events row per distinct event_id, with
// its creator from the catalog and its Kafka position; duplicates dropped, rule breaks
// dead-lettered, and the same table whatever crashes.
import { describe, expect, it } from 'vitest';
import { TestDriver } from '../../../processors/driver.js';
import {
  DEFAULT_RAW_EVENTS,
  PLAY_EVENTS_TABLE,
  rawEvents,
  RawEventsPartition,
} from '../../../processors/raw-events/processor.js';
import { playEventProblems } from '../../../processors/rules.js';
import type { Outcome } from '../../../processors/outcome.js';
import { HOUR, MINUTE } from '../../../lib/time.js';
import type { PlayEvent } from '../../../schemas/types.js';
import { rng, T0, traffic } from './fixtures.js';
import { restoredState } from '../../../processors/keyed-state.js';

/** The fixtures leave received_at at 0; the collector sets it a little after the event. */
const received = (e: PlayEvent): PlayEvent => ({ ...e, received_at: e.event_time + 1_500 });

type Row = Record<string, unknown>;
const byKey = (rows: Row[]): Row[] => [...rows].sort((a, b) => String(a.event_id).localeCompare(String(b.event_id)));

function run(
  seed: number,
  crashEvery?: () => boolean,
): {
  driver: TestDriver<PlayEvent>;
  deliveries: { partition: number; event: PlayEvent }[];
  creators: Map<string, string>;
} {
  const t = traffic(seed);
  const deliveries = t.deliveries.map((d) => ({ partition: d.partition, event: received(d.event) }));
  const driver = new TestDriver(rawEvents(), t.catalog);
  const r = rng(seed * 7 + 1);
  for (const [i, d] of deliveries.entries()) {
    driver.pipe(d.partition, d.event);
    if (i % 25 === 24) driver.flush();
    if (r() < 0.05) driver.checkpoint();
    if (crashEvery?.()) {
      if (r() < 0.5) driver.flush();
      driver.crash();
      driver.recover();
    }
  }
  driver.checkpoint();
  return { driver, deliveries, creators: t.creators };
}

const playEvents = (driver: TestDriver<PlayEvent>): Row[] => byKey(driver.table(PLAY_EVENTS_TABLE.name).rows());

let n = 0;
const event = (extra: Partial<PlayEvent> = {}): PlayEvent => ({
  event_id: `r${String(++n).padStart(5, '0')}`,
  event_type: 'heartbeat',
  event_time: T0,
  received_at: T0 + 1_000,
  session_id: 's1',
  viewer_id: 'u1',
  video_id: 'v1',
  position_ms: 10_000,
  watched_ms: 10_000,
  device: 'mobile',
  os: 'ios',
  country: 'JP',
  traffic_source: 'direct',
  referrer_video_id: null,
  seek_from_ms: null,
  startup_ms: null,
  rebuffer_ms: null,
  error_code: null,
  sdk_version: 'test',
  ...extra,
});

describe('raw-events processor', () => {
  it.each([1, 2, 3])(
    'writes one row per distinct event_id: the event, its creator and where it was read (seed %i)',
    (seed) => {
      const { driver, deliveries, creators } = run(seed);
      const first = new Map<string, { partition: number; offset: number; event: PlayEvent }>();
      const offsets = new Map<number, number>();
      for (const { partition, event: e } of deliveries) {
        const offset = offsets.get(partition) ?? 0;
        offsets.set(partition, offset + 1);
        if (!first.has(e.event_id)) first.set(e.event_id, { partition, offset, event: e });
      }
      const expected = [...first.values()].map(({ partition, offset, event: e }) => ({
        ...e,
        event_time_ms: e.event_time,
        creator_id: creators.get(e.video_id),
        kafka_partition: partition,
        kafka_offset: offset,
      }));
      expect(playEvents(driver)).toEqual(byKey(expected));
    },
  );

  it('drops later copies of an event_id and says so', () => {
    const { driver, deliveries } = run(1);
    const ids = new Set(deliveries.map((d) => d.event.event_id));
    expect(ids.size).toBeLessThan(deliveries.length);
    expect(driver.outcomes.filter((o) => o.kind !== 'ok')).toEqual(
      Array.from({ length: deliveries.length - ids.size }, () => ({ kind: 'drop', reason: 'duplicate' })),
    );
  });

  it.each([11, 12, 13])(
    'crashing at random records and replaying from the last checkpoint changes nothing (seed %i)',
    (seed) => {
      const r = rng(seed);
      const crashed = run(seed, () => r() < 0.1);
      const clean = run(seed);
      expect(playEvents(crashed.driver)).toEqual(playEvents(clean.driver));
      expect(crashed.driver.table('processor_watermarks').rows()).toEqual(
        clean.driver.table('processor_watermarks').rows(),
      );
    },
  );

  it('an event of a video the catalog does not know gets an empty creator_id', () => {
    const driver = new TestDriver(rawEvents());
    driver.pipe(0, event({ video_id: 'nowhere' }));
    driver.flush();
    expect(driver.table(PLAY_EVENTS_TABLE.name).rows()).toMatchObject([{ video_id: 'nowhere', creator_id: '' }]);
  });

  it('writes the partition watermark: highest event time minus the allowed out-of-orderness', () => {
    const driver = new TestDriver(rawEvents());
    driver.pipe(0, event({ event_time: T0 + 60_000 }));
    driver.pipe(0, event({ event_time: T0 }));
    driver.flush();
    expect(driver.table('processor_watermarks').rows()).toEqual([
      {
        processor: 'raw-events',
        kafka_partition: 0,
        watermark: T0 + 60_000 - DEFAULT_RAW_EVENTS.outOfOrdernessMs,
        version: 1,
      },
    ]);
  });
});

describe('raw-events processor: the rules', () => {
  it.each<[string, Partial<PlayEvent> | null, string]>([
    ['an empty event_id', { event_id: '' }, 'event_id: must not be empty'],
    ['an empty viewer_id', { viewer_id: '' }, 'viewer_id: must not be empty'],
    ['an overlong video_id', { video_id: 'x'.repeat(129) }, 'video_id: must be at most 128 characters'],
    ['a negative watched_ms', { watched_ms: -1 }, 'watched_ms: must be a whole number of ms from 0 to 24 h'],
    ['an absurd position_ms', { position_ms: 1e12 }, 'position_ms: must be a whole number of ms from 0 to 24 h'],
    ['a fractional position_ms', { position_ms: 1.5 }, 'position_ms: must be a whole number of ms from 0 to 24 h'],
    ['a negative startup_ms', { startup_ms: -3 }, 'startup_ms: must be null or a whole number of ms from 0 to 24 h'],
    [
      'an event_time before 2000',
      { event_time: Date.UTC(1999, 11, 31) },
      'event_time: must be a time after 2000-01-01',
    ],
    [
      'an event_time more than 24 h after received_at',
      { event_time: T0 + 1_000 + 24 * HOUR + 1 },
      'event_time: must not be more than 24 h after received_at',
    ],
    ['a received_at of 0', { received_at: 0 }, 'received_at: must be a time between 2000-01-01 and 2100-01-01'],
    ['an unknown event_type', { event_type: 'rewind' as PlayEvent['event_type'] }, 'event_type: must be one of'],
    ['a null record (a tombstone)', null, 'value: a play event is required'],
  ])('%s goes to the dead-letter topic with the reason', (_, change, reason) => {
    const driver = new TestDriver(rawEvents());
    const outcome = driver.pipe(0, change === null ? (null as unknown as PlayEvent) : event(change));
    expect(outcome).toMatchObject({ kind: 'dlq', code: 'VP_ERR_EVENT_RULES' });
    expect((outcome as { reason: string }).reason).toContain(reason);
    driver.flush();
    expect(driver.table(PLAY_EVENTS_TABLE.name).rows()).toEqual([]);
    expect(driver.watermark(0)).toBe(Number.NEGATIVE_INFINITY);
  });

  it('names every rule an event breaks', () => {
    expect(playEventProblems(event({ event_id: '', watched_ms: -1, rebuffer_ms: -1 }))).toEqual([
      'event_id: must not be empty',
      'watched_ms: must be a whole number of ms from 0 to 24 h',
      'rebuffer_ms: must be null or a whole number of ms from 0 to 24 h',
    ]);
  });

  it.each<[string, Partial<PlayEvent>]>([
    ['a seek without seek_from_ms', { event_type: 'seek', seek_from_ms: null }],
    ['an event_time exactly 24 h after received_at', { event_time: T0 + 1_000 + 24 * HOUR }],
    ['an event_time a week before received_at', { event_time: T0 - 7 * 24 * HOUR }],
    ['zero positions and durations', { position_ms: 0, watched_ms: 0, startup_ms: 0, rebuffer_ms: 0 }],
  ])('%s is fine', (_, change) => {
    const driver = new TestDriver(rawEvents());
    expect(driver.pipe(0, event(change))).toEqual({ kind: 'ok' });
  });
});

describe('raw-events processor: remembering event ids', () => {
  const partition = (options = DEFAULT_RAW_EVENTS, snapshot?: unknown): RawEventsPartition =>
    new RawEventsPartition(0, restoredState(snapshot), { get: () => undefined }, options);
  let offset = 0;
  const feed = (p: RawEventsPartition, e: PlayEvent): Outcome =>
    p.process({ topic: 'play-events', partition: 0, offset: offset++, key: null, value: e });

  it('forgets ids once their minute lies wholly more than the horizon behind the highest event time', () => {
    const p = partition();
    const old = event({ event_time: T0 });
    feed(p, old);
    feed(p, event({ event_time: T0 + 2 * HOUR }));
    expect(p.rememberedIds).toBe(2);
    expect(feed(p, old)).toEqual({ kind: 'drop', reason: 'duplicate' });
    feed(p, event({ event_time: T0 + 2 * HOUR + MINUTE }));
    expect(p.rememberedIds).toBe(2);
    // Too old to check now: written again, with the same ORDER BY key, so ClickHouse collapses the two.
    expect(feed(p, old)).toEqual({ kind: 'ok' });
    expect(p.rememberedIds).toBe(2);
  });

  it('remembers at most maxIds, forgetting the oldest minutes first', () => {
    const p = partition({ ...DEFAULT_RAW_EVENTS, dedup: { horizonMs: 2 * HOUR, maxIds: 3 } });
    const events = [0, 1, 2, 3].map((m) => event({ event_time: T0 + m * MINUTE }));
    for (const e of events) feed(p, e);
    expect(p.rememberedIds).toBe(3);
    expect(feed(p, events[0]!)).toEqual({ kind: 'ok' });
    expect(feed(p, events[3]!)).toEqual({ kind: 'drop', reason: 'duplicate' });
  });

  it('keeps what it remembers in the snapshot', () => {
    const p = partition();
    const e = event();
    feed(p, e);
    const restored = partition(DEFAULT_RAW_EVENTS, JSON.parse(JSON.stringify(p.snapshot())));
    expect(feed(restored, e)).toEqual({ kind: 'drop', reason: 'duplicate' });
    expect(restored.watermark).toBe(p.watermark);
  });
});
