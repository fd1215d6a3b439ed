// Shared by the collector unit tests: valid events, a fake clock, an in-memory sink whose
// behaviour each test controls, and an app wired to them.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { Registry } from 'prom-client';
import { buildCollectorApp, type EventSink } from '../../api/collector/app.js';
import type { CollectorOptionsInput } from '../../api/collector/options.js';
import type { PlayEvent } from '../../schemas/types.js';

export const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
export const KEY = 'unit-test-write-key';

export function event(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    event_id: randomUUID(),
    event_type: 'heartbeat',
    event_time: NOW - 1_000,
    session_id: 'session-1',
    viewer_id: 'viewer-1',
    video_id: 'video-1',
    position_ms: 10_000,
    watched_ms: 5_000,
    device: 'mobile',
    os: 'Android 14',
    country: 'DE',
    traffic_source: 'suggested',
    sdk_version: 'web/1.2.3',
    ...overrides,
  };
}

/** A sink that stores what it is given; `mode` decides how the next sends end. */
export class FakeSink implements EventSink {
  readonly stored: PlayEvent[] = [];
  calls = 0;
  mode: 'ok' | 'fail' | 'hang' | 'manual' = 'ok';
  failWith: unknown = new Error('broker down');
  private readonly manual: { resolve: () => void; reject: (e: unknown) => void; events: PlayEvent[] }[] = [];

  async send(events: PlayEvent[]): Promise<void> {
    this.calls++;
    if (this.mode === 'fail') throw this.failWith;
    if (this.mode === 'hang') return new Promise<void>(() => {});
    if (this.mode === 'manual') {
      return new Promise<void>((resolve, reject) => {
        this.manual.push({ resolve: () => (this.stored.push(...events), resolve()), reject, events });
      });
    }
    this.stored.push(...events);
  }

  /** Ends the oldest manual send. */
  finish(ok: boolean): void {
    const m = this.manual.shift();
    if (!m) throw new Error('no manual send waiting');
    if (ok) m.resolve();
    else m.reject(new Error('broker down'));
  }

  get waiting(): number {
    return this.manual.length;
  }
}

export interface TestCollector {
  app: FastifyInstance;
  sink: FakeSink;
  clock: { now: number };
  metrics: Registry;
  post(body: unknown, headers?: Record<string, string>): Promise<LightMyRequestResponse>;
}

export function testCollector(options: CollectorOptionsInput = {}, ready?: () => boolean): TestCollector {
  const sink = new FakeSink();
  const clock = { now: NOW };
  const metrics = new Registry();
  const app = buildCollectorApp({
    sink,
    writeKeys: [KEY, 'another-write-key'],
    options: { rateLimit: { perSecond: 10_000, burst: 10_000 }, ...options },
    now: () => clock.now,
    metrics,
    ready,
  });
  const post = (body: unknown, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> =>
    app.inject({
      method: 'POST',
      url: '/v1/events',
      headers: { 'content-type': 'application/json', 'x-write-key': KEY, ...headers },
      payload: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
    });
  return { app, sink, clock, metrics, post };
}

/** A metric's value from the registry's text output (labels as written, e.g. `{reason="x"}`). */
export async function metricValue(registry: Registry, name: string, labels = ''): Promise<number> {
  const text = await registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line ? Number(line.split(' ').pop()) : 0;
}
