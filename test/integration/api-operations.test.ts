// The insights API's operational behaviour on the real pipeline: health from the tables, ETag and
// 304 for final ranges, the authorization matrix on real data, hostile input against a checksum of
// the database.
import { describe, expect, it } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import { ID_PATTERN, signToken } from '../../api/auth.js';
import { queryRows } from '../../lib/clickhouse/client.js';
import { sql, v } from '../../lib/clickhouse/sql.js';
import { TABLES } from '../../schemas/tables.js';
import { qs } from '../url.js';
import {
  A,
  B,
  EVENTS,
  first,
  floor,
  FULL,
  get,
  HOUR,
  iso,
  MIN,
  NOW,
  ok,
  p,
  q,
  tokens,
  videosOf,
  useApiFixture,
} from './api-fixture.js';

describe(`insights API on the real pipeline: health, caching, authorization, hostile input (${EVENTS} generated records)`, () => {
  useApiFixture();
  it('health: freshness, finalized_through and late events from the tables', async () => {
    const h = await ok<{
      freshness_seconds: number;
      newest_watermark: string;
      finalized_through: string;
      processors: Array<{ processor: string; partitions: number }>;
      late_events: { applied: number; set_aside: number };
    }>(`/v1/creators/${A}/health?${q(FULL)}`);
    const wms = await queryRows<{ processor: string; lo: number; hi: number }>(
      p.clickhouse,
      sql`SELECT processor, toUInt32(min(watermark)) AS lo, toUInt32(max(watermark)) AS hi
          FROM ${v.table(p.database, TABLES.watermarks)} FINAL GROUP BY processor`,
    );
    const newest = Math.max(...wms.map((w) => w.hi * 1000));
    expect(h.newest_watermark).toBe(iso(newest));
    expect(h.freshness_seconds).toBe(Math.round((NOW - newest) / 1000));
    expect(h.finalized_through).toBe(iso(wms.find((w) => w.processor === 'view-counts')!.lo * 1000 - 60_000));
    expect(h.processors.map((x) => x.processor).sort()).toEqual(wms.map((w) => w.processor).sort());
    const late = await queryRows<{ applied: number; n: string }>(
      p.clickhouse,
      sql`SELECT applied, count() AS n FROM ${v.table(p.database, TABLES.lateEvents)} FINAL
          WHERE video_id IN ${v.inList(videosOf(A), 'String')}
            AND event_time >= ${v.dateTime(FULL.from)} AND event_time < ${v.dateTime(FULL.to)}
          GROUP BY applied`,
    );
    expect(h.late_events.applied).toBe(Number(late.find((x) => x.applied === 1)?.n ?? 0));
    expect(h.late_events.set_aside).toBe(Number(late.find((x) => x.applied === 0)?.n ?? 0));
  });

  // ------------------------------------------------------------------------------ caching

  it('a final range has an ETag and Cache-Control and answers 304 on If-None-Match; a live one does not', async () => {
    const early = { from: floor(first, HOUR), to: floor(first, HOUR) + HOUR };
    const url = `/v1/creators/${A}/timeseries?${q(early, { interval: 'minute' })}`;
    const res = await get(url);
    expect(res.statusCode).toBe(200);
    const etag = res.headers.etag as string;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
    expect(res.headers['cache-control']).toBe('private, max-age=300');
    expect(String(res.headers.vary)).toMatch(/Authorization/);
    const again = await get(url, tokens.a, { 'if-none-match': etag });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
    expect(again.headers.etag).toBe(etag);
    const stale = await get(url, tokens.a, { 'if-none-match': '"something-else"' });
    expect(stale.statusCode).toBe(200);
    const csv = await get(url, tokens.a, { accept: 'text/csv', 'if-none-match': etag });
    expect(csv.statusCode).toBe(200);
    expect(csv.headers.etag).not.toBe(etag);
    const live = await get(
      `/v1/creators/${A}/timeseries?${q({ from: FULL.from, to: NOW + HOUR }, { interval: 'hour' })}`,
    );
    expect(live.statusCode).toBe(200);
    expect(live.headers.etag).toBeUndefined();
    expect(live.headers['cache-control']).toBe('no-store');
    const realtime = await get(`/v1/creators/${A}/realtime`);
    expect(realtime.headers.etag).toBeUndefined();
  });

  it('response cache: a repeated request is served from memory (final: with its ETag and 304), per principal; a provisional answer lasts until the processors write again', async () => {
    const early = { from: floor(first, HOUR), to: floor(first, HOUR) + HOUR };
    const url = `/v1/creators/${A}/overview?${q(early)}`;
    const firstRes = await get(url);
    expect(firstRes.statusCode).toBe(200);
    const again = await get(url);
    expect(again.headers['x-cache']).toBe('hit');
    expect(again.body).toBe(firstRes.body);
    expect(again.headers.etag).toBe(firstRes.headers.etag);
    expect(again.headers['cache-control']).toBe('private, max-age=300');
    const conditional = await get(url, tokens.a, { 'if-none-match': firstRes.headers.etag as string });
    expect([conditional.statusCode, conditional.headers['x-cache']]).toEqual([304, 'hit']);
    // another principal does not get this answer from the cache (its own access check runs)
    const admin = await get(url, tokens.admin);
    expect([admin.statusCode, admin.headers['x-cache']]).toEqual([200, 'miss']);
    expect(admin.body).toBe(firstRes.body);
    const other = await get(url, tokens.b);
    expect([other.statusCode, other.headers['x-cache']]).toEqual([404, 'miss']);
    // the CSV of the same URL is another answer
    const csv = await get(url, tokens.a, { accept: 'text/csv' });
    expect(csv.headers['x-cache']).not.toBe('hit');

    // provisional: cached while nothing new is written, recomputed once the processors write
    const liveUrl = `/v1/creators/${A}/timeseries?${q({ from: FULL.from, to: NOW + HOUR }, { interval: 'hour' })}`;
    const live = await get(liveUrl);
    expect([live.statusCode, live.headers['cache-control']]).toEqual([200, 'no-store']);
    const liveAgain = await get(liveUrl);
    expect(liveAgain.headers['x-cache']).toBe('hit');
    expect(liveAgain.body).toBe(live.body);
    // a processor's drain writes its watermark row again (same value: nothing else changes)
    const [wm] = await queryRows<{ processor: string; kafka_partition: number; watermark: string; version: string }>(
      p.clickhouse,
      sql`SELECT processor, kafka_partition, toUInt32(watermark) AS watermark, version
          FROM ${v.table(p.database, TABLES.watermarks)} FINAL ORDER BY processor, kafka_partition LIMIT 1`,
    );
    await p.clickhouse.insert({
      table: `${p.database}.${TABLES.watermarks}`,
      values: [{ ...wm!, watermark: Number(wm!.watermark) }],
      format: 'JSONEachRow',
    });
    await new Promise((r) => setTimeout(r, 300));
    const recomputed = await get(liveUrl);
    expect(recomputed.headers['x-cache']).toBe('miss');
    expect(recomputed.body).toBe(live.body);
    const metrics = (await get('/metrics', null)).body;
    expect(metrics).toMatch(/viewpulse_api_cache_total\{result="hit"\} [1-9]/);
  });

  it('a range the watermarks passed is final only once every view in it is closed, on each route whose numbers are views\u2019', async () => {
    // docs/semantics.md: a counted view's numbers change until its session closes. Open views
    // from the sessions table (the processors stopped with the last sessions still open).
    const [f] = await queryRows<{ through: number }>(
      p.clickhouse,
      sql`SELECT toUInt32(min(watermark)) - 60 AS through FROM ${v.table(p.database, TABLES.watermarks)} FINAL
          WHERE processor IN ('view-counts', 'engagement')`,
    );
    const through = f!.through * 1000;
    const [open] = await queryRows<{ video_id: string; creator_id: string; minute: number }>(
      p.clickhouse,
      sql`SELECT video_id, creator_id, toUInt32(toStartOfMinute(view_time)) AS minute
          FROM ${v.table(p.database, TABLES.sessions)} FINAL
          WHERE counted_view = 1 AND closed = 0 AND creator_id != ''
            AND view_time < ${v.dateTime(floor(through, MIN) - MIN)}
          ORDER BY view_time LIMIT 1`,
    );
    expect(open, 'the fixture has a view still open in a range the watermarks passed').toBeDefined();
    const routes = (video: string, creator: string, r: { from: number; to: number }): string[] => [
      `/v1/creators/${creator}/overview?${q(r)}`,
      `/v1/creators/${creator}/audience?${q(r)}`,
      `/v1/videos/${video}/stats?${q(r, { interval: 'minute' })}`,
      `/v1/videos/${video}/retention?${q(r)}`,
      `/v1/videos/${video}/breakdown?${q(r, { dimension: 'country' })}`,
      `/v1/videos/${video}/traffic?${q(r)}`,
    ];
    const minute = { from: open!.minute * 1000, to: open!.minute * 1000 + MIN };
    for (const url of routes(open!.video_id, open!.creator_id, minute)) {
      const res = await get(url, tokens.admin);
      expect([res.statusCode, res.headers.etag, res.headers['cache-control']], url).toEqual([
        200,
        undefined,
        'no-store',
      ]);
    }
    // overview: an open view in the previous period only keeps it provisional too
    const [prevOnly] = await queryRows<{ creator_id: string; minute: number }>(
      p.clickhouse,
      sql`SELECT creator_id, toUInt32(m) AS minute
          FROM
          (
              SELECT creator_id, toStartOfMinute(view_time) AS m FROM ${v.table(p.database, TABLES.sessions)} FINAL
              WHERE counted_view = 1 AND closed = 0 AND creator_id != ''
                AND view_time < ${v.dateTime(floor(through, MIN) - MIN)}
              GROUP BY creator_id, m
          )
          WHERE (creator_id, m + 60) NOT IN
          (
              SELECT creator_id, toStartOfMinute(view_time) FROM ${v.table(p.database, TABLES.sessions)} FINAL
              WHERE counted_view = 1 AND closed = 0
          )
          ORDER BY m, creator_id LIMIT 1`,
    );
    expect(prevOnly, 'the fixture has a minute with open views followed by one without').toBeDefined();
    const next = { from: prevOnly!.minute * 1000 + MIN, to: prevOnly!.minute * 1000 + 2 * MIN };
    const overview = await get(`/v1/creators/${prevOnly!.creator_id}/overview?${q(next)}`, tokens.admin);
    expect([overview.statusCode, overview.headers.etag]).toEqual([200, undefined]);
    const alone = await get(`/v1/creators/${prevOnly!.creator_id}/audience?${q(next)}`, tokens.admin);
    expect(alone.headers.etag, 'the same range alone is final').toMatch(/^"[A-Za-z0-9_-]+"$/);
    // the first hour: every view in it (and in the hour before) closed long ago
    const early = { from: floor(first, HOUR), to: floor(first, HOUR) + HOUR };
    const [closed] = await queryRows<{ video_id: string }>(
      p.clickhouse,
      sql`SELECT video_id FROM ${v.table(p.database, TABLES.sessions)} FINAL
          WHERE counted_view = 1 AND creator_id = ${v.string(A)}
            AND view_time >= ${v.dateTime(early.from)} AND view_time < ${v.dateTime(early.to)}
          ORDER BY video_id LIMIT 1`,
    );
    for (const url of routes(closed!.video_id, A, early)) {
      const res = await get(url, tokens.admin);
      expect([res.statusCode, res.headers['cache-control']], url).toEqual([200, 'private, max-age=300']);
      expect(res.headers.etag, url).toMatch(/^"[A-Za-z0-9_-]+"$/);
    }
  });

  // ------------------------------------------------------------------------------ authorization

  it('authorization matrix on real data: own 200, someone else’s 404 like a missing one, admin 200, bad tokens 401', async () => {
    const videoOfA = videosOf(A)[0]!;
    const videoOfB = videosOf(B)[0]!;
    const r = `?${q(FULL)}`;
    const creatorPaths = (c: string): string[] => [
      `/v1/creators/${c}/overview${r}`,
      `/v1/creators/${c}/timeseries${r}`,
      `/v1/creators/${c}/realtime`,
      `/v1/creators/${c}/videos${r}`,
      `/v1/creators/${c}/audience${r}`,
      `/v1/creators/${c}/health${r}`,
    ];
    const videoPaths = (id: string): string[] => [
      `/v1/videos/${id}/stats${r}`,
      `/v1/videos/${id}/retention${r}`,
      `/v1/videos/${id}/breakdown?${q(FULL, { dimension: 'device' })}`,
      `/v1/videos/${id}/traffic${r}`,
    ];
    const status = async (url: string, token: string | null): Promise<LightMyRequestResponse> => get(url, token);
    const body404 = new Set<string>();
    const strip = (res: LightMyRequestResponse): string => {
      const { request_id: _r, ...rest } = JSON.parse(res.body) as Record<string, unknown>;
      return JSON.stringify(rest);
    };
    for (const [i, url] of creatorPaths(A).entries()) {
      expect((await status(url, tokens.a)).statusCode, url).toBe(200);
      expect((await status(url, tokens.admin)).statusCode, url).toBe(200);
      const theirs = await status(creatorPaths(B)[i]!, tokens.a);
      const missing = await status(creatorPaths('nobody-at-all')[i]!, tokens.a);
      const adminMissing = await status(creatorPaths('nobody-at-all')[i]!, tokens.admin);
      for (const res of [theirs, missing, adminMissing]) {
        expect(res.statusCode, url).toBe(404);
        body404.add(`creator ${strip(res)}`);
      }
      expect((await status(creatorPaths(B)[i]!, tokens.admin)).statusCode).toBe(200);
      expect((await status(creatorPaths(B)[i]!, tokens.b)).statusCode).toBe(200);
    }
    for (const [i, url] of videoPaths(videoOfA).entries()) {
      expect((await status(url, tokens.a)).statusCode, url).toBe(200);
      expect((await status(url, tokens.admin)).statusCode, url).toBe(200);
      const theirs = await status(videoPaths(videoOfB)[i]!, tokens.a);
      const missing = await status(videoPaths('no-such-video')[i]!, tokens.a);
      const adminMissing = await status(videoPaths('no-such-video')[i]!, tokens.admin);
      for (const res of [theirs, missing, adminMissing]) {
        expect(res.statusCode, url).toBe(404);
        body404.add(`video ${strip(res)}`);
      }
      expect((await status(videoPaths(videoOfB)[i]!, tokens.admin)).statusCode).toBe(200);
    }
    // one body for "not yours" and "does not exist", per kind
    expect([...body404].sort()).toEqual([
      'creator {"type":"urn:viewpulse:problem:not-found","title":"Not found","status":404,"detail":"no such creator","code":"VP_ERR_HTTP_NOT_FOUND"}',
      'video {"type":"urn:viewpulse:problem:not-found","title":"Not found","status":404,"detail":"no such video","code":"VP_ERR_HTTP_NOT_FOUND"}',
    ]);
    const secret = p.testConfig.api.jwtSecret;
    const expired = await signToken({ secret, sub: A, role: 'creator', ttlSeconds: 60, now: NOW - HOUR });
    const forged = await signToken({ secret: `${secret}-forged`, sub: A, role: 'admin', ttlSeconds: 60, now: NOW });
    for (const [token, reason] of [
      [null, 'missing_token'],
      [expired, 'token_expired'],
      [forged, 'invalid_token'],
      ['garbage', 'invalid_token'],
    ] as const) {
      const res = await get(`/v1/creators/${A}/overview${r}`, token);
      expect(res.statusCode).toBe(401);
      expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
      expect(JSON.parse(res.body).reason).toBe(reason);
    }
  });

  // ------------------------------------------------------------------------------ hostile input

  it('hostile input is a 400 problem (or a 404 for a well-formed unknown id), never a 500, and changes nothing', async () => {
    const checksum = async (): Promise<string> => {
      const tables = await queryRows<{ name: string; engine: string }>(
        p.clickhouse,
        sql`SELECT name, engine FROM system.tables WHERE database = ${v.string(p.database)} ORDER BY name`,
      );
      const parts: string[] = [];
      for (const t of tables) {
        if (!/MergeTree/.test(t.engine)) {
          parts.push(`${t.name}:${t.engine}`);
          continue;
        }
        // FINAL: a background merge must not look like a change.
        const final = t.engine === 'MergeTree' ? sql`` : sql`FINAL`;
        const [c] = await queryRows<{ n: string }>(
          p.clickhouse,
          sql`SELECT count() AS n FROM ${v.table(p.database, t.name)} ${final}`,
        );
        parts.push(`${t.name}:${c!.n}`);
      }
      const [s] = await queryRows<Record<string, string>>(
        p.clickhouse,
        sql`SELECT sum(plays) AS p, sum(views) AS v, sum(watch_ms) AS w FROM ${v.table(p.database, TABLES.counts)} FINAL`,
      );
      const [x] = await queryRows<Record<string, string>>(
        p.clickhouse,
        sql`SELECT sum(watch_ms) AS w, sum(counted_view) AS c FROM ${v.table(p.database, TABLES.sessions)} FINAL`,
      );
      const [y] = await queryRows<Record<string, string>>(
        p.clickhouse,
        sql`SELECT groupBitXor(cityHash64(video_id, creator_id, title)) AS h FROM ${v.table(p.database, TABLES.videos)} FINAL`,
      );
      return JSON.stringify({ parts, s, x, y });
    };
    const before = await checksum();
    const enc = encodeURIComponent;
    const hostile = [
      "' OR 1=1 --",
      `${A}' OR '1'='1`,
      "'; DROP TABLE view_counts; --",
      "x') UNION ALL SELECT * FROM system.tables --",
      '%00',
      '\u0000',
      '\\',
      '1e309',
      '-99999999999999999999',
      'NaN',
      '2026-11-20T10:00:00Z; DROP DATABASE x',
      'x'.repeat(300),
    ];
    const video = videosOf(A)[0]!;
    const urls: string[] = [];
    for (const h of hostile) {
      const e = enc(h); // as a path segment
      urls.push(
        `/v1/creators/${A}/overview?${qs({ from: h })}`,
        `/v1/creators/${A}/overview?${qs({ to: h })}`,
        `/v1/creators/${A}/overview?${qs({ tz: h })}`,
        `/v1/creators/${A}/timeseries?${qs({ metric: h })}`,
        `/v1/creators/${A}/timeseries?${qs({ interval: h })}`,
        `/v1/creators/${A}/videos?${qs({ sort: h })}`,
        `/v1/creators/${A}/videos?${qs({ limit: h })}`,
        `/v1/creators/${A}/videos?${qs({ cursor: h })}`,
        `/v1/creators/${A}/audience?${qs({ from: h })}`,
        `/v1/creators/${A}/health?${qs({ to: h })}`,
        `/v1/videos/${video}/stats?${qs({ interval: h })}`,
        `/v1/videos/${video}/retention?${qs({ tz: h })}`,
        `/v1/videos/${video}/breakdown?${qs({ dimension: h })}`,
        `/v1/videos/${video}/breakdown?${qs({ dimension: 'os', limit: h })}`,
        `/v1/videos/${video}/traffic?${qs({ limit: h })}`,
        `/v1/creators/${e}/overview`,
        `/v1/videos/${e}/stats`,
        `/v1/videos/${video}/stats?${qs({ [h]: 1 })}`,
      );
      // a cursor this API could have made, but with a hostile id (a well-formed one is a valid cursor)
      if (!new RegExp(ID_PATTERN).test(h)) {
        const cursor = Buffer.from(JSON.stringify({ s: 'views', v: 1, id: h, f: FULL.from, t: FULL.to }));
        urls.push(`/v1/creators/${A}/videos?${qs({ cursor: cursor.toString('base64url') })}`);
      }
    }
    urls.push(
      `/v1/creators/${A}/overview?${q({ from: FULL.to, to: FULL.from })}`,
      `/v1/creators/${A}/overview?${qs({ from: '2020-01-01', to: '2026-01-01' })}`,
      `/v1/creators/${A}/timeseries?${qs({ interval: 'minute', from: '2026-01-01', to: '2026-02-01' })}`,
      `/v1/creators/${A}/overview?${qs({ tz: 'Mars/Olympus' })}`,
      `/v1/creators/${A}/overview?tz=Etc/GMT+4`, // unencoded on purpose: "Etc/GMT 4", with a hint
      `/v1/videos/${video}/breakdown?${qs({ dimension: 'country', limit: 100000 })}`,
    );
    for (const token of [tokens.a, tokens.admin]) {
      for (const url of urls) {
        const res = await get(url, token);
        expect([400, 404], `${url.slice(0, 160)} → ${res.statusCode} ${res.body.slice(0, 200)}`).toContain(
          res.statusCode,
        );
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      }
    }
    expect(await checksum()).toBe(before);
  });
});
