// The insights API with inject() and no network: a fake ClickHouse that fails the test when it
// is asked anything, so every request refused here (401, 404 for someone else's creator, 400,
// 429) is refused before a query; plus the OpenAPI document, health, metrics, CORS.
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp, type ApiDeps } from '../../api/app.js';
import { ID_PATTERN, signToken } from '../../api/auth.js';
import type { ClickHouseClient } from '../../lib/clickhouse/client.js';
import { qs } from '../url.js';

const SECRET = 'unit-test-jwt-secret-0123456789';
const NOW = Date.UTC(2026, 10, 20, 10, 17, 42);

class NoClickHouse {
  calls = 0;
  pingOk = true;
  query(): never {
    this.calls++;
    throw new Error('ClickHouse must not be asked');
  }
  command(): never {
    return this.query();
  }
  async ping(): Promise<{ success: boolean }> {
    return { success: this.pingOk };
  }
}

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

function build(overrides: Partial<ApiDeps> = {}): { app: FastifyInstance; ch: NoClickHouse } {
  const ch = new NoClickHouse();
  app = buildApp({
    clickhouse: ch as unknown as ClickHouseClient,
    database: 'viewpulse_unit',
    jwtSecret: SECRET,
    now: () => NOW,
    rateLimit: false,
    ...overrides,
  });
  return { app, ch };
}

const token = (sub: string, role: 'creator' | 'admin' = 'creator', ttlSeconds = 3600, now = NOW): Promise<string> =>
  signToken({ secret: SECRET, sub, role, ttlSeconds, now });

const withoutId = (body: string): unknown => {
  const { request_id: _r, ...rest } = JSON.parse(body) as Record<string, unknown>;
  return rest;
};

const ID = new RegExp(ID_PATTERN);
const CREATOR_ROUTES = ['overview', 'timeseries', 'realtime', 'videos', 'audience', 'health'];

describe('authentication', () => {
  it('401 with WWW-Authenticate and a reason for every kind of bad credential, before any query', async () => {
    const { app, ch } = build();
    const expired = await token('c1', 'creator', 60, NOW - 3_600_000);
    const otherSecret = await signToken({
      secret: `${SECRET}-other`,
      sub: 'c1',
      role: 'creator',
      ttlSeconds: 60,
      now: NOW,
    });
    const good = await token('c1');
    const [h, p] = good.split('.');
    const noneAlg = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${p}.`;
    const badRole = await (async () => {
      const { SignJWT } = await import('jose');
      return new SignJWT({ role: 'root' })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject('c1')
        .setExpirationTime(Math.floor(NOW / 1000) + 60)
        .sign(new TextEncoder().encode(SECRET));
    })();
    const cases: Array<[string | undefined, string]> = [
      [undefined, 'missing_token'],
      ['', 'missing_token'],
      ['Basic dXNlcjpwYXNz', 'malformed_header'],
      ['Bearer', 'invalid_token'],
      ['Bearer not-a-jwt', 'invalid_token'],
      [`Bearer ${h}.${p}.AAAA`, 'invalid_token'],
      [`Bearer ${otherSecret}`, 'invalid_token'],
      [`Bearer ${noneAlg}`, 'invalid_token'],
      [`Bearer ${expired}`, 'token_expired'],
      [`Bearer ${badRole}`, 'invalid_claims'],
    ];
    for (const [authorization, reason] of cases) {
      for (const url of ['/v1/creators/c1/overview', '/v1/videos/v1/stats', "/v1/videos/x'--/retention"]) {
        const res = await app.inject({ url, headers: authorization === undefined ? {} : { authorization } });
        expect(res.statusCode, `${authorization} ${url}`).toBe(401);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="viewpulse"/);
        const body = JSON.parse(res.body) as { code: string; reason: string; request_id: string };
        expect(body.code).toBe('VP_ERR_HTTP_UNAUTHORIZED');
        expect(body.reason).toBe(reason);
        expect(body.request_id).toBe(res.headers['x-request-id']);
      }
    }
    const expiredRes = await app.inject({
      url: '/v1/creators/c1/overview',
      headers: { authorization: `Bearer ${expired}` },
    });
    expect(expiredRes.headers['www-authenticate']).toContain('error_description="token expired"');
    expect(JSON.parse(expiredRes.body).detail).toMatch(/expired/);
    expect(ch.calls).toBe(0);
  });

  it('a creator asking for another creator gets the creator 404 without a query, on every creator route', async () => {
    const { app, ch } = build();
    const a = await token('c1');
    const bodies = new Set<string>();
    for (const r of CREATOR_ROUTES) {
      const res = await app.inject({ url: `/v1/creators/c2/${r}`, headers: { authorization: `Bearer ${a}` } });
      expect(res.statusCode, r).toBe(404);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      bodies.add(JSON.stringify(withoutId(res.body)));
    }
    expect([...bodies]).toEqual([
      JSON.stringify({
        type: 'urn:viewpulse:problem:not-found',
        title: 'Not found',
        status: 404,
        detail: 'no such creator',
        code: 'VP_ERR_HTTP_NOT_FOUND',
      }),
    ]);
    expect(ch.calls).toBe(0);
  });

  it('per-token rate limit: 429 with Retry-After, other tokens unaffected', async () => {
    let now = NOW;
    const { app } = build({ rateLimit: { perSecond: 1, burst: 2 }, now: () => now });
    const a = { authorization: `Bearer ${await token('c1')}` };
    const b = { authorization: `Bearer ${await token('c3')}` };
    const url = '/v1/creators/c2/overview';
    expect((await app.inject({ url, headers: a })).statusCode).toBe(404);
    expect((await app.inject({ url, headers: a })).statusCode).toBe(404);
    const limited = await app.inject({ url, headers: a });
    expect(limited.statusCode).toBe(429);
    expect(limited.headers['retry-after']).toBe('1');
    expect(JSON.parse(limited.body).code).toBe('VP_ERR_HTTP_RATE_LIMITED');
    expect((await app.inject({ url, headers: b })).statusCode).toBe(404);
    now += 1000;
    expect((await app.inject({ url, headers: a })).statusCode).toBe(404);
  });
});

describe('hostile input: 400 problem+json before any query', () => {
  const HOSTILE = [
    "' OR 1=1 --",
    "'; DROP TABLE view_counts; --",
    '%00',
    '\u0000',
    '"',
    '\\',
    '1e309',
    '99999999999999999999999',
    '-1',
    '../../etc/passwd',
    '<script>alert(1)</script>',
    '${7*7}',
    ' ',
    'x'.repeat(5000),
  ];

  const cases = (): Array<[string, string]> => {
    const out: Array<[string, string]> = [];
    const enc = encodeURIComponent;
    for (const h of HOSTILE) {
      // every query parameter of every route
      for (const r of ['overview', 'timeseries', 'videos', 'audience', 'health'])
        for (const q of ['from', 'to', 'tz']) out.push([`/v1/creators/c1/${r}?${qs({ [q]: h })}`, q]);
      out.push([`/v1/creators/c1/timeseries?${qs({ metric: h })}`, 'metric']);
      out.push([`/v1/creators/c1/timeseries?${qs({ interval: h })}`, 'interval']);
      out.push([`/v1/creators/c1/videos?${qs({ sort: h })}`, 'sort']);
      out.push([`/v1/creators/c1/videos?${qs({ limit: h })}`, 'limit']);
      out.push([`/v1/creators/c1/videos?${qs({ cursor: h })}`, 'cursor']);
      out.push([`/v1/creators/c1/overview?${qs({ format: h })}`, 'format']);
      out.push([`/v1/creators/c1/realtime?${qs({ format: h })}`, 'format']);
      for (const r of ['stats', 'retention', 'traffic']) {
        out.push([`/v1/videos/v1/${r}?${qs({ from: h })}`, 'from']);
        out.push([`/v1/videos/v1/${r}?${qs({ tz: h })}`, 'tz']);
      }
      out.push([`/v1/videos/v1/breakdown?${qs({ dimension: h })}`, 'dimension']);
      out.push([`/v1/videos/v1/breakdown?${qs({ dimension: 'country', limit: h })}`, 'limit']);
      out.push([`/v1/videos/v1/traffic?${qs({ limit: h })}`, 'limit']);
      out.push([`/v1/videos/v1/stats?${qs({ interval: h })}`, 'interval']);
      // path ids (a hostile string that is a well-formed id, like 1e309, is a 404: see the integration test)
      if (ID.test(h)) continue;
      for (const r of ['overview', 'videos']) out.push([`/v1/creators/${enc(h)}/${r}`, 'id']);
      for (const r of ['stats', 'retention', 'breakdown?dimension=os', 'traffic'])
        out.push([`/v1/videos/${enc(h)}/${r}`, 'id']);
    }
    const cursor = (json: string): string => qs({ cursor: Buffer.from(json).toString('base64url') });
    const semantic: string[] = [
      '/v1/creators/c1/overview?from=2026-02-30',
      '/v1/creators/c1/overview?from=2026-11-20T10:00:00',
      '/v1/creators/c1/overview?from=2026-11-21&to=2026-11-20',
      '/v1/creators/c1/overview?from=2020-01-01&to=2026-01-01',
      '/v1/creators/c1/overview?from=1999-12-31',
      '/v1/creators/c1/overview?to=2101-01-01',
      '/v1/creators/c1/overview?tz=Mars/Olympus',
      '/v1/creators/c1/overview?tz=Europe/Berlin%00',
      '/v1/creators/c1/overview?unknown=1',
      '/v1/creators/c1/overview?from=2026-11-20&from=2026-11-21',
      '/v1/creators/c1/timeseries?metric=likes',
      '/v1/creators/c1/timeseries?metric=unique_viewers&interval=minute',
      '/v1/creators/c1/timeseries?interval=minute&from=2026-01-01&to=2026-03-01',
      '/v1/creators/c1/timeseries?interval=week',
      '/v1/creators/c1/videos?limit=0',
      '/v1/creators/c1/videos?limit=101',
      '/v1/creators/c1/videos?limit=1.5',
      '/v1/creators/c1/videos?sort=title',
      `/v1/creators/c1/videos?${cursor('{"s":"views"}')}`,
      `/v1/creators/c1/videos?${cursor('{"s":"plays","v":1,"id":"v1","f":1,"t":2}')}`,
      `/v1/creators/c1/videos?${cursor('{"s":"views","v":1,"id":"v1\' --","f":946684800000,"t":946771200000}')}`,
      `/v1/creators/c1/videos?${cursor('{"s":"views","v":1e300,"id":"v1","f":946684800000,"t":946771200000}')}`,
      `/v1/creators/c1/videos?${cursor('{"s":"views","v":1,"id":"v1","f":-8640000000000001,"t":2}')}`,
      `/v1/creators/c1/videos?from=2026-11-01&to=2026-11-02&${cursor('{"s":"views","v":1,"id":"v1","f":946684800000,"t":946771200000}')}`,
      '/v1/videos/v1/breakdown',
      '/v1/videos/v1/breakdown?dimension=browser',
      '/v1/videos/v1/breakdown?dimension=country&limit=1000000',
      '/v1/videos/v1/stats?interval=minute&from=2026-01-01&to=2026-03-01',
      '/v1/creators/c1/health?format=csv',
    ];
    for (const u of semantic) out.push([u, 'semantic']);
    return out;
  };

  it('every parameter of every route, for a creator and an admin', async () => {
    const { app, ch } = build();
    for (const who of [await token('c1'), await token('root', 'admin')]) {
      for (const [url, param] of cases()) {
        const res = await app.inject({ url, headers: { authorization: `Bearer ${who}` } });
        expect(res.statusCode, `${param}: ${url.slice(0, 200)} → ${res.body.slice(0, 200)}`).toBe(400);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        const body = JSON.parse(res.body) as { code: string; status: number; detail: string };
        expect(body.code).toBe('VP_ERR_HTTP_BAD_REQUEST');
        expect(body.detail.length).toBeGreaterThan(0);
      }
    }
    expect(ch.calls).toBe(0);
  });

  it('a "+" sent unencoded (a space in tz, from or to) is a 400 that says to encode it as %2B', async () => {
    const { app, ch } = build();
    const auth = { authorization: `Bearer ${await token('c1')}` };
    const detailOf = async (url: string): Promise<string> => {
      const res = await app.inject({ url, headers: auth });
      expect(res.statusCode, `${url} → ${res.body}`).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      const body = JSON.parse(res.body) as { code: string; detail: string };
      expect(body.code).toBe('VP_ERR_HTTP_BAD_REQUEST');
      return body.detail;
    };
    // what a client that does not encode sends, and the same space encoded
    for (const url of [
      '/v1/creators/c1/overview?tz=Etc/GMT+4',
      '/v1/creators/c1/timeseries?interval=day&tz=Etc%2FGMT%204',
      '/v1/videos/v1/retention?tz=Etc/GMT+4',
    ]) {
      const detail = await detailOf(url);
      expect(detail).toContain('querystring/tz "Etc/GMT 4" contains a space');
      expect(detail).toContain('encode "+" as %2B (tz=Etc/GMT%2B4)');
    }
    expect(await detailOf('/v1/creators/c1/overview?from=2026-11-20T10:00:00+02:00')).toContain(
      'encode "+" as %2B (from=2026-11-20T10:00:00%2B02:00)',
    );
    // a space where no "+" makes sense still gets the hint, without a made-up example
    const other = await detailOf(`/v1/creators/c1/overview?${qs({ tz: 'Europe/ Berlin; x' })}`);
    expect(other).toContain('encode "+" as %2B');
    expect(other).not.toContain('tz=');
    // a route without tz refuses it as an unknown parameter, as before
    expect(await detailOf('/v1/creators/c1/realtime?tz=Etc/GMT+4')).toMatch(/must NOT have additional properties/);
    // encoded, the zone passes validation and reaches the (fake) ClickHouse; the 400s above never did
    expect(ch.calls).toBe(0);
    const ok = await app.inject({ url: `/v1/creators/c1/overview?${qs({ tz: 'Etc/GMT+4' })}`, headers: auth });
    expect(ok.statusCode).not.toBe(400);
    expect(ch.calls).toBeGreaterThan(0);
  });

  it('malformed HTTP and unknown routes answer problem documents too', async () => {
    const { app } = build();
    const auth = { authorization: `Bearer ${await token('c1')}` };
    for (const url of ['/v1/videos/%E0%A4%A/stats', `/v1/videos/${'v'.repeat(300)}/stats`]) {
      const bad = await app.inject({ url, headers: auth });
      expect(bad.statusCode, url).toBe(400);
      expect(bad.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
    const res = await app.inject({ url: '/v1/nope' });
    // unknown /v1 routes are still behind authentication
    expect([401, 404]).toContain(res.statusCode);
    const root = await app.inject({ url: '/nope' });
    expect(root.statusCode).toBe(404);
    expect(root.headers['content-type']).toMatch(/^application\/problem\+json/);
  });
});

describe('operations', () => {
  it('ClickHouse down: 503 problem with Retry-After; the request log carries the request id and the token', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino(
      { level: 'info' },
      { write: (l: string) => lines.push(JSON.parse(l) as Record<string, unknown>) },
    );
    const down = {
      query: async () => {
        throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8123'), { code: 'ECONNREFUSED' });
      },
    };
    const { app } = build({ clickhouse: down as unknown as ClickHouseClient, logger });
    const res = await app.inject({
      url: '/v1/creators/c1/overview',
      headers: { authorization: `Bearer ${await token('c1')}` },
    });
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('5');
    expect(JSON.parse(res.body)).toMatchObject({
      code: 'VP_ERR_HTTP_UNAVAILABLE',
      request_id: res.headers['x-request-id'],
    });
    const line = lines.find((l) => l.msg === 'request');
    expect(line).toMatchObject({
      req_id: res.headers['x-request-id'],
      route: '/v1/creators/:id/overview',
      status: 503,
      sub: 'c1',
      role: 'creator',
    });
    expect(JSON.stringify(lines)).not.toContain('Bearer');
  });

  it('healthz, readyz (ClickHouse ping), metrics', async () => {
    const { app, ch } = build();
    expect((await app.inject({ url: '/healthz' })).json()).toEqual({ status: 'ok' });
    expect((await app.inject({ url: '/readyz' })).statusCode).toBe(200);
    ch.pingOk = false;
    const notReady = await app.inject({ url: '/readyz' });
    expect(notReady.statusCode).toBe(503);
    expect(notReady.headers['retry-after']).toBeDefined();
    expect(JSON.parse(notReady.body).code).toBe('VP_ERR_HTTP_UNAVAILABLE');
    await app.inject({ url: '/v1/creators/c1/overview' });
    const m = await app.inject({ url: '/metrics' });
    expect(m.body).toContain('viewpulse_api_requests_total{route="/v1/creators/:id/overview",status="401"} 1');
    expect(m.body).toContain('viewpulse_api_auth_refused_total{reason="missing_token"} 1');
  });

  it('CORS only for configured origins, preflight without a token', async () => {
    const { app } = build({ corsOrigins: ['https://dash.example.com'] });
    const pre = await app.inject({
      method: 'OPTIONS',
      url: '/v1/creators/c1/overview',
      headers: {
        origin: 'https://dash.example.com',
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'authorization',
      },
    });
    expect(pre.statusCode).toBe(204);
    expect(pre.headers['access-control-allow-origin']).toBe('https://dash.example.com');
    expect(String(pre.headers['access-control-allow-headers'])).toContain('authorization');
    const simple = await app.inject({
      url: '/v1/creators/c1/overview',
      headers: { origin: 'https://dash.example.com' },
    });
    expect(simple.statusCode).toBe(401);
    expect(simple.headers['access-control-allow-origin']).toBe('https://dash.example.com');
    expect(String(simple.headers['access-control-expose-headers'])).toContain('etag');
    expect(String(simple.headers.vary)).toMatch(/Origin.*Authorization/);
    const other = await app.inject({ url: '/healthz', headers: { origin: 'https://evil.example.com' } });
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    const none = build();
    const res = await none.app.inject({ url: '/healthz', headers: { origin: 'https://dash.example.com' } });
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    await none.app.close();
  });

  it('OpenAPI at /docs/json documents every route: description, params, query, responses; UI at /docs', async () => {
    const { app } = build();
    const doc = (await app.inject({ url: '/docs/json' })).json() as {
      openapi: string;
      paths: Record<string, Record<string, Record<string, unknown>>>;
    };
    expect(doc.openapi).toMatch(/^3\./);
    const v1 = [
      '/v1/creators/{id}/audience',
      '/v1/creators/{id}/health',
      '/v1/creators/{id}/overview',
      '/v1/creators/{id}/realtime',
      '/v1/creators/{id}/timeseries',
      '/v1/creators/{id}/videos',
      '/v1/videos/{id}/breakdown',
      '/v1/videos/{id}/retention',
      '/v1/videos/{id}/stats',
      '/v1/videos/{id}/traffic',
    ];
    for (const path of v1) expect(Object.keys(doc.paths)).toContain(path);
    for (const path of Object.keys(doc.paths).filter((p) => p.startsWith('/v1/')))
      expect(doc.paths[path]!.get!.security, path).toEqual([{ bearerAuth: [] }]);
    for (const path of v1) {
      const op = doc.paths[path]!.get!;
      expect(String(op.description).length, path).toBeGreaterThan(80);
      expect(op.security).toEqual([{ bearerAuth: [] }]);
      const params = op.parameters as Array<{ in: string; name: string; description?: string }>;
      expect(params.some((p) => p.in === 'path' && p.name === 'id')).toBe(true);
      for (const p of params) expect(p.description, `${path} ${p.name}`).toBeTruthy();
      const responses = op.responses as Record<string, { content?: Record<string, unknown> }>;
      for (const s of ['200', '400', '401', '404', '429']) expect(responses[s], `${path} ${s}`).toBeDefined();
      expect(responses['200']!.content!['application/json']).toBeDefined();
    }
    for (const path of ['/healthz', '/readyz', '/metrics']) expect(doc.paths[path]?.get?.description).toBeTruthy();
    const ui = await app.inject({ url: '/docs/' });
    expect(ui.statusCode).toBe(200);
    expect(ui.body).toMatch(/swagger/i);
  });
});
