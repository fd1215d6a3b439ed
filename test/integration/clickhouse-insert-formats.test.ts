// What ClickHouseWriter sends (TabSeparated, lib/clickhouse/writer.ts) is read back exactly, on
// the real 18.16 server and on ClickHouse 26.x (chDB, tools/chdb.ts):
//  1. tricky values (tab, newline, backslash, quotes, NUL, emoji, RTL, empty strings, null,
//     arrays, epoch-ms times, integer limits) in a scratch table holding every column type the
//     processors write, each read back byte for byte (hex) and compared with the value written;
//     on 26.x the same request, captured as the writer sent it, replayed through chDB;
//  2. the rows every processor table really gets (generated traffic through the processors, with
//     tricky strings put into their text columns, and a multi-megabyte checkpoint cell) read back
//     identical to what the previous writer (JSONEachRow) stored from the same rows.
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateTraffic } from '../../generator/index.js';
import { pushAll } from '../../lib/arrays.js';
import { KafkaSink } from '../../generator/sinks.js';
import { createClickHouse, exec, queryRows, type ClickHouseClient } from '../../lib/clickhouse/client.js';
import { migrate } from '../../lib/clickhouse/migrations.js';
import { join as sqlJoin, sql, v } from '../../lib/clickhouse/sql.js';
import { ClickHouseWriter, toClickHouseRows, type TableWrite } from '../../lib/clickhouse/writer.js';
import { projectRoot } from '../../infra/paths.js';
import type { ProcessorDefinition, TableSpec } from '../../processors/contract.js';
import { TestDriver } from '../../processors/driver.js';
import { VIDEOS_TABLE, videoRow } from '../../processors/catalog/processor.js';
import { engagement } from '../../processors/engagement/processor.js';
import { rawEvents } from '../../processors/raw-events/processor.js';
import { recommendations } from '../../processors/recommendations/processor.js';
import { viewCounts } from '../../processors/view-counts/processor.js';
import { TABLES } from '../../schemas/tables.js';
import type { PlayEvent, Video } from '../../schemas/types.js';
import { realServices } from '../../harness/services.js';
import { runChdb } from '../../tools/chdb.js';

const s = realServices('chformats');
const db = s.database;

const TRICKY: readonly string[] = [
  '',
  'plain',
  'tab\there',
  'new\nline',
  'cr\rlf\r\n',
  'back\\slash',
  'trailing\\',
  '\\t is not a tab',
  '\\N',
  'N',
  'nul\u0000byte',
  '\b\f\u0001\u000b\u001f\u007f',
  `it's "quoted"`,
  "''",
  '🎬👍🏽 emoji',
  'שלום \u200fمرحبا\u200e RTL',
  '漢字 e\u0301',
  'x\t\n\\\0\r"\'🎬',
  ' leading and trailing spaces ',
];

// ---------------------------------------------------------------------------- 1. the scratch table

const SCRATCH = 'formats_scratch';
const scratchDdl = (database: string): string =>
  sql`CREATE TABLE ${v.table(database, SCRATCH)} (
    id   UInt32,
    s    String,
    ns   Nullable(String),
    e    Enum8('play_start' = 1, 'heartbeat' = 2),
    t    DateTime('UTC'),
    d    Date,
    u8   UInt8,
    u16  UInt16,
    u32  UInt32,
    u64  UInt64,
    i16  Int16,
    i64  Int64,
    nu32 Nullable(UInt32),
    nu64 Nullable(UInt64),
    a    Array(UInt8),
    strs Array(String),
    w    DateTime('UTC') DEFAULT toDateTime(1234567890)
  ) ENGINE = MergeTree ORDER BY id`.text;

interface ScratchRow {
  id: number;
  s: string;
  ns: string | null;
  e: 'play_start' | 'heartbeat';
  t: number;
  d: string;
  u8: number;
  u16: number;
  u32: number;
  u64: number;
  i16: number;
  i64: number;
  nu32: number | null;
  nu64: number | null;
  a: number[];
  strs: string[];
}

const TIMES = [0, 999, 5_000, 1_700_000_123_999, Date.UTC(2026, 10, 21, 12, 0, 0, 1)];
const scratchRows: ScratchRow[] = TRICKY.map((str, i) => ({
  id: i,
  s: str,
  ns: i % 3 === 0 ? null : str,
  e: i % 2 ? 'heartbeat' : 'play_start',
  t: TIMES[i % TIMES.length]!,
  d: i % 2 ? '2026-11-21' : '1970-01-02',
  u8: i % 2 ? 255 : 0,
  u16: i % 2 ? 65_535 : 0,
  u32: i % 2 ? 4_294_967_295 : 1,
  u64: i % 2 ? 2 ** 53 - 1 : 0,
  i16: i % 2 ? -1 : 32_767,
  i64: i % 2 ? -(2 ** 53 - 1) : 1,
  nu32: i % 4 === 1 ? null : i,
  nu64: i % 4 === 2 ? null : 1_700_000_000_000 + i,
  a: i % 3 === 0 ? [] : Array.from({ length: (i * 7) % 102 }, (_, k) => k % 101),
  strs: i % 3 === 1 ? [] : [str, '', TRICKY[(i + 5) % TRICKY.length]!],
}));

const hex = (x: string): string => Buffer.from(x, 'utf8').toString('hex').toUpperCase();

/** Every column read back as text both versions print alike; strings as the hex of their bytes. */
const scratchSelect = (database: string): string =>
  sql`SELECT id, hex(s) AS s, toString(isNull(ns)) AS ns_null, hex(ifNull(ns, '')) AS ns_hex,
      toString(e) AS e, toString(toUnixTimestamp(t)) AS t, toString(d) AS d,
      toString(u8) AS u8, toString(u16) AS u16, toString(u32) AS u32, toString(u64) AS u64,
      toString(i16) AS i16, toString(i64) AS i64,
      ifNull(toString(nu32), 'NULL') AS nu32, ifNull(toString(nu64), 'NULL') AS nu64,
      arrayStringConcat(arrayMap(x -> toString(x), a), ',') AS a,
      arrayStringConcat(arrayMap(x -> hex(x), strs), ',') AS strs,
      toString(toUnixTimestamp(w)) AS w
    FROM ${v.table(database, SCRATCH)} ORDER BY id`.text;

/** What scratchSelect must return for scratchRows, computed here from the values written. */
const expectedScratch = scratchRows.map((r) => ({
  id: r.id,
  s: hex(r.s),
  ns_null: r.ns === null ? '1' : '0',
  ns_hex: hex(r.ns ?? ''),
  e: r.e,
  t: String(Math.max(0, Math.floor(r.t / 1000))),
  d: r.d,
  u8: String(r.u8),
  u16: String(r.u16),
  u32: String(r.u32),
  u64: String(r.u64),
  i16: String(r.i16),
  i64: String(r.i64),
  nu32: r.nu32 === null ? 'NULL' : String(r.nu32),
  nu64: r.nu64 === null ? 'NULL' : String(r.nu64),
  a: r.a.join(','),
  strs: r.strs.map(hex).join(','),
  // not written: the column's DEFAULT
  w: '1234567890',
}));

const SCRATCH_WRITE: TableWrite = { table: SCRATCH, rows: scratchRows, times: ['t'] };

interface Captured {
  query: string;
  body: Buffer;
}

/** An HTTP server that answers every request with an empty 200 and keeps what it was sent. */
async function captureServer(): Promise<{ url: string; requests: Captured[]; server: Server }> {
  const requests: Captured[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const query = new URL(req.url ?? '/', 'http://x').searchParams.get('query') ?? '';
      requests.push({ query, body: Buffer.concat(chunks) });
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, requests, server };
}

// ---------------------------------------------------------------------------- 2. the processors' tables

/** The rows each processor table gets from a small generated traffic, with tricky text put in. */
function processorWrites(): TableWrite[] {
  const traffic = generateTraffic({ events: 6000, seed: 3, now: Date.UTC(2026, 10, 21, 12) });
  const byId = traffic.catalog.byId;
  const lookup = {
    get: (id: string) => {
      const x = byId.get(id);
      return x ? { creatorId: x.video.creator_id, durationMs: x.video.duration_ms } : undefined;
    },
  };
  const events: PlayEvent[] = [];
  for (const d of traffic.deliveriesSync()) if (d.kind === 'event') events.push(KafkaSink.record(d));
  const out = new Map<string, { spec: TableSpec; rows: Record<string, unknown>[] }>();
  const definitions: ProcessorDefinition<PlayEvent>[] = [rawEvents(), engagement(), viewCounts(), recommendations()];
  for (const def of definitions) {
    const driver = new TestDriver<PlayEvent>(def, lookup);
    for (const e of events) driver.pipe(Number(e.viewer_id.slice(-1)) % 3, e);
    driver.flush();
    for (const spec of def.tables) {
      const rows = driver.table(spec.name).rows();
      const have = out.get(spec.name);
      if (have) pushAll(have.rows, rows);
      else out.set(spec.name, { spec, rows });
    }
  }
  let k = 0;
  const tricky = (): string => TRICKY[k++ % TRICKY.length]!;
  // text a client or creator chose: SDK versions, error codes, devices, titles, reasons
  for (const r of out.get(TABLES.playEvents)!.rows.slice(0, 200)) {
    r.sdk_version = tricky();
    r.error_code = k % 2 ? tricky() : null;
    r.os = tricky();
  }
  for (const r of out.get(TABLES.sessions)!.rows.slice(0, 200)) {
    r.device = tricky();
    r.referrer_video_id = tricky();
  }
  const videos = traffic.catalog.videos.map((x, offset) =>
    videoRow({
      topic: 'videos',
      partition: 0,
      offset,
      key: x.video.video_id,
      value: { ...x.video, title: offset < 100 ? tricky() : x.video.title, category: tricky() } as Video,
    }),
  );
  videos.push(videoRow({ topic: 'videos', partition: 0, offset: videos.length, key: 'gone\tvideo', value: null }));
  out.set(TABLES.videos, { spec: VIDEOS_TABLE, rows: videos as unknown as Record<string, unknown>[] });
  // as runtime/runner.ts writes them
  const snapshot = {
    big: randomBytes(3 * 1024 * 1024).toString('base64'),
    rows: out.get(TABLES.sessions)!.rows.slice(0, 500),
  };
  out.set(TABLES.checkpoints, {
    spec: { name: TABLES.checkpoints },
    rows: [0, 1, 2].map((partition) => ({
      processor: 'engagement',
      topic: 'play-events',
      kafka_partition: partition,
      kafka_offset: 1000 + partition,
      state:
        gzipSync(JSON.stringify(partition === 0 ? snapshot : { tricky: TRICKY })).toString('base64') +
        (partition === 2 ? randomBytes(4 * 1024 * 1024).toString('base64') : ''),
    })),
  });
  out.set(TABLES.deadLetters, {
    spec: { name: TABLES.deadLetters, times: ['record_time'] },
    rows: TRICKY.map((reason, i) => ({
      stage: 'raw-events',
      source_topic: 'play-events',
      kafka_partition: i % 3,
      kafka_offset: i,
      record_time: 1_700_000_000_000 + i,
      code: 'VP_ERR_EVENT_RULES',
      reason,
      video_id: i % 2 ? '' : tricky(),
    })),
  });
  return [...out.values()].map(({ spec, rows }) => ({ table: spec.name, rows, times: spec.times }));
}

/** A digest of a table's rows, ordered by every given column, as 18.16 prints them. */
async function digest(
  ch: ClickHouseClient,
  table: string,
  columns: readonly string[],
): Promise<{ rows: number; sha: string }> {
  const cols = sqlJoin(columns.map((c) => v.ident(c)));
  const rs = await ch.query({
    query: sql`SELECT ${cols} FROM ${v.table(db, table)} ORDER BY ${cols}`.text,
    format: 'TabSeparated',
  });
  const h = createHash('sha256');
  let rows = 0;
  for await (const chunk of rs.stream()) {
    for (const row of chunk as { text: string }[]) {
      h.update(`${row.text}\n`);
      rows++;
    }
  }
  return { rows, sha: h.digest('hex') };
}

// ---------------------------------------------------------------------------- the tests

describe('TabSeparated inserts read back exactly (18.16 and 26.x)', () => {
  beforeAll(async () => {
    await migrate(s.clickhouse, db, join(projectRoot, 'schemas', 'clickhouse'));
    await exec(s.clickhouse, sql`DROP TABLE IF EXISTS ${v.table(db, SCRATCH)}`);
    await s.clickhouse.command({ query: scratchDdl(db) });
  }, 120_000);

  afterAll(async () => {
    await exec(s.clickhouse, sql`DROP DATABASE IF EXISTS ${v.ident(db)}`);
    await s.clickhouse.close();
  });

  it('18.16: every tricky value in every column type the processors write', async () => {
    await new ClickHouseWriter(s.clickhouse, db).write(SCRATCH_WRITE);
    const rs = await s.clickhouse.query({ query: scratchSelect(db), format: 'JSONEachRow' });
    expect(await rs.json()).toEqual(expectedScratch);
  });

  it('26.x (chDB): the same request, as the writer sent it, reads back the same', async () => {
    const capture = await captureServer();
    const ch = createClickHouse({ ...s.config.clickhouse, url: capture.url }, 'default');
    try {
      await new ClickHouseWriter(ch, db).write(SCRATCH_WRITE);
    } finally {
      await ch.close();
      await new Promise((r) => capture.server.close(r));
    }
    expect(capture.requests).toHaveLength(1);
    const { query, body } = capture.requests[0]!;
    expect(query).toMatch(new RegExp(`^INSERT INTO ${db}\\.${SCRATCH} \\(\`id\`, \`s\`, .*\\) FORMAT TabSeparated$`));
    // chDB reads an INSERT's data inline after the query, as clickhouse-client and -local do
    const dir = mkdtempSync(join(tmpdir(), 'chdb-formats-'));
    try {
      const results = await runChdb(dir, [
        `CREATE DATABASE ${db}`,
        scratchDdl(db),
        `${query}\n${body.toString('utf8')}`,
        scratchSelect(db),
        'SELECT version() AS version',
      ]);
      for (const r of results) expect(r.ok ? '' : r.error).toBe('');
      const [selected, version] = results.slice(3).map((r) => (r.ok ? r.data : ''));
      expect(JSON.parse(version!.trim()).version).toMatch(/^2[6-9]\./);
      const got = selected!
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as unknown);
      expect(got).toEqual(expectedScratch);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('18.16: every processor table stores what JSONEachRow stored from the same rows', async () => {
    const writes = processorWrites();
    expect(writes.map((w) => w.table).sort()).toEqual(
      [
        TABLES.playEvents,
        TABLES.watermarks,
        TABLES.sessions,
        TABLES.engagementRollup,
        TABLES.creatorLive,
        TABLES.audienceObservations,
        TABLES.viewerObservations,
        TABLES.lateEvents,
        TABLES.counts,
        TABLES.recommendationVideoObservations,
        TABLES.recommendationPairObservations,
        TABLES.videos,
        TABLES.checkpoints,
        TABLES.deadLetters,
      ].sort(),
    );
    const writer = new ClickHouseWriter(s.clickhouse, db);
    for (const w of writes) {
      expect(w.rows.length, w.table).toBeGreaterThan(0);
      // twins in memory: no merges, and the Null tables keep what they get
      const tsv = `tsv_${w.table}`;
      const json = `json_${w.table}`;
      for (const twin of [tsv, json])
        await exec(s.clickhouse, sql`CREATE TABLE ${v.table(db, twin)} AS ${v.table(db, w.table)} ENGINE = Memory`);
      await writer.write({ ...w, table: tsv });
      // the previous writer: JSONEachRow of toClickHouseRows, the client encoding the array
      await s.clickhouse.insert({
        table: `${db}.${json}`,
        values: toClickHouseRows(w.rows, w.times),
        format: 'JSONEachRow',
      });
      const columns = Object.keys(w.rows[0]!);
      const [a, b] = [await digest(s.clickhouse, tsv, columns), await digest(s.clickhouse, json, columns)];
      expect(a.rows, w.table).toBe(w.rows.length);
      expect(a, w.table).toEqual(b);
    }
    // the multi-megabyte state cells arrived whole
    const cells = await queryRows<{ n: string }>(
      s.clickhouse,
      sql`SELECT toString(max(length(state))) AS n FROM ${v.table(db, `tsv_${TABLES.checkpoints}`)}`,
    );
    expect(Number(cells[0]!.n)).toBeGreaterThan(5_000_000);
  });

  it('18.16: a column the rows leave out takes its DEFAULT (processor_checkpoints.written_at)', async () => {
    const before = Math.floor(Date.now() / 1000) - 5;
    await new ClickHouseWriter(s.clickhouse, db).write({
      table: TABLES.checkpoints,
      rows: [{ processor: 'p', topic: 't', kafka_partition: 0, kafka_offset: 1, state: 'x\ty' }],
    });
    const [row] = await queryRows<{ state: string; at: string }>(
      s.clickhouse,
      sql`SELECT state, toString(toUnixTimestamp(written_at)) AS at FROM ${v.table(db, TABLES.checkpoints)} WHERE processor = ${v.string('p')}`,
    );
    expect(row!.state).toBe('x\ty');
    expect(Number(row!.at)).toBeGreaterThanOrEqual(before);
  });

  it('18.16: a row the server cannot parse is rejected, not retried', async () => {
    let retries = 0;
    const err = await new ClickHouseWriter(s.clickhouse, db, { onRetry: () => retries++ })
      .write({ table: SCRATCH, rows: [{ ...scratchRows[1]!, u8: 'not a number' }], times: ['t'] })
      .catch((e: unknown) => e as Error & { code?: string });
    expect(err).toMatchObject({ code: 'VP_ERR_CLICKHOUSE_REJECTED', retriable: false });
    expect(retries).toBe(0);
  });

  it('an unreachable server is retried with backoff, then a retriable VP_ERR_CLICKHOUSE', async () => {
    const capture = await captureServer();
    const { url } = capture;
    await new Promise((r) => capture.server.close(r)); // nothing listens there any more
    const ch = createClickHouse({ ...s.config.clickhouse, url }, 'default');
    const sleeps: number[] = [];
    try {
      const err = await new ClickHouseWriter(ch, db, {
        giveUpAfterMs: 300,
        initialBackoffMs: 20,
        maxBackoffMs: 80,
        sleep: (ms) => {
          sleeps.push(ms);
          return new Promise((r) => setTimeout(r, ms));
        },
      })
        .write(SCRATCH_WRITE)
        .catch((e: unknown) => e as Error & { code?: string });
      expect(err).toMatchObject({ code: 'VP_ERR_CLICKHOUSE', retriable: true });
      expect(sleeps.slice(0, 3)).toEqual([20, 40, 80]);
    } finally {
      await ch.close();
    }
  });
});
