// The collector's pure helpers on their own: skew correction, deduplication, JSON size,
// validation reasons, rate limiting, options.
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { assessEvents, readEnvelope, toPlayEvent } from '../../api/collector/batch.js';
import { compactUuid, RecentIds } from '../../api/collector/dedup.js';
import { MAX_DURATION_MS, validateEvent, type EventInput } from '../../api/collector/event-schema.js';
import { correctEventTime, skewOffsetMs, timeMs } from '../../api/collector/event-time.js';
import { jsonSizeUpTo } from '../../api/collector/json-size.js';
import { collectorOptions, collectorOptionsFromEnv, DEFAULT_COLLECTOR_OPTIONS } from '../../api/collector/options.js';
import { TokenBuckets } from '../../lib/rate-limit.js';
import { writeKeyChecker } from '../../api/collector/write-keys.js';
import { ProblemError } from '../../api/problem.js';
import { ConfigError } from '../../lib/config.js';
import { playEventSchema } from '../../schemas/avro.js';
import { event, NOW } from './collector-helpers.js';

describe('skewOffsetMs', () => {
  it.each([
    [0, 0],
    [1_999, 0],
    [-1_999, 0],
    [2_000, 2_000],
    [-2_000, -2_000],
    [2_001, 2_000],
    [2_499, 2_000],
    [2_500, 3_000],
    [-2_500, -3_000],
    [-2_501, -3_000],
    [59_400, 59_000],
    [3_600_000, 3_600_000],
    [-86_400_499, -86_400_000],
  ])('skew %i ms moves events by %i ms', (skew, offset) => {
    expect(skewOffsetMs(NOW - skew, NOW)).toBe(offset);
  });

  it('always moves by whole seconds', () => {
    for (let skew = -10_000; skew <= 10_000; skew += 7) expect(Math.abs(skewOffsetMs(NOW - skew, NOW) % 1000)).toBe(0);
  });
});

describe('correctEventTime', () => {
  const H = 7 * 86_400_000;
  it('applies the offset, then the future and horizon rules', () => {
    expect(correctEventTime(NOW - 5_000, 3_000, NOW, H)).toEqual({ ok: true, eventTime: NOW - 2_000, clamped: false });
    expect(correctEventTime(NOW + 5_000, 0, NOW, H)).toEqual({ ok: true, eventTime: NOW + 5_000, clamped: false });
    expect(correctEventTime(NOW + 5_001, 0, NOW, H)).toEqual({ ok: true, eventTime: NOW, clamped: true });
    expect(correctEventTime(NOW + 86_400_000, 0, NOW, H)).toEqual({ ok: true, eventTime: NOW, clamped: true });
    expect(correctEventTime(NOW + 86_400_001, 0, NOW, H)).toEqual({ ok: false, reason: 'future_event_time' });
    expect(correctEventTime(NOW + 86_401_000, -1_000, NOW, H)).toEqual({ ok: true, eventTime: NOW, clamped: true });
    expect(correctEventTime(NOW - H, 0, NOW, H)).toEqual({ ok: true, eventTime: NOW - H, clamped: false });
    expect(correctEventTime(NOW - H - 1, 0, NOW, H)).toEqual({ ok: false, reason: 'event_too_old' });
    expect(correctEventTime(NOW - H - 1_000, 2_000, NOW, H)).toEqual({
      ok: true,
      eventTime: NOW - H + 1_000,
      clamped: false,
    });
  });

  it('parses sent_at and event_time: epoch ms and RFC 3339 strings', () => {
    expect(timeMs(NOW)).toBe(NOW);
    expect(timeMs('2026-01-15T12:00:00Z')).toBe(NOW);
    expect(timeMs('2026-01-15T13:00:00.250+01:00')).toBe(NOW + 250);
    expect(timeMs('2026-01-15T12:00:00.250999Z')).toBe(NOW + 250); // finer than ms: truncated
    expect(timeMs('1969-12-31T23:59:59Z')).toBeUndefined();
    expect(timeMs('not a date')).toBeUndefined();
  });
});

describe('RecentIds', () => {
  it('remembers claimed ids once the claim succeeds, forgets them when it fails', async () => {
    const clock = { now: NOW };
    const ids = new RecentIds({ maxEntries: 10, ttlMs: 60_000, now: () => clock.now });
    const settle = ids.claim(['a', 'b']);
    const pending = ids.status('a');
    expect(pending).toBeInstanceOf(Promise);
    settle(false);
    await expect(pending).resolves.toBe(false);
    expect(ids.status('a')).toBe('new');
    expect(ids.size).toBe(0);
    ids.claim(['a'])(true);
    expect(ids.status('a')).toBe('seen');
    expect(ids.status('b')).toBe('new');
  });

  it('is bounded by count (oldest first) and by age', () => {
    const clock = { now: NOW };
    const ids = new RecentIds({ maxEntries: 1_000, ttlMs: 10_000, now: () => clock.now });
    for (let i = 0; i < 5_000; i++) ids.claim([`id-${i}`])(true);
    expect(ids.size).toBe(1_000);
    expect(ids.status('id-3999')).toBe('new');
    expect(ids.status('id-4000')).toBe('seen');
    clock.now += 10_000;
    expect(ids.status('id-4999')).toBe('new');
    ids.claim(['fresh'])(true);
    expect(ids.size).toBe(1);
  });

  it('settling twice is harmless', () => {
    const ids = new RecentIds({ maxEntries: 10, ttlMs: 60_000, now: () => NOW });
    const settle = ids.claim(['a']);
    settle(true);
    settle(false);
    expect(ids.status('a')).toBe('seen');
  });

  it('holds at most maxEntries ids however many pass', () => {
    const ids = new RecentIds({ maxEntries: 200_000, ttlMs: 3_600_000, now: () => NOW });
    for (let i = 0; i < 400_000; i += 500) {
      ids.claim(Array.from({ length: 500 }, (_, j) => `00000000-0000-4000-8000-${String(i + j).padStart(12, '0')}`))(
        true,
      );
    }
    expect(ids.size).toBe(200_000);
  });
});

describe('jsonSizeUpTo', () => {
  it('equals the UTF-8 length of JSON.stringify for ordinary values', () => {
    const values: unknown[] = [
      null,
      true,
      false,
      0,
      -1.5e-7,
      1e21,
      'plain',
      'quote " backslash \\ newline \n nul \u0000 ünï 🎬',
      [],
      {},
      [1, [2, [3, {}]], 'x'],
      { a: 1, 'k"ey': [null, { b: 'c' }], ü: 'ö' },
      event(),
    ];
    for (const v of values) expect(jsonSizeUpTo(v, 1e9)).toBe(Buffer.byteLength(JSON.stringify(v)));
  });

  it('stops early past the limit, at any depth', () => {
    const deep = JSON.parse('['.repeat(300_000) + ']'.repeat(300_000)) as unknown;
    expect(jsonSizeUpTo(deep, 32 * 1024)).toBeGreaterThan(32 * 1024);
    expect(jsonSizeUpTo({ s: 'x'.repeat(40_000) }, 32 * 1024)).toBeGreaterThan(32 * 1024);
    expect(
      jsonSizeUpTo(
        Array.from({ length: 100_000 }, () => 0),
        32 * 1024,
      ),
    ).toBeGreaterThan(32 * 1024);
  });
});

describe('validateEvent', () => {
  it('accepts a complete event and one with every nullable field set', () => {
    expect(validateEvent(event()).ok).toBe(true);
    const full = event({
      event_type: 'error',
      referrer_video_id: 'video-0',
      seek_from_ms: 0,
      startup_ms: 800,
      rebuffer_ms: MAX_DURATION_MS,
      error_code: 'E_NETWORK',
    });
    expect(validateEvent(full).ok).toBe(true);
    expect(validateEvent(event({ referrer_video_id: null, error_code: null })).ok).toBe(true);
  });

  const reasonsFor = (overrides: Record<string, unknown>, remove: string[] = []): string[] => {
    const e = event(overrides);
    for (const k of remove) delete e[k];
    const r = validateEvent(e);
    return r.ok ? [] : r.reasons;
  };

  it.each<[Record<string, unknown>, string[], string]>([
    [{ watched_ms: -1 }, [], 'watched_ms: must be >= 0'],
    [{ position_ms: MAX_DURATION_MS + 1 }, [], `position_ms: must be <= ${MAX_DURATION_MS}`],
    [{ position_ms: 1.5 }, [], 'position_ms: must be integer'],
    [{ position_ms: '10' }, [], 'position_ms: must be integer'],
    [{ event_time: -1 }, [], 'event_time: must be >= 0'],
    [{ event_time: 1e300 }, [], 'event_time: must be <= 253402300799999'],
    [{ event_time: '2026-01-15 12:00' }, [], 'event_time: must be a RFC 3339 date-time'],
    [{ event_time: '2026-01-15T12:00:00' }, [], 'event_time: must be a RFC 3339 date-time'], // no zone: ambiguous
    [{ event_time: 'x'.repeat(41) }, [], 'event_time: must NOT have more than 40 characters'],
    [{ event_time: null }, [], 'event_time: must be epoch milliseconds (an integer) or an RFC 3339 date-time string'],
    [
      { event_id: 'urn:uuid:6f1c1f3e-2b9a-4c1e-8f4e-0a1b2c3d4e5f' },
      [],
      'event_id: must NOT have more than 36 characters',
    ],
    [{ event_id: 'not-a-uuid' }, [], 'event_id: must be a UUID'],
    [
      { event_type: 'PLAY_START' },
      [],
      'event_type: must be one of play_start, heartbeat, pause, resume, seek, rebuffer_start, rebuffer_end, complete, play_end, error',
    ],
    [{ device: 'fridge' }, [], 'device: must be one of desktop, mobile, tablet, tv, console, other'],
    [{ traffic_source: null }, [], 'traffic_source: must be string'],
    [{ country: 'DEU' }, [], 'country: must be an ISO 3166-1 alpha-2 code in upper case'],
    [{ video_id: '' }, [], 'video_id: must NOT have fewer than 1 characters'],
    [{ video_id: 'v'.repeat(129) }, [], 'video_id: must NOT have more than 128 characters'],
    [{ viewer_id: 'has space' }, [], 'viewer_id: must be visible ASCII without spaces'],
    [{ os: 'line\nbreak' }, [], 'os: must be text without control characters'],
    [{ os: 'lone \ud800 surrogate' }, [], 'os: must be text without control characters'],
    [{ sdk_version: 'v'.repeat(65) }, [], 'sdk_version: must NOT have more than 64 characters'],
    [{ received_at: NOW }, [], 'received_at: is not a known field'],
    [{}, ['session_id'], 'session_id: is required'],
    [{ startup_ms: -3 }, [], 'startup_ms: must be >= 0'],
  ])('%j (without %j) → %s', (overrides, remove, reason) => {
    expect(reasonsFor(overrides, remove)).toContain(reason);
  });

  it('reports at most 10 reasons', () => {
    const junk = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`junk${i}`, i]));
    const r = validateEvent(event(junk));
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.reasons).toHaveLength(10);
      expect(r.reasons[9]).toBe('… and 41 more');
    }
  });

  it('every valid event, at the bounds, encodes with the Avro schema', () => {
    const type = avro.Type.forSchema(playEventSchema() as avro.Schema);
    const extremes: Record<string, unknown>[] = [
      event(),
      event({
        event_time: 253_402_300_799_999,
        position_ms: MAX_DURATION_MS,
        watched_ms: MAX_DURATION_MS,
        seek_from_ms: MAX_DURATION_MS,
        startup_ms: MAX_DURATION_MS,
        rebuffer_ms: MAX_DURATION_MS,
        referrer_video_id: '~'.repeat(128),
        error_code: 'ü🎬'.repeat(42),
        os: '',
        sdk_version: '🎬'.repeat(32),
      }),
      event({ event_time: 0, position_ms: 0, watched_ms: 0, startup_ms: 0 }),
    ];
    for (const e of extremes) {
      const v = validateEvent(e);
      expect(v.ok).toBe(true);
      if (!v.ok) continue;
      const record = toPlayEvent(v.event, timeMs(v.event.event_time)!, NOW);
      expect(type.isValid(record)).toBe(true);
      expect(type.fromBuffer(type.toBuffer(record))).toEqual(record);
    }
  });
});

describe('readEnvelope and assessEvents', () => {
  const limits = { maxEventsPerRequest: 3, maxEventBytes: 2_000 };

  it('refuses non-envelopes (400) and size limits (413) as problems', () => {
    const status = (body: unknown): number => {
      try {
        readEnvelope(body, limits);
        return 200;
      } catch (err) {
        expect(err).toBeInstanceOf(ProblemError);
        return (err as ProblemError).statusCode;
      }
    };
    expect(status(null)).toBe(400);
    expect(status([])).toBe(400);
    expect(status({ sent_at: NOW })).toBe(400);
    expect(status({ sent_at: NOW, events: [1, 2, 3, 4] })).toBe(413);
    expect(status({ sent_at: NOW, events: [{ os: 'x'.repeat(2_000) }] })).toBe(413);
    expect(status({ sent_at: '2026-02-30T25:00:00Z', events: [] })).toBe(400);
    expect(status({ sent_at: NOW, events: [1, 2, 3] })).toBe(200);
  });

  it('turns each event into a PlayEvent or a rejection', () => {
    const a = event({ event_time: NOW - 10_000 });
    const r = assessEvents({ sentAt: NOW - 5_000, events: [a, { nope: 1 }] }, NOW, 86_400_000);
    expect(r.offsetMs).toBe(5_000);
    expect(r.candidates).toHaveLength(1);
    expect(r.candidates[0]!.event.event_time).toBe(NOW - 5_000);
    expect(r.candidates[0]!.event.received_at).toBe(NOW);
    expect(r.rejected[0]).toMatchObject({ index: 1, event_id: null, kind: 'invalid_event' });
  });

  it('keeps the PlayEvent field order of the Avro schema', () => {
    const v = validateEvent(event());
    if (!v.ok) throw new Error('invalid');
    const fields = (playEventSchema() as { fields: { name: string }[] }).fields.map((f) => f.name);
    expect(Object.keys(toPlayEvent(v.event as EventInput, NOW, NOW))).toEqual(fields);
  });
});

describe('TokenBuckets (per write key)', () => {
  it('allows a burst, then the rate, per key', () => {
    const clock = { now: NOW };
    const l = new TokenBuckets({ perSecond: 10, burst: 5 }, () => clock.now);
    for (let i = 0; i < 5; i++) expect(l.take('k')).toBe(0);
    expect(l.take('k')).toBe(1);
    expect(l.take('other')).toBe(0);
    clock.now += 100;
    expect(l.take('k')).toBe(0);
    expect(l.take('k')).toBe(1);
    clock.now += 10_000;
    for (let i = 0; i < 5; i++) expect(l.take('k')).toBe(0);
    expect(l.take('k')).toBe(1);
  });
});

describe('writeKeyChecker', () => {
  it('matches configured keys only, naming them by fingerprint', () => {
    const check = writeKeyChecker(['first-key-1', 'second-key-2']);
    const a = check('first-key-1');
    expect(a).toMatch(/^[0-9a-f]{8}$/);
    expect(check('second-key-2')).not.toBe(a);
    for (const bad of [undefined, '', 'first-key-', 'first-key-1 ', ['first-key-1'], 'x'.repeat(300)]) {
      expect(check(bad)).toBeUndefined();
    }
  });
});

describe('collector options', () => {
  it('has the documented defaults', () => {
    expect(DEFAULT_COLLECTOR_OPTIONS).toMatchObject({
      maxEventsPerRequest: 500,
      maxBodyBytes: 524_288,
      maxEventBytes: 32_768,
      eventHorizonMs: 604_800_000,
      rateLimit: { perSecond: 200, burst: 400 },
      dedup: { maxEntries: 1_000_000, ttlMs: 3_600_000 },
    });
    expect(collectorOptions({ rateLimit: { perSecond: 3 } }).rateLimit).toEqual({ perSecond: 3, burst: 6 });
  });

  it('reads its variables from the environment', () => {
    const o = collectorOptionsFromEnv({
      VIEWPULSE_EVENT_HORIZON_HOURS: '48',
      VIEWPULSE_COLLECTOR_RATE_LIMIT: '50',
      VIEWPULSE_COLLECTOR_DEDUP_MAX: '1000',
      VIEWPULSE_COLLECTOR_DEDUP_TTL_SECONDS: '60',
      VIEWPULSE_COLLECTOR_SEND_TIMEOUT_MS: '2500',
    });
    expect(o).toMatchObject({
      eventHorizonMs: 48 * 3_600_000,
      rateLimit: { perSecond: 50, burst: 100 },
      dedup: { maxEntries: 1000, ttlMs: 60_000 },
      sendTimeoutMs: 2500,
    });
    expect(collectorOptionsFromEnv({})).toEqual(DEFAULT_COLLECTOR_OPTIONS);
  });

  it.each([
    ['VIEWPULSE_EVENT_HORIZON_HOURS', 'a week'],
    ['VIEWPULSE_EVENT_HORIZON_HOURS', '0'],
    ['VIEWPULSE_EVENT_HORIZON_HOURS', '-5'],
    ['VIEWPULSE_COLLECTOR_RATE_LIMIT', 'fast'],
    ['VIEWPULSE_COLLECTOR_DEDUP_MAX', '1e6'],
  ])('%s=%s stops with an error naming the variable', (name, value) => {
    expect(() => collectorOptionsFromEnv({ [name]: value })).toThrow(ConfigError);
    expect(() => collectorOptionsFromEnv({ [name]: value })).toThrow(name);
  });
});

describe('compactUuid', () => {
  it('is the 16 bytes of the UUID, whatever the case', () => {
    const id = '6f1c1f3e-2b9a-4c1e-8f4e-0a1b2c3d4e5f';
    const c = compactUuid(id);
    expect(c).toHaveLength(16);
    expect(Buffer.from(c, 'latin1').toString('hex')).toBe(id.replaceAll('-', ''));
    expect(compactUuid(id.toUpperCase())).toBe(c);
    expect(compactUuid('6f1c1f3e-2b9a-4c1e-8f4e-0a1b2c3d4e50')).not.toBe(c);
  });
});
