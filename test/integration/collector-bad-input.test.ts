// Hostile input against a real listening collector (real producer, registry and Kafka, on
// loopback): 10,000 generated malformed requests all get the 4xx problem document they
// should, none a 5xx; good events mixed into batches with bad ones are all accepted and are
// exactly what Kafka holds afterwards; memory stays flat.
import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AvroSerde } from '../../lib/kafka/serde.js';
import { playEventSchema } from '../../schemas/avro.js';
import { valueSubject } from '../../schemas/topics.js';
import type { PlayEvent } from '../../schemas/types.js';
import { readWholeTopic, startCollector, validEvent, WRITE_KEY, type CollectorUnderTest } from './collector-helpers.js';

const MALFORMED = 10_000;
const MIXED_EVERY = 20; // one mixed batch after every 20 malformed requests
const CONCURRENCY = 8;
const SEED = 0x5eed;
const DEEP_MARK = '__deep_value_of_depth_';

/** mulberry32: a small seeded PRNG so a failure can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Req {
  kind: string;
  path?: string;
  method?: string;
  headers: Record<string, string>;
  body?: string | Uint8Array;
  expect: number;
}

function generator(seed: number) {
  const rnd = prng(seed);
  const int = (n: number): number => Math.floor(rnd() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => int(256));
  const json = { 'content-type': 'application/json', 'x-write-key': WRITE_KEY };
  const now = (): number => Date.now();
  const deep = (depth: number, open = '[', close = ']'): string => open.repeat(depth) + close.repeat(depth);
  const deepObj = (depth: number): string => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
  const envelope = (events: string): string => `{"sent_at":${now()},"events":${events}}`;

  const makers: (() => Req)[] = [
    // Not JSON at all, or broken JSON.
    () => {
      const good = JSON.stringify({ sent_at: now(), events: [validEvent(now())] });
      const body = pick([
        good.slice(0, 1 + int(good.length - 2)),
        `${good},`,
        good.replaceAll('"', "'"),
        `{"sent_at":1,"events":[1,2,]}`,
        'NaN',
        '{"sent_at":Infinity,"events":[]}',
        'undefined',
        '\uFEFF{',
        String.fromCharCode(...Array.from({ length: 1 + int(200) }, () => 32 + int(95))),
      ]);
      return { kind: 'bad-json', headers: json, body, expect: 400 };
    },
    // Random bytes declared as JSON.
    () => ({ kind: 'random-bytes', headers: json, body: bytes(1 + int(4096)), expect: 400 }),
    // Valid JSON, but not an envelope.
    () => {
      const body = pick<unknown>([
        [],
        [{ sent_at: 1, events: [] }],
        42,
        'events',
        null,
        true,
        {},
        { events: {} },
        { events: 'x' },
        { sent_at: now() },
        { sent_at: true, events: [] },
        { sent_at: -5, events: [] },
        { sent_at: 1.25, events: [] },
        { sent_at: 'tomorrow', events: [] },
        { sent_at: '2026-13-45T99:00:00Z', events: [] },
        { sent_at: { $date: 1 }, events: [] },
        { sent_at: 1e300, events: [] },
        { sent_at: now(), events: [], extra: 'field' },
        { sent_at: now(), events: [], __proto__x: 1 },
      ]);
      return { kind: 'not-envelope', headers: json, body: JSON.stringify(body), expect: 400 };
    },
    // Prototype poisoning.
    () => ({
      kind: 'proto',
      headers: json,
      body: pick([
        `{"__proto__":{"admin":true},"sent_at":1,"events":[]}`,
        `{"sent_at":1,"events":[{"__proto__":{"x":1}}]}`,
        `{"constructor":{"prototype":{"x":1}},"sent_at":1,"events":[]}`,
      ]),
      expect: 400,
    }),
    // Deep nesting: as the body, inside sent_at, or as an event larger than 32 KB.
    () => {
      const d = 1_000 + int(200_000);
      return pick<Req>([
        { kind: 'deep-body', headers: json, body: deep(d), expect: 400 },
        { kind: 'deep-body-obj', headers: json, body: deepObj(Math.min(d, 80_000)), expect: 400 },
        { kind: 'deep-sent-at', headers: json, body: `{"sent_at":${deep(d)},"events":[]}`, expect: 400 },
        { kind: 'deep-event', headers: json, body: envelope(`[${deep(20_000 + int(100_000))}]`), expect: 413 },
      ]);
    },
    // Huge strings: an event over 32 KB, a huge sent_at, a huge unknown top-level field.
    () => {
      const n = 33 * 1024 + int(400 * 1024);
      return pick<Req>([
        {
          kind: 'huge-event',
          headers: json,
          body: JSON.stringify({ sent_at: now(), events: [validEvent(now(), { os: 'x'.repeat(n) })] }),
          expect: 413,
        },
        {
          kind: 'huge-sent-at',
          headers: json,
          body: JSON.stringify({ sent_at: 'x'.repeat(n), events: [] }),
          expect: 400,
        },
        {
          kind: 'huge-field',
          headers: json,
          body: JSON.stringify({ sent_at: now(), events: [], x: 'x'.repeat(n) }),
          expect: 400,
        },
      ]);
    },
    // Too many events, or a body over 512 KB.
    () =>
      pick<Req>([
        { kind: 'too-many', headers: json, body: envelope(`[${'{},'.repeat(500 + int(1000))}{}]`), expect: 413 },
        {
          kind: 'oversize',
          headers: json,
          body: JSON.stringify({ sent_at: now(), events: [], pad: 'p'.repeat(512 * 1024 + int(256 * 1024)) }),
          expect: 413,
        },
      ]),
    // Wrong or missing content type.
    () => {
      const body = JSON.stringify({ sent_at: now(), events: [validEvent(now())] });
      const type = pick([
        'text/plain',
        'application/xml',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/jsonp',
        'application/octet-stream',
        'image/png',
        null,
      ]);
      const headers: Record<string, string> = { 'x-write-key': WRITE_KEY };
      if (type) headers['content-type'] = type;
      return { kind: 'content-type', headers, body: type ? body : new TextEncoder().encode(body), expect: 415 };
    },
    // Missing or wrong write keys.
    () => {
      const body = JSON.stringify({ sent_at: now(), events: [validEvent(now())] });
      const key = pick([
        undefined,
        '',
        'nope',
        `${WRITE_KEY}x`,
        WRITE_KEY.slice(0, -1),
        WRITE_KEY.toUpperCase(),
        randomUUID(),
        'k'.repeat(300),
        "' OR 1=1 --",
      ]);
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (key !== undefined) headers['x-write-key'] = key;
      return { kind: 'write-key', headers, body, expect: 401 };
    },
    // Unknown routes and methods.
    () =>
      pick<Req>([
        { kind: 'route', path: '/v1/event', headers: json, body: '{}', expect: 404 },
        { kind: 'route', method: 'PUT', headers: json, body: '{}', expect: 404 },
        { kind: 'route', method: 'GET', path: '/v1/events?x=1', headers: {}, expect: 404 },
        { kind: 'route', path: `/${'a'.repeat(2000)}`, headers: json, body: '{}', expect: 404 },
      ]),
  ];

  // Invalid events that still fit the per-event limit: each is rejected on its own.
  const badEvents: (() => unknown)[] = [
    () => validEvent(now(), { watched_ms: -1 - int(1000) }),
    () => validEvent(now(), { position_ms: 'ten' }),
    () => validEvent(now(), { event_type: 'explode' }),
    () => validEvent(now(), { event_id: 'not-a-uuid' }),
    () => validEvent(now(), { country: 'xx' }),
    () => validEvent(now(), { os: 'x'.repeat(1000 + int(20_000)) }),
    // Deeply nested value in a field (spliced into the JSON text by sendMixed).
    () => validEvent(now(), { video_id: `${DEEP_MARK}${1 + int(10_000)}` }),
    () => validEvent(now(), { unknown_field: 1 }),
    () => validEvent(now(), { event_time: now() + 2 * 86_400_000 }),
    () => validEvent(now(), { event_time: now() - 8 * 86_400_000 }),
    () => validEvent(now(), { viewer_id: null }),
    () => {
      const e = validEvent(now());
      delete e.session_id;
      return e;
    },
    () => pick<unknown>([null, 7, 'event', [], true]),
  ];

  return {
    malformed: (): Req => pick(makers)(),
    mixed: (): { events: unknown[]; good: number[] } => {
      const slots = Array.from({ length: 10 }, () => rnd() < 0.5);
      const events = slots.map((good) => (good ? validEvent(now()) : pick(badEvents)()));
      return { events, good: slots.flatMap((g, i) => (g ? [i] : [])) };
    },
  };
}

interface Memory {
  heapUsed: number;
  rss: number;
}

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
function memoryAfterGc(): Memory {
  gc();
  gc();
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, rss: m.rss };
}

/** Writes raw bytes (not HTTP) and returns what the server answers. */
function rawExchange(port: number, payload: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.on('error', reject);
    socket.setTimeout(5_000, () => socket.destroy(new Error('raw exchange timed out')));
    socket.write(payload);
  });
}

describe('collector under hostile input, real services', () => {
  let c: CollectorUnderTest;

  beforeAll(async () => {
    c = await startCollector('collector-bad');
  });

  afterAll(async () => {
    await c?.close();
  });

  it(`answers ${MALFORMED} malformed requests with 4xx problems, accepts the good events mixed in`, async () => {
    const gen = generator(SEED);
    const byKind = new Map<string, number>();
    const failures: string[] = [];
    const goodIds: string[] = [];
    let sentMalformed = 0;
    let mixedRequests = 0;
    let duplicatesSent = 0;
    let memoryAt2k: Memory | undefined;

    const send = async (r: Req): Promise<void> => {
      const res = await fetch(`${c.collector.url}${r.path ?? '/v1/events'}`, {
        method: r.method ?? 'POST',
        headers: r.headers,
        body: r.body,
      });
      const text = await res.text();
      byKind.set(r.kind, (byKind.get(r.kind) ?? 0) + 1);
      const type = res.headers.get('content-type') ?? '';
      if (res.status !== r.expect || !type.startsWith('application/problem+json')) {
        failures.push(`${r.kind}: expected ${r.expect}, got ${res.status} ${type} ${text.slice(0, 200)}`);
        return;
      }
      const p = JSON.parse(text) as Record<string, unknown>;
      if (p.status !== r.expect || typeof p.title !== 'string' || typeof p.detail !== 'string' || !p.code) {
        failures.push(`${r.kind}: not a problem document: ${text.slice(0, 200)}`);
      }
    };

    const sendMixed = async (): Promise<void> => {
      const { events, good } = gen.mixed();
      // Now and then, resend an event already accepted: a duplicate, not a second record.
      if (goodIds.length > 0 && mixedRequests % 10 === 0) {
        const again = goodIds[mixedRequests % goodIds.length]!;
        events.push(validEvent(Date.now(), { event_id: again }));
        duplicatesSent++;
      }
      mixedRequests++;
      const res = await fetch(`${c.collector.url}/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-write-key': WRITE_KEY },
        body: JSON.stringify({ sent_at: Date.now(), events }).replace(
          new RegExp(`"${DEEP_MARK}(\\d+)"`, 'g'),
          (_, depth: string) => '['.repeat(Number(depth)) + ']'.repeat(Number(depth)),
        ),
      });
      const body = (await res.json()) as { accepted: number; duplicates: number; rejected: { index: number }[] };
      const bad = events.map((_, i) => i).filter((i) => i < 10 && !good.includes(i));
      if (res.status !== 200 || body.accepted !== good.length) {
        failures.push(`mixed: ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
        return;
      }
      expect(body.rejected.map((r) => r.index)).toEqual(bad);
      for (const i of good) goodIds.push((events[i] as { event_id: string }).event_id);
    };

    let next = 0;
    let stopped = false;
    const worker = async (): Promise<void> => {
      while (next < MALFORMED && !stopped) {
        const i = next++;
        await send(gen.malformed());
        sentMalformed++;
        if (i % MIXED_EVERY === 0) await sendMixed();
        if (sentMalformed >= 2_000 && !memoryAt2k) memoryAt2k = memoryAfterGc();
      }
    };
    const started = Date.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, () =>
        worker().catch((err: unknown) => {
          stopped = true;
          throw err;
        }),
      ),
    );
    const memoryAt10k = memoryAfterGc();
    const seconds = (Date.now() - started) / 1000;

    // A few exchanges that are not HTTP at all.
    const port = Number(new URL(c.collector.url).port);
    const rnd = prng(SEED + 1);
    for (let i = 0; i < 30; i++) {
      const junk = Buffer.from(Array.from({ length: 1 + Math.floor(rnd() * 500) }, () => Math.floor(rnd() * 256)));
      junk[0] = 0; // never a valid method
      const answer = await rawExchange(port, Buffer.concat([junk, Buffer.from('\r\n\r\n')]));
      expect(answer).toMatch(/^HTTP\/1\.1 4\d\d /);
      expect(answer).toMatch(/content-type: application\/problem\+json/i);
    }

    console.log(
      `[collector-bad-input] ${sentMalformed} malformed + ${mixedRequests} mixed requests in ${seconds.toFixed(1)} s; ` +
        `by kind ${JSON.stringify(Object.fromEntries([...byKind].sort()))}; ` +
        `heap ${(memoryAt2k!.heapUsed / 2 ** 20).toFixed(1)} → ${(memoryAt10k.heapUsed / 2 ** 20).toFixed(1)} MiB, ` +
        `rss ${(memoryAt2k!.rss / 2 ** 20).toFixed(0)} → ${(memoryAt10k.rss / 2 ** 20).toFixed(0)} MiB`,
    );
    expect(failures.slice(0, 20)).toEqual([]);
    expect(sentMalformed).toBe(MALFORMED);
    expect(byKind.size).toBeGreaterThanOrEqual(15);
    expect(mixedRequests).toBe(MALFORMED / MIXED_EVERY);

    // Memory: flat between 2k and 10k requests (generous bounds: GC timing, allocator slack).
    expect(memoryAt10k.heapUsed - memoryAt2k!.heapUsed).toBeLessThan(48 * 2 ** 20);
    expect(memoryAt10k.rss - memoryAt2k!.rss).toBeLessThan(160 * 2 ** 20);

    // Kafka holds exactly the good events, once each.
    const messages = await readWholeTopic(c.s.kafka, c.topic);
    const serde = new AvroSerde<PlayEvent>(c.s.registry, valueSubject(c.topic), playEventSchema());
    const inKafka: string[] = [];
    for (const m of messages) inKafka.push((await serde.decode(m.value!)).event_id);
    expect(duplicatesSent).toBeGreaterThan(0);
    expect(inKafka).toHaveLength(goodIds.length);
    expect(new Set(inKafka).size).toBe(inKafka.length);
    expect([...inKafka].sort()).toEqual([...goodIds].sort());

    // And none of it was a 5xx.
    const metrics = await (await fetch(`${c.collector.url}/metrics`)).text();
    expect(metrics).not.toMatch(/viewpulse_collector_requests_total\{[^}]*status="5\d\d"\}/);
  });
});
