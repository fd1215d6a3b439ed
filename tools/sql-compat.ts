// `viewpulse sql compat`: does the project's SQL run on a current ClickHouse, and does it give
// the same answers as on 18.16? The current version is chDB (ClickHouse 26.x in a Python wheel,
// tools/chdb.ts), since this machine has no Docker engine. The 18.16 half is the real server.
//
//  1. migrations: every statement of schemas/clickhouse/*.sql on 26.x, twice (they must be
//     idempotent there too); then each table's columns and types compared with 18.16's.
//  2. data: every stored table (the MergeTree family) copied from 18.16 into 26.x as it is, parts
//     and unmerged versions included: 26.x reads 18.16's HTTP `Native` output itself through the
//     url() table function, with optimize_on_insert = 0 (26.x would otherwise collapse the rows of
//     each inserted block of a Replacing/AggregatingMergeTree, unlike 18.16, and non-FINAL reads
//     would see fewer rows). AggregateFunction states come across in 18.16's binary form: 26.x
//     reads them and merges them to exactly 18.16's numbers. Rebuilding them on 26.x from the
//     inserts instead would not compare like with like: 26.x's uniqCombined builds other states
//     from the same strings (one probe of 66,667 strings: 26.x estimates 66,764, 18.16 66,792),
//     equally valid estimates, but not 18.16's. Old and new states do merge as one set (both
//     states of those strings merged on 26.x: 66,697), so an in-place upgrade counts viewers once.
//     Tables with engine Null and the views are not copied (they hold nothing); the views are
//     dropped before the copy, so that none adds rows to a table that is copied too.
//  3. docs/sql.md: every example query on both, results compared.
//  4. the insights API: every route answered once by buildApp() against 18.16 through a recording
//     proxy; every distinct SELECT it sent runs on both, results compared.
//
// Results are compared as JSONEachRow after normalising numbers (18.16 quotes 64-bit integers,
// 26.x does not); floats compare within a relative 1e-9. Rows compare in order, or as a multiset
// when only the order differs (queries whose ORDER BY leaves ties); both are counted as equal.
// A difference that is the engine's (KNOWN_DIFFERENCES) is listed apart; any other fails.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../api/app.js';
import { signToken } from '../api/auth.js';
import { DIMENSIONS } from '../api/queries/videos.js';
import { VIDEO_SORTS } from '../api/queries/creators.js';
import { INTERVALS } from '../api/queries/range.js';
import { SERIES_METRICS } from '../api/routes/timeseries.js';
import { generateTraffic } from '../generator/index.js';
import { textTable } from '../lib/text-table.js';
import { createClickHouse, queryRows, type ClickHouseClient } from '../lib/clickhouse/client.js';
import { loadMigrations } from '../lib/clickhouse/migrations.js';
import { sql, v } from '../lib/clickhouse/sql.js';
import type { Config } from '../lib/config.js';
import { TABLES } from '../schemas/tables.js';
import { publishCatalog, pumpIntoKafka } from '../harness/dataset.js';
import { pipelineFor, runToEnd, setUpPipeline } from '../harness/pipeline.js';
import { runChdb, type ChdbResult } from './chdb.js';
import { projectRoot, stateDir } from '../infra/paths.js';
import { recordingProxy } from './recording-proxy.js';
import { HOUR } from '../lib/time.js';

type Log = (line: string) => void;
const MIGRATIONS_DIR = join(projectRoot, 'schemas', 'clickhouse');

// ---------------------------------------------------------------------------- a dataset

/**
 * A small realistic dataset in `config.clickhouse.database` on 18.16: generated traffic through
 * Kafka and every processor (catalog, view-counts, engagement, raw-events, recommendations), as
 * in production. Needs the services of `viewpulse services up`.
 */
export async function prepareDataset(config: Config, opts: { events: number; seed: number }, log: Log): Promise<void> {
  const p = pipelineFor(config);
  try {
    await setUpPipeline(p);
    const traffic = generateTraffic({ events: opts.events, seed: opts.seed, now: Date.now() });
    await publishCatalog(p, traffic, { timeoutMs: 300_000 });
    const sent = await pumpIntoKafka(p, traffic, { chunk: 1000, maxInFlight: 4 });
    log(`dataset: ${sent.delivered} generated records into ${p.topics.playEvents}; running the processors`);
    await runToEnd(p, ['view-counts', 'engagement', 'raw-events', 'recommendations'], 300_000);
  } finally {
    await p.clickhouse.close();
  }
}

/** Drops what prepareDataset made: the database, the prefixed topics and consumer groups. */
export async function dropDataset(config: Config): Promise<void> {
  await pipelineFor(config).cleanup();
}

// ---------------------------------------------------------------------------- comparing results

/** 18.16 quotes 64-bit integers in JSON and 26.x does not: numbers-as-text become numbers. */
function normalise(x: unknown): unknown {
  if (typeof x === 'string' && /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(x)) return Number(x);
  if (Array.isArray(x)) return x.map(normalise);
  if (x && typeof x === 'object') return Object.fromEntries(Object.entries(x).map(([k, y]) => [k, normalise(y)]));
  return x;
}

function same(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' && typeof b === 'number') {
    return a === b || Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b));
  }
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => same(x, b[i]));
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return same(ka, kb) && ka.every((k) => same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return a === b;
}

const parseRows = (text: string): unknown[] =>
  text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => normalise(JSON.parse(l)));

/** undefined when equal (in order, or as a multiset), else a short description of the first difference. */
export function difference(old: string, current: string): string | undefined {
  const a = parseRows(old);
  const b = parseRows(current);
  if (same(a, b)) return undefined;
  const key = (r: unknown): string => JSON.stringify(r);
  const sa = [...a].sort((x, y) => (key(x) < key(y) ? -1 : 1));
  const sb = [...b].sort((x, y) => (key(x) < key(y) ? -1 : 1));
  if (same(sa, sb)) return undefined;
  if (a.length !== b.length) return `${a.length} rows on 18.16, ${b.length} on 26.x`;
  // the first difference in sorted order: the rows that really differ, not a shifted order
  const i = sa.findIndex((r, j) => !same(r, sb[j]));
  const n = sa.filter((r, j) => !same(r, sb[j])).length;
  return `${n} of ${a.length} rows differ, e.g. 18.16 ${key(sa[i]).slice(0, 300)} · 26.x ${key(sb[i]).slice(0, 300)}`;
}

// ---------------------------------------------------------------------------- the check

/**
 * Differences that are the engine's, not ours: a statement matching one of these that answers
 * differently is reported as a known difference, not a failure. Keep this list short and say why.
 */
export const KNOWN_DIFFERENCES: readonly { pattern: RegExp; why: string }[] = [
  {
    pattern: /\bquantilesTDigest\(/,
    why: 't-digest interpolation changed after 18.16: with few values per group the estimates differ (2 values: 18.16 answers their mean for the median, 26.x the lower one); both are valid approximations',
  },
];

export interface GroupResult {
  group: string;
  run: number;
  ok: number;
  /** equal to 18.16; null where there is nothing to compare */
  equal: number | null;
  /** different, but matching KNOWN_DIFFERENCES */
  known: number;
}

export interface Failure {
  group: string;
  statement: string;
  error: string;
}

export interface CompatReport {
  oldVersion: string;
  currentVersion: string;
  groups: GroupResult[];
  failures: Failure[];
  known: Failure[];
  seconds: number;
}

const stripFormat = (q: string): string => q.replace(/\s*FORMAT\s+\w+\s*$/i, '').trim();
const short = (q: string): string => q.replace(/\s+/g, ' ').trim().slice(0, 160);

class Check {
  readonly groups: GroupResult[] = [];
  readonly failures: Failure[] = [];
  readonly known: Failure[] = [];

  constructor(
    readonly ch: ClickHouseClient,
    readonly session: string,
  ) {}

  fail(group: string, statement: string, error: string): void {
    this.failures.push({ group, statement: short(statement), error: error.replace(/\s+/g, ' ').slice(0, 600) });
  }

  /** Runs statements on 26.x only: counts what ran. */
  async run26(group: string, statements: readonly string[]): Promise<ChdbResult[]> {
    const results = await runChdb(this.session, statements);
    results.forEach((r, i) => {
      if (!r.ok) this.fail(group, statements[i]!, `26.x: ${r.error}`);
    });
    this.groups.push({ group, run: statements.length, ok: results.filter((r) => r.ok).length, equal: null, known: 0 });
    return results;
  }

  /** Runs SELECTs on both versions and compares the rows. */
  async compare(group: string, statements: readonly string[]): Promise<void> {
    const queries = statements.map(stripFormat);
    const current = await runChdb(this.session, queries);
    let ok = 0;
    let equal = 0;
    let known = 0;
    for (const [i, q] of queries.entries()) {
      const now = current[i]!;
      if (now.ok) ok++;
      else this.fail(group, q, `26.x: ${now.error}`);
      let old: string;
      try {
        old = await (await this.ch.query({ query: q, format: 'JSONEachRow' })).text();
      } catch (err) {
        this.fail(group, q, `18.16: ${(err as Error).message}`);
        continue;
      }
      if (!now.ok) continue;
      const diff = difference(old, now.data);
      const why = KNOWN_DIFFERENCES.find((k) => k.pattern.test(q))?.why;
      if (diff === undefined) equal++;
      else if (why) {
        known++;
        this.known.push({ group, statement: short(q), error: `${why}; here: ${diff}` });
      } else this.fail(group, q, `different results: ${diff}`);
    }
    this.groups.push({ group, run: queries.length, ok, equal, known });
  }
}

export interface CompatOptions {
  /** the 18.16 server's settings (url, user, password); `database` holds the data to compare on */
  clickhouse: Config['clickhouse'];
  /** the insights API's token secret */
  jwtSecret: string;
  log?: Log;
}

export async function checkSqlCompat(opts: CompatOptions): Promise<CompatReport> {
  const started = Date.now();
  const log = opts.log ?? (() => {});
  const database = opts.clickhouse.database;
  const db = (name: string) => v.table(database, name);
  const ch = createClickHouse(opts.clickhouse, 'default');
  const session = mkdtempSync(join(stateDir('run', 'chdb'), 'compat-'));
  const check = new Check(ch, session);
  try {
    const [ver] = await queryRows<{ v: string }>(ch, sql`SELECT version() AS v`);
    const [cur] = await runChdb(session, ['SELECT version() AS v']);
    const currentVersion = cur?.ok ? (JSON.parse(cur.data) as { v: string }).v : 'unknown';
    log(`comparing ClickHouse ${ver!.v} (server) with ${currentVersion} (chDB) on ${database}`);

    // 1. migrations, twice, then the schema they made
    const statements = [
      sql`CREATE DATABASE IF NOT EXISTS ${v.ident(database)}`.text,
      ...loadMigrations(MIGRATIONS_DIR, database).flatMap((m) => m.statements),
    ];
    await check.run26('migrations', statements);
    await check.run26('migrations, again', statements);
    const columns = (table: string) =>
      sql`SELECT name, type FROM system.columns
          WHERE database = ${v.string(database)} AND table = ${v.string(table)} ORDER BY name`.text;
    const stored = await runChdb(session, [
      sql`SELECT name, engine FROM system.tables WHERE database = ${v.string(database)} ORDER BY name`.text,
    ]);
    const tables = stored[0]?.ok ? (parseRows(stored[0].data) as { name: string; engine: string }[]) : [];
    await check.compare(
      'schema (columns per table)',
      tables.map((t) => columns(t.name)),
    );

    // 2. data: 26.x reads each stored table from 18.16's HTTP interface (Native format), its
    // materialized views dropped first: a view on a stored table (videos_by_creator's, on
    // videos) would otherwise add its rows a second time to a table copied as it is
    const views = tables.filter((t) => t.engine === 'MaterializedView');
    await check.run26(
      'views dropped before the copy',
      views.map((t) => sql`DROP TABLE ${db(t.name)}`.text),
    );
    const copied = tables.filter((t) => t.engine.endsWith('MergeTree'));
    const source = (table: string): string => {
      const u = new URL(opts.clickhouse.url);
      u.searchParams.set('query', `SELECT * FROM ${db(table).text} FORMAT Native`);
      u.searchParams.set('user', opts.clickhouse.user);
      if (opts.clickhouse.password) u.searchParams.set('password', opts.clickhouse.password);
      return u.toString();
    };
    await check.run26(
      'data copied from 18.16',
      copied.map(
        (t) =>
          sql`INSERT INTO ${db(t.name)} SETTINGS optimize_on_insert = 0 SELECT * FROM url(${v.string(source(t.name))}, Native)`
            .text,
      ),
    );
    await check.compare(
      'row counts',
      copied.map((t) => sql`SELECT count() AS n FROM ${db(t.name)}`.text),
    );

    // 3. docs/sql.md (fixed text written by us; the database name is a checked identifier)
    await check.compare('docs/sql.md', docsQueries(database));

    // 4. the insights API
    const api = await captureApiSql(opts, log);
    for (const f of api.failures) check.fail('API routes', f.statement, f.error);
    await check.compare(`API (${api.routes} requests)`, api.statements);

    return {
      oldVersion: ver!.v,
      currentVersion,
      groups: check.groups,
      failures: check.failures,
      known: check.known,
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    await ch.close();
    rmSync(session, { recursive: true, force: true });
  }
}

export function docsQueries(database: string): string[] {
  const doc = readFileSync(join(projectRoot, 'docs', 'sql.md'), 'utf8');
  return [...doc.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) =>
    m[1]!.trim().replace(/;\s*$/, '').replaceAll('{{db}}', v.ident(database).text),
  );
}

/**
 * Every route of the insights API once (or a few times, for each interval, metric, sort and
 * dimension), answered by buildApp() against 18.16 through a recording proxy: the distinct SELECTs.
 * The clock is pinned to just after the last event, so realtime and default ranges see the data.
 */
async function captureApiSql(
  opts: CompatOptions,
  log: Log,
): Promise<{ statements: string[]; routes: number; failures: Failure[] }> {
  const database = opts.clickhouse.database;
  const db = (t: keyof typeof TABLES) => v.table(database, TABLES[t]);
  const ch = createClickHouse(opts.clickhouse, 'default');
  const [span] = await queryRows<{ first: number; last: number }>(
    ch,
    sql`SELECT toUInt32(min(event_time)) AS first, toUInt32(max(event_time)) AS last FROM ${db('playEvents')}`,
  );
  const [top] = await queryRows<{ id: string }>(
    ch,
    sql`SELECT id FROM ${db('counts')} FINAL WHERE dim = 'creator' AND grain = 'day'
        GROUP BY id ORDER BY sum(views) DESC, id LIMIT 1`,
  );
  const [topVideo] = top
    ? await queryRows<{ id: string }>(
        ch,
        sql`SELECT id FROM ${db('counts')} FINAL
            WHERE dim = 'video' AND grain = 'day'
              AND id IN (SELECT video_id FROM ${db('videos')} FINAL WHERE creator_id = ${v.string(top.id)})
            GROUP BY id ORDER BY sum(views) DESC, id LIMIT 1`,
      )
    : [];
  await ch.close();
  if (!top || !topVideo || !span || Number(span.last) === 0) {
    throw new Error(`${database} holds no views: nothing to compare`);
  }
  const creator = top.id;
  const video = topVideo.id;
  const now = Number(span.last) * 1000 + 5_000;
  const from = Math.floor((Number(span.first) * 1000) / HOUR) * HOUR;
  const to = Math.floor(now / HOUR) * HOUR + 2 * HOUR;
  const iso = (t: number): string => new Date(t).toISOString();
  const full = `from=${iso(from)}&to=${iso(to)}`;
  // unaligned: minute segments at both ends, hours in between
  const odd = `from=${iso(from + 17 * 60_000)}&to=${iso(to - HOUR - 23 * 60_000)}`;
  const c = `/v1/creators/${creator}`;
  const vid = `/v1/videos/${video}`;
  const urls = [
    `${c}/overview?${full}`,
    `${c}/overview?${odd}&tz=Asia/Kolkata`,
    // unique viewers come from hourly states: no minute series
    ...SERIES_METRICS.flatMap((m) =>
      INTERVALS.filter((i) => m !== 'unique_viewers' || i !== 'minute').map(
        (i) => `${c}/timeseries?metric=${m}&interval=${i}&${odd}`,
      ),
    ),
    `${c}/timeseries?metric=views&interval=day&tz=America/New_York&${full}`,
    `${c}/realtime`,
    ...VIDEO_SORTS.map((s) => `${c}/videos?sort=${s}&limit=5&${full}`),
    `${c}/audience?${full}`,
    `${c}/audience/also-watched`,
    `${c}/audience/also-watched?sort=lift`,
    `${c}/health`,
    `${c}/qoe?interval=hour&${odd}`,
    ...INTERVALS.map((i) => `${vid}/stats?interval=${i}&${odd}`),
    `${vid}/retention?${full}`,
    `${vid}/qoe?${full}&tz=Asia/Kolkata`,
    ...DIMENSIONS.map((d) => `${vid}/breakdown?dimension=${d}&${full}`),
    `${vid}/traffic?${full}`,
    `${vid}/recommendations?limit=10`,
  ];
  const proxy = await recordingProxy(opts.clickhouse.url);
  const client = createClickHouse({ ...opts.clickhouse, url: proxy.url }, database);
  const app: FastifyInstance = buildApp({
    clickhouse: client,
    database,
    jwtSecret: opts.jwtSecret,
    now: () => now,
    rateLimit: false,
  });
  const failures: Failure[] = [];
  try {
    await app.ready();
    const token = await signToken({ secret: opts.jwtSecret, sub: 'sql-compat', role: 'admin', ttlSeconds: 600, now });
    for (const url of urls) {
      const res = await app.inject({ url, headers: { authorization: `Bearer ${token}` } });
      if (res.statusCode !== 200)
        failures.push({
          group: 'API routes',
          statement: `GET ${url}`,
          error: `${res.statusCode} ${res.body.slice(0, 400)}`,
        });
    }
  } finally {
    await app.close();
    await client.close();
    proxy.server.close();
  }
  const statements = [...new Set(proxy.records.map((r) => stripFormat(r.query)))];
  log(`API: ${urls.length} requests sent ${proxy.records.length} SELECTs, ${statements.length} distinct`);
  return { statements, routes: urls.length, failures };
}

/** The report as a table, then each failure. */
export function formatReport(r: CompatReport): string {
  const head = ['statement group', 'run', `ok on ${r.currentVersion}`, `equal to ${r.oldVersion}`, 'known difference'];
  const rows = r.groups.map((g) => [
    g.group,
    String(g.run),
    String(g.ok),
    g.equal === null ? '-' : String(g.equal),
    g.equal === null ? '-' : String(g.known),
  ]);
  const out = [textTable(head, rows, { right: (i) => i > 0, rule: true })];
  for (const k of r.known) out.push('', `known difference [${k.group}] ${k.statement}\n    ${k.error}`);
  out.push('', `${r.failures.length} failure(s) in ${r.seconds.toFixed(1)} s`);
  for (const f of r.failures) out.push(`- [${f.group}] ${f.statement}\n    ${f.error}`);
  return out.join('\n');
}

/** A fresh topic prefix and database name for one check run. */
export function compatNames(): { prefix: string; database: string } {
  const id = randomUUID().slice(0, 8);
  return { prefix: `sql-compat-${id}.`, database: `sql_compat_${id}` };
}
