// The QoE routes (/v1/creators/:id/qoe, /v1/videos/:id/qoe) with inject() and a ClickHouse that
// fails the test when asked: every refusal (401, 404 for someone else's creator, 400) comes
// before a query; the OpenAPI document states the quantiles as estimates. The numbers themselves
// are checked on the real pipeline (test/integration/api-qoe.test.ts).
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../api/app.js';
import { signToken } from '../../api/auth.js';
import type { ClickHouseClient } from '../../lib/clickhouse/client.js';

const SECRET = 'unit-test-jwt-secret-0123456789';
const NOW = Date.UTC(2026, 10, 20, 10, 17, 42);

class NoClickHouse {
  calls = 0;
  query(): never {
    this.calls++;
    throw new Error('ClickHouse must not be asked');
  }
  command(): never {
    return this.query();
  }
  async ping(): Promise<{ success: boolean }> {
    return { success: true };
  }
}

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

function build(): { app: FastifyInstance; ch: NoClickHouse } {
  const ch = new NoClickHouse();
  app = buildApp({
    clickhouse: ch as unknown as ClickHouseClient,
    database: 'viewpulse_unit',
    jwtSecret: SECRET,
    now: () => NOW,
    rateLimit: false,
  });
  return { app, ch };
}

const token = (sub: string): Promise<string> =>
  signToken({ secret: SECRET, sub, role: 'creator', ttlSeconds: 3600, now: NOW });

describe('QoE routes: refused before any query', () => {
  it('401 without a token, on both routes', async () => {
    const { app, ch } = build();
    for (const url of ['/v1/creators/c1/qoe', '/v1/videos/v1/qoe']) {
      const res = await app.inject({ url });
      expect(res.statusCode, url).toBe(401);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
    }
    expect(ch.calls).toBe(0);
  });

  it("a creator asking for another creator's QoE gets the creator 404", async () => {
    const { app, ch } = build();
    const res = await app.inject({
      url: '/v1/creators/c2/qoe',
      headers: { authorization: `Bearer ${await token('c1')}` },
    });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ code: 'VP_ERR_HTTP_NOT_FOUND', detail: 'no such creator' });
    expect(ch.calls).toBe(0);
  });

  it('400 for a bad interval, an unknown parameter, a bad range, a bad id', async () => {
    const { app, ch } = build();
    const auth = { authorization: `Bearer ${await token('c1')}` };
    const cases: Array<[string, RegExp]> = [
      ['/v1/creators/c1/qoe?interval=minute', /interval.*hour, day/],
      ['/v1/videos/v1/qoe?interval=week', /interval.*hour, day/],
      ['/v1/creators/c1/qoe?metric=plays', /must NOT have additional properties: "metric"/],
      ['/v1/videos/v1/qoe?from=yesterday', /from/],
      ['/v1/creators/c1/qoe?from=2026-11-20&to=2026-11-19', /after/],
      ['/v1/creators/c1/qoe?tz=Mars/Olympus', /time zone/],
      ['/v1/videos/bad%20id/qoe', /id/],
      ['/v1/creators/c1/qoe?format=xml', /format/],
    ];
    for (const [url, detail] of cases) {
      const res = await app.inject({ url, headers: auth });
      expect(res.statusCode, `${url} ${res.body}`).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(String(res.json().detail), url).toMatch(detail);
    }
    expect(ch.calls).toBe(0);
  });
});

interface JsonSchema {
  properties: Record<string, JsonSchema>;
  required?: string[];
  description?: string;
}

describe('QoE routes in the OpenAPI document', () => {
  it('both documented: bearer auth, interval hour/day, quantiles stated as estimates, every figure', async () => {
    const { app } = build();
    const doc = (await app.inject({ url: '/docs/json' })).json() as {
      paths: Record<string, { get: Record<string, unknown> }>;
    };
    for (const path of ['/v1/creators/{id}/qoe', '/v1/videos/{id}/qoe']) {
      const op = doc.paths[path]!.get;
      expect(op.security).toEqual([{ bearerAuth: [] }]);
      expect(String(op.description)).toMatch(/estimates, not exact: nearest rank over a histogram of 1 % buckets/);
      expect(String(op.description)).toMatch(/stall time \/ \(watch time \+ stall time\)/);
      const params = op.parameters as Array<{ name: string; schema: { enum?: string[] } }>;
      expect(params.find((p) => p.name === 'interval')!.schema.enum).toEqual(['hour', 'day']);
      const responses = op.responses as Record<string, { content: Record<string, { schema: JsonSchema }> }>;
      const ok = responses['200']!.content['application/json']!.schema;
      const totals = ok.properties.totals!;
      for (const f of [
        'plays',
        'startup_ms_p50',
        'startup_ms_p95',
        'rebuffering_ratio',
        'rebuffers_per_play',
        'failures',
        'failure_rate',
      ])
        expect(totals.required, `${path} ${f}`).toContain(f);
      expect(totals.properties.startup_ms_p95!.description).toMatch(/estimate/);
      expect(responses['200']!.content['text/csv']).toBeDefined();
    }
  });
});
