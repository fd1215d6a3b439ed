// Which input format should ClickHouseWriter send? Side by side, on the rows the processors
// really write and the local ClickHouse (18.16), for JSONEachRow (what the writer sent before),
// JSONCompactEachRow (18.16 does not know it: listed as refused), TabSeparated (what the writer
// sends now), CSV and RowBinary (which the client's insert() does not take: a raw INSERT through
// exec(), with every column's type read from system.columns):
//
//  1. rows: generated traffic (seed 3) through the raw-events, engagement and view-counts
//     processors, drained every --drain records per partition as the runner drains a batch:
//     play_events, sessions (Array(UInt8), Nullable), viewer_observations (a Null table feeding
//     materialized views) and view_counts;
//  2. encode: client CPU (user + system, process.cpuUsage) per row to turn the rows into the
//     request body (bytes included), best of the rounds, and the body's bytes per row;
//  3. insert: end to end, from the rows in memory to ClickHouse's acknowledgement, in batches of
//     --batch rows (the runner flushes at 50,000), each table truncated before; rows/s best and
//     median of --rounds (formats interleaved round by round, so a busy moment of the machine
//     hits all of them), and the CPU per row of the client and of the server process (from
//     /proc/<pid>/stat, best round: on a shared machine it includes the server's other work);
//  4. check: each format's rows read back (ORDER BY every column) equal what JSONEachRow wrote;
//  5. batch sizes: TabSeparated through ClickHouseWriter and JSONEachRow at 1k .. 100k rows per
//     insert: rows/s and milliseconds per insert (what a flush adds to freshness).
// Writes bench/results/insert-formats.json.
//
//   npx tsx bench/insert-formats.ts [--events 200000 --rounds 5 --batch 50000 --drain 500]
import { execFileSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { generateTraffic } from '../generator/index.js';
import { KafkaSink } from '../generator/sinks.js';
import { createClickHouse, exec, queryRows, type ClickHouseClient } from '../lib/clickhouse/client.js';
import { migrate } from '../lib/clickhouse/migrations.js';
import { join as sqlJoin, sql, v } from '../lib/clickhouse/sql.js';
import {
  ClickHouseWriter,
  encodeTabSeparated,
  insertColumns,
  quoteElement,
  toClickHouseRows,
  toSeconds,
} from '../lib/clickhouse/writer.js';
import { maxOf, minOf } from '../lib/arrays.js';
import { loadConfig } from '../lib/config.js';
import { textTable } from '../lib/text-table.js';
import type { ProcessorDefinition, TableSpec, VideoLookup } from '../processors/contract.js';
import { engagement, OBSERVATIONS_TABLE, SESSIONS_TABLE } from '../processors/engagement/processor.js';
import { PLAY_EVENTS_TABLE, rawEvents } from '../processors/raw-events/processor.js';
import { COUNTS_TABLE, viewCounts } from '../processors/view-counts/processor.js';
import { projectRoot, stateHome } from '../infra/paths.js';
import type { PlayEvent } from '../schemas/types.js';
import { writeResults } from './results-file.js';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '200000' },
    rounds: { type: 'string', default: '3' },
    batch: { type: 'string', default: '50000' },
    drain: { type: 'string', default: '500' },
    partitions: { type: 'string', default: '4' },
  },
});
const EVENTS = Number(args.events);
const ROUNDS = Number(args.rounds);
const BATCH = Number(args.batch);
const DRAIN = Number(args.drain);
const PARTITIONS = Number(args.partitions);
const MAX_ROWS = 200_000;
const SWEEP = [1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000];
const SEED = 3;

const log = (line: string): void => console.error(`[bench:insert-formats] ${line}`);
type Row = Record<string, unknown>;

// ---------------------------------------------------------------------------- realistic rows

function processorRows(events: readonly PlayEvent[], catalog: VideoLookup): Map<string, Row[]> {
  const out = new Map<string, Row[]>();
  const definitions: ProcessorDefinition<PlayEvent>[] = [rawEvents(), engagement(), viewCounts()];
  const partitionOf = (viewerId: string): number => {
    let h = 0;
    for (let i = 0; i < viewerId.length; i++) h = (h * 31 + viewerId.charCodeAt(i)) | 0;
    return Math.abs(h) % PARTITIONS;
  };
  for (const def of definitions) {
    const tasks = Array.from({ length: PARTITIONS }, (_, p) => def.create(p, undefined, catalog));
    const offsets = new Array<number>(PARTITIONS).fill(0);
    const drain = (p: number): void => {
      for (const [table, rows] of tasks[p]!.drain()) {
        const list = out.get(table) ?? [];
        for (const r of rows) list.push(r as Row);
        out.set(table, list);
      }
    };
    for (const e of events) {
      const p = partitionOf(e.viewer_id);
      const offset = offsets[p]!++;
      tasks[p]!.process({ topic: 'play-events', partition: p, offset, key: e.viewer_id, value: e });
      if ((offset + 1) % DRAIN === 0) drain(p);
    }
    for (let p = 0; p < PARTITIONS; p++) drain(p);
  }
  return out;
}

// ---------------------------------------------------------------------------- encoders

/** What @clickhouse/client does with an array and format JSONEachRow (after toClickHouseRows). */
const encodeJsonEachRow = (rows: readonly Row[], spec: TableSpec): string =>
  toClickHouseRows(rows, spec.times)
    .map((r) => `${JSON.stringify(r)}\n`)
    .join('');

/** One JSON array per row, columns in `columns` order (18.16 has no such input format). */
function compactValues(rows: readonly Row[], columns: readonly string[], spec: TableSpec): unknown[][] {
  const times = columns.map((c) => spec.times?.includes(c) ?? false);
  return rows.map((row) =>
    columns.map((c, i) => {
      const x = row[c];
      return times[i] && typeof x === 'number' ? toSeconds(x) : x;
    }),
  );
}

/** CSV by ClickHouse's rules: strings double-quoted ("" for "), \N null, arrays as quoted text. */
function csvField(value: unknown, time: boolean): string {
  if (typeof value === 'string') return `"${value.includes('"') ? value.replace(/"/g, '""') : value}"`;
  if (typeof value === 'number') return time ? String(toSeconds(value)).padStart(10, '0') : String(value);
  if (value === null) return '\\N';
  if (typeof value === 'boolean') return value ? '1' : '0';
  if (Array.isArray(value)) {
    const text = `[${value.map((x) => (typeof x === 'string' ? quoteElement(x) : String(x))).join(',')}]`;
    return `"${text.replace(/"/g, '""')}"`;
  }
  throw new Error(`csv: cannot write ${typeof value}`);
}

function encodeCsv(rows: readonly Row[], columns: readonly string[], spec: TableSpec): string {
  // built as the TabSeparated encoder is (one reused array of fields, native joins)
  const times = columns.map((c) => spec.times?.includes(c) ?? false);
  const cells = new Array<string>(columns.length);
  const lines = new Array<string>(rows.length + 1);
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r]!;
    for (let c = 0; c < columns.length; c++) cells[c] = csvField(row[columns[c]!], times[c]!);
    lines[r] = cells.join(',');
  }
  lines[rows.length] = '';
  return lines.join('\n');
}

/** A growable byte buffer for RowBinary. */
class Bytes {
  buf = Buffer.allocUnsafe(1 << 20);
  pos = 0;
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
  u8(n: number): void {
    this.ensure(1);
    this.buf[this.pos++] = n;
  }
  varint(n: number): void {
    this.ensure(10);
    while (n >= 0x80) {
      this.buf[this.pos++] = (n & 0x7f) | 0x80;
      n = Math.floor(n / 128);
    }
    this.buf[this.pos++] = n;
  }
  int(n: number, bytes: 1 | 2 | 4 | 8, signed: boolean): void {
    this.ensure(8);
    if (bytes === 8) {
      if (n < 0) this.buf.writeBigInt64LE(BigInt(n), this.pos);
      else {
        this.buf.writeUInt32LE(n % 4294967296, this.pos);
        this.buf.writeUInt32LE(Math.floor(n / 4294967296), this.pos + 4);
      }
    } else if (signed) this.buf.writeIntLE(n, this.pos, bytes);
    else this.buf.writeUIntLE(n, this.pos, bytes);
    this.pos += bytes;
  }
  string(s: string): void {
    const len = Buffer.byteLength(s, 'utf8');
    this.varint(len);
    this.ensure(len);
    this.pos += this.buf.write(s, this.pos, len, 'utf8');
  }
  bytes(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

type Put = (b: Bytes, value: unknown) => void;
const INTS: Record<string, [1 | 2 | 4 | 8, boolean]> = {
  UInt8: [1, false],
  UInt16: [2, false],
  UInt32: [4, false],
  UInt64: [8, false],
  Int8: [1, true],
  Int16: [2, true],
  Int32: [4, true],
  Int64: [8, true],
};

/** The RowBinary writer of one column type (the types the processors' tables use). */
function putter(type: string, time: boolean): Put {
  let m: RegExpMatchArray | null;
  if ((m = /^Nullable\((.*)\)$/.exec(type))) {
    const inner = putter(m[1]!, time);
    return (b, x) => {
      if (x === null) b.u8(1);
      else {
        b.u8(0);
        inner(b, x);
      }
    };
  }
  if ((m = /^Array\((.*)\)$/.exec(type))) {
    const inner = putter(m[1]!, false);
    return (b, x) => {
      const a = x as unknown[];
      b.varint(a.length);
      for (const e of a) inner(b, e);
    };
  }
  if ((m = /^Enum(8|16)\((.*)\)$/.exec(type))) {
    const values = new Map<string, number>();
    for (const [, name, n] of m[2]!.matchAll(/'((?:[^'\\]|\\.)*)' = (-?\d+)/g)) values.set(name!, Number(n));
    const bytes = m[1] === '8' ? 1 : 2;
    return (b, x) => b.int(values.get(x as string)!, bytes, true);
  }
  if (type === 'String') return (b, x) => b.string(x as string);
  if (type.startsWith('DateTime')) return (b, x) => b.int(time ? toSeconds(x as number) : (x as number), 4, false);
  if (type === 'Date')
    return (b, x) => b.int(Math.floor(Date.parse(`${x as string}T00:00:00Z`) / 86_400_000), 2, false);
  const int = INTS[type];
  if (int) return (b, x) => b.int(typeof x === 'boolean' ? Number(x) : (x as number), int[0], int[1]);
  throw new Error(`RowBinary: no writer for ${type}`);
}

function encodeRowBinary(rows: readonly Row[], columns: readonly string[], puts: readonly Put[]): Buffer {
  const b = new Bytes();
  for (const row of rows) for (let c = 0; c < columns.length; c++) puts[c]!(b, row[columns[c]!]);
  return b.bytes();
}

// ---------------------------------------------------------------------------- formats

interface Target {
  spec: TableSpec;
  rows: Row[];
  columns: string[];
  /** RowBinary writers, from the table's column types on the server. */
  puts: Put[];
}

interface SweepPoint {
  rowsPerSecBest: number;
  rowsPerSecMedian: number;
  msPerInsertP50: number;
  serverUsPerRow: number;
}

interface Format {
  name: string;
  encode(t: Target, rows: readonly Row[]): string | Buffer;
  /** End to end: rows in memory → acknowledged by ClickHouse. */
  insert(ch: ClickHouseClient, db: string, t: Target, rows: readonly Row[]): Promise<void>;
}

const raw = (body: string | Buffer): Readable =>
  Readable.from([typeof body === 'string' ? Buffer.from(body) : body], { objectMode: false });

const FORMATS: Format[] = [
  {
    name: 'JSONEachRow',
    encode: (t, rows) => Buffer.from(encodeJsonEachRow(rows, t.spec)),
    // exactly what the writer did before: the client encodes the array itself
    insert: async (ch, db, t, rows) => {
      await ch.insert({
        table: `${db}.${t.spec.name}`,
        values: toClickHouseRows(rows, t.spec.times),
        format: 'JSONEachRow',
      });
    },
  },
  {
    name: 'JSONCompactEachRow',
    encode: (t, rows) =>
      Buffer.from(
        compactValues(rows, t.columns, t.spec)
          .map((r) => `${JSON.stringify(r)}\n`)
          .join(''),
      ),
    insert: async (ch, db, t, rows) => {
      await ch.insert({
        table: `${db}.${t.spec.name}`,
        columns: t.columns as [string, ...string[]],
        values: compactValues(rows, t.columns, t.spec),
        format: 'JSONCompactEachRow',
      });
    },
  },
  {
    name: 'TabSeparated',
    encode: (t, rows) => Buffer.from(encodeTabSeparated(rows, t.columns, t.spec.times)),
    // the writer as it is now
    insert: (ch, db, t, rows) => new ClickHouseWriter(ch, db).write({ table: t.spec.name, rows, times: t.spec.times }),
  },
  {
    name: 'CSV',
    encode: (t, rows) => Buffer.from(encodeCsv(rows, t.columns, t.spec)),
    insert: async (ch, db, t, rows) => {
      await ch.insert({
        table: `${db}.${t.spec.name}`,
        columns: t.columns as [string, ...string[]],
        values: raw(encodeCsv(rows, t.columns, t.spec)),
        format: 'CSV',
      });
    },
  },
  {
    name: 'RowBinary',
    encode: (t, rows) => encodeRowBinary(rows, t.columns, t.puts),
    // the client's insert() takes no RowBinary stream: a raw INSERT through exec()
    insert: async (ch, db, t, rows) => {
      const r = await ch.exec({
        query:
          sql`INSERT INTO ${v.table(db, t.spec.name)} (${sqlJoin(t.columns.map((c) => v.ident(c)))}) FORMAT RowBinary`
            .text,
        values: raw(encodeRowBinary(rows, t.columns, t.puts)),
      });
      r.stream.resume();
      await new Promise((resolve, reject) => r.stream.once('end', resolve).once('error', reject));
    },
  },
];

// ---------------------------------------------------------------------------- measuring

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)]! : NaN;
};
const batches = <T>(xs: readonly T[], size: number): T[][] => {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
};
const cpuUs = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

/** Client CPU µs per row to encode all rows in batches of BATCH; best of ROUNDS after a warm-up. */
function measureEncode(f: Format, t: Target): { usPerRow: number; bytesPerRow: number } {
  const parts = batches(t.rows, BATCH);
  let bytes = 0;
  for (const p of parts) bytes += f.encode(t, p).length; // warm-up, and the size
  const runs: number[] = [];
  for (let r = 0; r < Math.max(3, ROUNDS); r++) {
    const start = cpuUs();
    for (const p of parts) f.encode(t, p);
    runs.push((cpuUs() - start) / t.rows.length);
  }
  return { usPerRow: minOf(runs), bytesPerRow: bytes / t.rows.length };
}

async function truncate(ch: ClickHouseClient, db: string, table: string): Promise<void> {
  await exec(ch, sql`TRUNCATE TABLE ${v.table(db, table)}`);
}

/** The local server's CPU time in µs (utime + stime of its process), or NaN when it is not ours. */
const serverPid = ((): number | undefined => {
  try {
    return Number(readFileSync(join(stateHome(), 'run', 'clickhouse', 'clickhouse.pid'), 'utf8').trim()) || undefined;
  } catch {
    return undefined;
  }
})();
const CLK_TCK = ((): number => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();
function serverCpuUs(): number {
  if (!serverPid) return NaN;
  try {
    // fields after the ")" of the command name: state is field 3, utime 14, stime 15
    const stat = readFileSync(`/proc/${serverPid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1e6) / CLK_TCK;
  } catch {
    return NaN;
  }
}

interface InsertRun {
  rowsPerSec: number;
  msPerInsert: number[];
  /** the client's CPU for the whole insert path (encode, HTTP), µs per row */
  clientUsPerRow: number;
  /** the server's CPU while the inserts ran (parse, sort, write parts; plus whatever else it did then), µs per row */
  serverUsPerRow: number;
}

/** All rows of `t` in batches of `size`, end to end: rows/s, ms per insert, CPU of both sides. */
async function measureInsert(
  ch: ClickHouseClient,
  db: string,
  f: Format,
  t: Target,
  rows: readonly Row[],
  size: number,
): Promise<InsertRun> {
  if (t.spec.name !== OBSERVATIONS_TABLE.name) await truncate(ch, db, t.spec.name);
  const ms: number[] = [];
  const start = performance.now();
  const client = cpuUs();
  const server = serverCpuUs();
  for (const p of batches(rows, size)) {
    const s = performance.now();
    await f.insert(ch, db, t, p);
    ms.push(performance.now() - s);
  }
  return {
    rowsPerSec: rows.length / ((performance.now() - start) / 1000),
    msPerInsert: ms,
    clientUsPerRow: (cpuUs() - client) / rows.length,
    serverUsPerRow: (serverCpuUs() - server) / rows.length,
  };
}

/** A digest of the table's rows, ordered by every column. */
async function digest(ch: ClickHouseClient, db: string, t: Target): Promise<string> {
  const cols = sqlJoin(t.columns.map((c) => v.ident(c)));
  const rs = await ch.query({
    query: sql`SELECT ${cols} FROM ${v.table(db, t.spec.name)} ORDER BY ${cols}`.text,
    format: 'TabSeparated',
  });
  const h = createHash('sha256');
  for await (const chunk of rs.stream()) for (const row of chunk as { text: string }[]) h.update(`${row.text}\n`);
  return h.digest('hex');
}

// ---------------------------------------------------------------------------- the run

async function main(): Promise<void> {
  const config = loadConfig();
  const ch = createClickHouse(config.clickhouse, 'default');
  const db = `bench_insert_formats_${randomUUID().slice(0, 8)}`;
  const loadStart = os.loadavg()[0]!;
  const version = (await queryRows<{ version: string }>(ch, sql`SELECT version() AS version`))[0]!.version;
  try {
    log(`generating ${EVENTS} events (seed ${SEED}) and running raw-events, engagement, view-counts`);
    const traffic = generateTraffic({ events: EVENTS, seed: SEED, now: Date.UTC(2026, 10, 21, 12) });
    const byId = traffic.catalog.byId;
    const catalog: VideoLookup = {
      get: (id) => {
        const x = byId.get(id);
        return x ? { creatorId: x.video.creator_id, durationMs: x.video.duration_ms } : undefined;
      },
    };
    const events: PlayEvent[] = [];
    for (const d of traffic.deliveriesSync()) if (d.kind === 'event') events.push(KafkaSink.record(d));
    const produced = processorRows(events, catalog);

    await migrate(ch, db, join(projectRoot, 'schemas', 'clickhouse'));
    const targets: Target[] = [];
    for (const spec of [PLAY_EVENTS_TABLE, SESSIONS_TABLE, OBSERVATIONS_TABLE, COUNTS_TABLE]) {
      const rows = (produced.get(spec.name) ?? []).slice(0, MAX_ROWS);
      const columns = insertColumns(rows);
      const types = new Map(
        (
          await queryRows<{ name: string; type: string }>(
            ch,
            sql`SELECT name, type FROM system.columns WHERE database = ${v.string(db)} AND table = ${v.string(spec.name)}`,
          )
        ).map((c) => [c.name, c.type]),
      );
      const puts = columns.map((c) => putter(types.get(c)!, spec.times?.includes(c) ?? false));
      targets.push({ spec, rows, columns, puts });
      log(`${spec.name}: ${rows.length} rows, ${columns.length} columns`);
    }

    // encode
    const encode: Record<string, Record<string, { usPerRow: number; bytesPerRow: number }>> = {};
    for (const t of targets) {
      encode[t.spec.name] = {};
      for (const f of FORMATS) encode[t.spec.name]![f.name] = measureEncode(f, t);
    }

    // insert: formats interleaved round by round; a format the server refuses is noted once
    const insert: Record<string, Record<string, InsertRun[]>> = {};
    const refused: Record<string, string> = {};
    const digests: Record<string, Record<string, string>> = {};
    for (let round = 0; round < ROUNDS; round++) {
      for (const f of FORMATS) {
        if (refused[f.name]) continue;
        for (const t of targets) {
          try {
            const r = await measureInsert(ch, db, f, t, t.rows, BATCH);
            ((insert[t.spec.name] ??= {})[f.name] ??= []).push(r);
            if (round === 0 && t.spec.name !== OBSERVATIONS_TABLE.name)
              (digests[t.spec.name] ??= {})[f.name] = await digest(ch, db, t);
          } catch (err) {
            refused[f.name] = (err as Error).message.split('\n')[0]!.slice(0, 200);
            log(`${f.name} refused by ${version}: ${refused[f.name]}`);
            break;
          }
        }
        log(`round ${round + 1}/${ROUNDS}: ${f.name} done`);
      }
    }
    const mismatches: string[] = [];
    for (const [table, byFormat] of Object.entries(digests))
      for (const [format, d] of Object.entries(byFormat))
        if (d !== byFormat.JSONEachRow) mismatches.push(`${table}: ${format} read back differs from JSONEachRow`);
    for (const m of mismatches) log(`MISMATCH ${m}`);

    // batch sizes, TabSeparated through the writer
    const tsv = FORMATS.find((f) => f.name === 'TabSeparated')!;
    const json = FORMATS.find((f) => f.name === 'JSONEachRow')!;
    const sweep: Record<string, Record<string, Record<string, SweepPoint>>> = {};
    for (const t of targets.filter(
      (x) => x.spec.name === PLAY_EVENTS_TABLE.name || x.spec.name === SESSIONS_TABLE.name,
    )) {
      for (const size of SWEEP) {
        if (size > t.rows.length) continue;
        // small batches on fewer rows: many tiny parts would measure 18.16's merges instead
        const rows = t.rows.slice(0, Math.min(t.rows.length, Math.max(50_000, size * 2)));
        const runs: Record<string, InsertRun[]> = {};
        for (let r = 0; r < ROUNDS; r++)
          for (const f of [tsv, json]) (runs[f.name] ??= []).push(await measureInsert(ch, db, f, t, rows, size));
        for (const [format, rs] of Object.entries(runs)) {
          ((sweep[t.spec.name] ??= {})[format] ??= {})[String(size)] = {
            rowsPerSecBest: maxOf(rs.map((r) => r.rowsPerSec)),
            rowsPerSecMedian: median(rs.map((r) => r.rowsPerSec)),
            msPerInsertP50: median(rs.flatMap((r) => r.msPerInsert)),
            serverUsPerRow: minOf(rs.map((r) => r.serverUsPerRow)),
          };
        }
      }
      log(`batch sizes: ${t.spec.name} done`);
    }

    // report
    const r0 = (x: number): string => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : 'n/a');
    const r2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : 'n/a');
    const round3 = (x: number): number | null => (Number.isFinite(x) ? Number(x.toFixed(3)) : null);
    const table: string[][] = [];
    const figures: Record<string, Record<string, unknown>> = {};
    for (const t of targets) {
      for (const f of FORMATS) {
        const e = encode[t.spec.name]![f.name]!;
        const runs = insert[t.spec.name]?.[f.name] ?? [];
        const best = runs.length ? maxOf(runs.map((r) => r.rowsPerSec)) : NaN;
        const med = runs.length ? median(runs.map((r) => r.rowsPerSec)) : NaN;
        const serverUs = runs.length ? minOf(runs.map((r) => r.serverUsPerRow)) : NaN;
        const clientUs = runs.length ? minOf(runs.map((r) => r.clientUsPerRow)) : NaN;
        const no = refused[f.name] && !runs.length;
        table.push([
          t.spec.name,
          f.name,
          String(t.rows.length),
          r2(e.usPerRow),
          r0(e.bytesPerRow),
          no ? 'refused' : r0(best),
          no ? '' : r0(med),
          no ? '' : r2(clientUs),
          no ? '' : r2(serverUs),
        ]);
        (figures[t.spec.name] ??= {})[f.name] = {
          encode_us_per_row: round3(e.usPerRow),
          body_bytes_per_row: Math.round(e.bytesPerRow),
          insert_rows_per_s_best: Number.isFinite(best) ? Math.round(best) : null,
          insert_rows_per_s_median: Number.isFinite(med) ? Math.round(med) : null,
          insert_rows_per_s_runs: runs.map((r) => Math.round(r.rowsPerSec)),
          insert_client_cpu_us_per_row: round3(clientUs),
          insert_server_cpu_us_per_row: round3(serverUs),
          refused_by_server: no ? refused[f.name] : null,
        };
      }
    }
    const loadEnd = os.loadavg()[0]!;
    console.log(
      `\nClickHouse ${version}; ${BATCH} rows per insert; ${ROUNDS} rounds, formats interleaved; ` +
        `${os.cpus().length} CPUs, load average ${loadStart.toFixed(1)} at the start, ${loadEnd.toFixed(1)} at the end\n` +
        'encode: client CPU to build the body, best round; insert: rows/s end to end (best, median), and the CPU\n' +
        'per row of the whole insert on each side (best round; the server figure includes its other work meanwhile)\n',
    );
    console.log(
      textTable(
        [
          'table',
          'format',
          'rows',
          'encode µs/row',
          'bytes/row',
          'insert rows/s best',
          'median',
          'client µs/row',
          'server µs/row',
        ],
        table,
        { right: (i) => i >= 2, rule: true },
      ),
    );
    const sweepRows: string[][] = [];
    for (const [tableName, byFormat] of Object.entries(sweep))
      for (const [format, bySize] of Object.entries(byFormat))
        for (const [size, x] of Object.entries(bySize))
          sweepRows.push([
            tableName,
            format,
            size,
            r0(x.rowsPerSecBest),
            r0(x.rowsPerSecMedian),
            x.msPerInsertP50.toFixed(1),
            r2(x.serverUsPerRow),
          ]);
    console.log('\nbatch size (rows per insert)\n');
    console.log(
      textTable(['table', 'format', 'batch', 'rows/s best', 'median', 'ms/insert p50', 'server µs/row'], sweepRows, {
        right: (i) => i >= 2,
        rule: true,
      }),
    );
    if (mismatches.length) console.log(`\nread-back mismatches:\n${mismatches.join('\n')}`);
    else console.log('\nread back: every accepted format stored exactly the rows JSONEachRow stored');
    const file = writeResults(
      'insert-formats',
      `npx tsx bench/insert-formats.ts --events ${EVENTS} --rounds ${ROUNDS} --batch ${BATCH} --drain ${DRAIN}`,
      {
        clickhouse: version,
        events: EVENTS,
        seed: SEED,
        batch_rows: BATCH,
        rounds: ROUNDS,
        drain_every_records: DRAIN,
        partitions: PARTITIONS,
        rows: Object.fromEntries(targets.map((t) => [t.spec.name, t.rows.length])),
        load_average_start: loadStart,
        load_average_end: os.loadavg()[0],
      },
      { formats: figures, read_back_mismatches: mismatches, batch_sizes: sweep, refused },
    );
    log(`wrote ${file}`);
  } finally {
    await exec(ch, sql`DROP DATABASE IF EXISTS ${v.ident(db)}`);
    await ch.close();
  }
}

await main();
