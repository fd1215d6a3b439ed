// tsx bench/stages.ts — where a processor's time goes, stage by stage, per event.
//
// For each play-events processor (raw-events, view-counts, engagement, recommendations) the
// same generated traffic (seed 3, default faults but no malformed records) is run through
// the stages the Kafka runner (runtime/runner.ts) goes through, each timed on its own:
//
//   decode      AvroSerde.decode of the Confluent-framed record (registry ids cached)
//   process     processor.process(record), one call per record
//   drain       processor.drain() of every partition: building the output rows
//   encode      what the writer does with the rows: TabSeparated with the rows' columns
//               (lib/clickhouse/writer.ts encodeTabSeparated; JSONEachRow at 046e6f3)
//   insert      the INSERT of those bytes into a real ClickHouse (a scratch database made
//               with the project's migrations), one per table per flush, as the runner does
//   checkpoint  the keyed state each moved partition changed (stateChanges) + JSON per value,
//               what the changelog store sends (its Kafka transaction is not timed here); at
//               046e6f3 (stage-cost-before.json) it was the whole snapshot + gzip + an INSERT
//
// Cadence: the runner flushes every 1 s (or 50k rows) and checkpoints every 5 s. Here that is
// a flush (drain + encode + insert) every `flushEvery` records and a checkpoint every
// `checkpointEvery` flushes, with flushEvery ≈ the events one processor does per second end to
// end (default 28,000: bench/results/processors.json at 046e6f3). Records are spread over
// `partitions` partitions by FNV-1a(viewer_id) mod partitions (the partition key is viewer_id,
// as in Kafka; not kafkajs' murmur2 partitioner, which only moves viewers between partitions).
// Each stage is timed around a whole flush's worth of records (no per-record timer), in wall
// clock and in process CPU time; each processor runs `repeat` times and every stage reports
// its median pass. GC lands in whichever stage triggered it.
//
// With `--profile NAME` it also runs that processor end to end (`viewpulse run processors
// --only NAME` under `node --cpu-prof`) over a fresh 12-partition topic holding the same
// traffic, scrapes the runner's /metrics once it committed everything (its real batch, flush
// and checkpoint counts), stops it with SIGTERM, and sums the profile's self time by function:
// over the whole run, and over the processing window (first to last sample inside onBatch).
//
//   tsx bench/stages.ts [--events 200000] [--flush-every 28000] [--checkpoint-every 5] [--repeat 3]
//                       [--processors a,b|none] [--profile view-counts|none] [--out FILE]
//   tsx bench/stages.ts --cpuprofile FILE.cpuprofile     (only summarise a profile: top self time)
//
// Only public APIs: processor definitions (runtime/registry.ts PROCESSORS), lib/kafka/serde.ts,
// lib/clickhouse/*. Everything that touches the processor API is in `openProcessor` below.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import os from 'node:os';
import { join, relative, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { generateTraffic, type Traffic } from '../generator/index.js';
import { KafkaSink } from '../generator/sinks.js';
import { catalogRows, pumpIntoKafka, seedCatalog } from '../harness/dataset.js';
import { pipeline, waitForCommitted, type Pipeline } from '../harness/pipeline.js';
import { projectRoot } from '../infra/paths.js';
import type { ClickHouseClient } from '../lib/clickhouse/client.js';
import { v } from '../lib/clickhouse/sql.js';
import { encodeTabSeparated, insertColumns, toClickHouseRows } from '../lib/clickhouse/writer.js';
import { AvroSerde } from '../lib/kafka/serde.js';
import type { VideoLookup } from '../processors/contract.js';
import { outcomeLabel } from '../processors/outcome.js';
import { groupIdOf, PROCESSORS } from '../runtime/registry.js';
import { playEventSchema } from '../schemas/avro.js';
import { valueSubject } from '../schemas/topics.js';
import type { PlayEvent } from '../schemas/types.js';
import { machine } from './results-file.js';
import { stopChild, timed } from './children.js';

export const STAGES = ['decode', 'process', 'drain', 'encode', 'insert', 'checkpoint'] as const;
export type Stage = (typeof STAGES)[number];
export type StageCosts = Record<Stage | 'total', number>;

export const STAGE_PROCESSORS = ['raw-events', 'view-counts', 'engagement', 'recommendations'] as const;
export type StageProcessorName = (typeof STAGE_PROCESSORS)[number];

export interface StageOptions {
  /** Generated records (events and duplicate copies; no malformed ones). Default 200,000. */
  events?: number;
  seed?: number;
  partitions?: number;
  /** Records between flushes (drain + encode + insert): ≈ end-to-end events per second. */
  flushEvery?: number;
  /** Flushes between checkpoints (the runner: 5 s / 1 s). */
  checkpointEvery?: number;
  /** Passes per processor (fresh state each); every stage reports its median pass. Default 3. */
  repeat?: number;
  processors?: readonly StageProcessorName[];
  /** A migrated scratch pipeline to write into; default: a fresh one, dropped at the end. */
  pipeline?: Pipeline;
  /** The traffic to use (must not have been iterated); default generateTraffic(events, seed). */
  traffic?: Traffic;
  log?: (line: string) => void;
}

export interface ProcessorStageResult {
  /** Wall-clock µs per input record, per stage (median pass). */
  per_event_us: StageCosts;
  /** The same in process CPU time (all threads: GC and JIT helpers included; not ClickHouse's). */
  per_event_cpu_us: StageCosts;
  /** 1e6 / total: what one core would sustain if Kafka fetching and runner bookkeeping were free. */
  events_per_s_pure: number;
  /** Total wall µs per event of each pass, to show the spread. */
  total_us_per_run: number[];
  flushes: number;
  checkpoints: number;
  inserts: number;
  rows: Record<string, number>;
  rows_per_event: number;
  encoded_mb: number;
  checkpoint_us_per_event: { snapshot: number; json: number; gzip_base64: number; row_encode_insert: number };
  /** The last checkpoint: JSON and stored (gzip + base64) size over all partitions. */
  last_checkpoint_mb: { json: number; stored: number };
  outcomes: Record<string, number>;
  wall_s_per_run: number[];
  /** 1-minute load average before the first pass and after each (the machine is shared). */
  loadavg_1m: number[];
}

export interface StageTable {
  records: number;
  partitions: number;
  flush_every: number;
  checkpoint_every: number;
  repeat: number;
  processors: Partial<Record<StageProcessorName, ProcessorStageResult>>;
}

// ---- the one place that touches the processor API ------------------------------------------

interface TableOut {
  name: string;
  times: readonly string[];
}

interface StagePartition {
  /** Applies one decoded record; returns its outcome label (`ok`, `drop:duplicate`, ...). */
  process(offset: number, key: string, value: PlayEvent): string;
  drain(): Map<string, object[]>;
  /** The keyed state changed since the last call (what the changelog store writes). */
  stateChanges(): [string, unknown][];
}

interface StageProcessor {
  name: string;
  /** Tables in write order; dead letters are not written here (see notes: counted, not written). */
  tables: TableOut[];
  partition(partition: number): StagePartition;
}

function openProcessor(name: StageProcessorName, topic: string, catalog: VideoLookup): StageProcessor {
  const definition = PROCESSORS[name].definition();
  return {
    name: definition.name,
    tables: definition.tables.map((t) => ({ name: t.name, times: t.times ?? [] })),
    partition(partition) {
      const p = definition.create(partition, undefined, catalog);
      return {
        process: (offset, key, value) => outcomeLabel(p.process({ topic, partition, offset, key, value })),
        drain: () => p.drain(),
        stateChanges: () => p.stateChanges(),
      };
    },
  };
}

// ---- stages ---------------------------------------------------------------------------------

/** FNV-1a 32-bit: the bench's partitioner (viewer_id → partition). */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The request body @clickhouse/client builds for an array of rows in JSONEachRow. */
export function encodeJsonEachRow(rows: readonly object[], times: readonly string[]): string {
  return toClickHouseRows(rows, times)
    .map((r) => JSON.stringify(r) + '\n')
    .join('');
}

/** INSERT of an already encoded JSONEachRow body: the request ClickHouseClient.insert sends. */
async function insertBody(
  ch: ClickHouseClient,
  database: string,
  table: string,
  [columns, body]: [string[], string],
): Promise<void> {
  const r = await ch.exec({
    query: `INSERT INTO ${v.table(database, table).text} (${columns.map((c) => v.ident(c).text).join(', ')}) FORMAT TabSeparated`,
    values: Readable.from([body]),
  });
  r.stream.resume();
  await finished(r.stream);
}

interface InputRecordBytes {
  partition: number;
  offset: number;
  key: string;
  bytes: Buffer;
}

/**
 * The traffic as Kafka would hold it (Avro + Confluent framing, offsets per partition), cut
 * into flushes of `flushEvery` records in delivery order; within a flush, records go
 * partition by partition (offset order), as the runner's per-partition batches do.
 */
async function frame(
  traffic: Traffic,
  serde: AvroSerde<PlayEvent>,
  partitions: number,
  flushEvery: number,
): Promise<{ records: number; flushes: InputRecordBytes[][] }> {
  const next = new Array<number>(partitions).fill(0);
  const flushes: InputRecordBytes[][] = [];
  let current: InputRecordBytes[] = [];
  let records = 0;
  const cut = (): void => {
    if (current.length) flushes.push(current.sort((a, b) => a.partition - b.partition || a.offset - b.offset));
    current = [];
  };
  for (const d of traffic.deliveriesSync()) {
    if (d.kind !== 'event') continue; // malformed: 0 in this traffic
    const e = KafkaSink.record(d);
    const partition = fnv1a(e.viewer_id) % partitions;
    current.push({ partition, offset: next[partition]!++, key: e.viewer_id, bytes: await serde.encode(e) });
    records++;
    if (current.length >= flushEvery) cut();
  }
  cut();
  return { records, flushes };
}

const round = (x: number, digits = 3): number => Math.round(x * 10 ** digits) / 10 ** digits;
const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const PARTS = [
  'decode',
  'process',
  'drain',
  'encode',
  'insert',
  'cp_snapshot',
  'cp_json',
  'cp_gzip',
  'cp_insert',
] as const;
type Part = (typeof PARTS)[number];
const CHECKPOINT_PARTS = ['cp_snapshot', 'cp_json', 'cp_gzip', 'cp_insert'] as const;

/** Wall and process CPU time (user + system, every thread of the process) per part, in ms. */
class Meter {
  readonly wall = Object.fromEntries(PARTS.map((k) => [k, 0])) as Record<Part, number>;
  readonly cpu = Object.fromEntries(PARTS.map((k) => [k, 0])) as Record<Part, number>;
  private t = 0;
  private c = 0;

  start(): void {
    const u = process.cpuUsage();
    this.c = u.user + u.system;
    this.t = performance.now();
  }

  stop(part: Part): void {
    this.wall[part] += performance.now() - this.t;
    const u = process.cpuUsage();
    this.cpu[part] += (u.user + u.system - this.c) / 1000;
  }
}

interface OneRun {
  meter: Meter;
  flushes: number;
  checkpoints: number;
  inserts: number;
  rows: Record<string, number>;
  bytes: number;
  lastCheckpoint: { json: number; stored: number };
  outcomes: Record<string, number>;
  wallMs: number;
}

/** One pass of one processor over the whole traffic, every stage timed. */
async function runOnce(
  name: StageProcessorName,
  p: Pipeline,
  flushes: readonly InputRecordBytes[][],
  catalog: VideoLookup,
  o: Required<Pick<StageOptions, 'partitions' | 'checkpointEvery'>>,
): Promise<OneRun> {
  const topic = p.topics.playEvents;
  // A fresh serde per run, as each processor process decodes on its own (schema id lookups
  // are cached after the first record, as in the runner).
  const serde = new AvroSerde<PlayEvent>(p.registry, valueSubject(topic), playEventSchema());
  const proc = openProcessor(name, topic, catalog);
  const parts = Array.from({ length: o.partitions }, (_, i) => proc.partition(i));
  const lastOffset = new Array<number>(o.partitions).fill(-1);
  const checkpointed = new Array<number>(o.partitions).fill(-1);
  const m = new Meter();
  const run: OneRun = {
    meter: m,
    flushes: 0,
    checkpoints: 0,
    inserts: 0,
    rows: {},
    bytes: 0,
    lastCheckpoint: { json: 0, stored: 0 },
    outcomes: {},
    wallMs: 0,
  };
  const started = performance.now();

  const flush = async (): Promise<void> => {
    run.flushes++;
    m.start();
    const pending = new Map<string, object[]>();
    for (const part of parts) {
      for (const [table, out] of part.drain()) {
        const list = pending.get(table);
        if (list) for (const r of out) list.push(r);
        else pending.set(table, out);
      }
    }
    m.stop('drain');
    const unknown = [...pending.keys()].filter((table) => !proc.tables.some((s) => s.name === table));
    if (unknown.length) throw new Error(`${name} drained rows for undeclared tables: ${unknown.join(', ')}`);
    const bodies: [string, [string[], string]][] = [];
    m.start();
    for (const spec of proc.tables) {
      const out = pending.get(spec.name);
      if (out?.length) {
        const columns = insertColumns(out);
        bodies.push([spec.name, [columns, encodeTabSeparated(out, columns, spec.times)]]);
      }
    }
    m.stop('encode');
    for (const spec of proc.tables) {
      const n = pending.get(spec.name)?.length ?? 0;
      if (n) run.rows[spec.name] = (run.rows[spec.name] ?? 0) + n;
    }
    m.start();
    for (const [table, body] of bodies) await insertBody(p.clickhouse, p.database, table, body);
    m.stop('insert');
    for (const [, [, body]] of bodies) run.bytes += body.length;
    run.inserts += bodies.length;
  };

  const checkpoint = async (): Promise<void> => {
    const moved = parts.map((_, i) => i).filter((i) => lastOffset[i]! > checkpointed[i]!);
    if (!moved.length) return;
    run.checkpoints++;
    // What the changelog store does: the keys each moved partition changed, JSON per value.
    // Its Kafka transaction (send + offsets + commit) is not timed here (no Kafka in this bench).
    m.start();
    const changes = moved.map((i) => parts[i]!.stateChanges());
    m.stop('cp_snapshot');
    m.start();
    const jsons = changes.map((c) =>
      c.map(([key, value]) => key + (value === null ? '' : JSON.stringify(value))).join('\n'),
    );
    m.stop('cp_json');
    const states = jsons;
    for (const i of moved) checkpointed[i] = lastOffset[i]!;
    run.lastCheckpoint = {
      json: jsons.reduce((n, j) => n + j.length, 0) / 2 ** 20,
      stored: states.reduce((n, s) => n + s.length, 0) / 2 ** 20,
    };
  };

  for (const chunk of flushes) {
    m.start();
    const values: PlayEvent[] = [];
    for (const r of chunk) {
      values.push(await serde.decode(r.bytes, { topic, partition: r.partition, offset: String(r.offset) }));
    }
    m.stop('decode');
    const labels: string[] = new Array<string>(chunk.length);
    m.start();
    for (let k = 0; k < chunk.length; k++) {
      const r = chunk[k]!;
      labels[k] = parts[r.partition]!.process(r.offset, r.key, values[k]!);
    }
    m.stop('process');
    for (let k = 0; k < chunk.length; k++) {
      const r = chunk[k]!;
      run.outcomes[labels[k]!] = (run.outcomes[labels[k]!] ?? 0) + 1;
      if (r.offset > lastOffset[r.partition]!) lastOffset[r.partition] = r.offset;
    }
    await flush();
    if (run.flushes % o.checkpointEvery === 0) await checkpoint();
  }
  // The final checkpoint of a graceful stop (whatever moved since the last one).
  await checkpoint();
  run.wallMs = performance.now() - started;
  return run;
}

/** Per-event µs of each stage from part totals (ms) over `n` records. */
function perEvent(t: Record<Part, number>, n: number): StageCosts {
  const us = (ms: number): number => (ms * 1000) / n;
  const c: Record<Stage, number> = {
    decode: us(t.decode),
    process: us(t.process),
    drain: us(t.drain),
    encode: us(t.encode),
    insert: us(t.insert),
    checkpoint: us(CHECKPOINT_PARTS.reduce((s, k) => s + t[k], 0)),
  };
  return { ...c, total: STAGES.reduce((s, k) => s + c[k], 0) };
}

/** `repeat` passes of one processor; per stage the median pass. */
async function measureOne(
  name: StageProcessorName,
  p: Pipeline,
  frames: { records: number; flushes: InputRecordBytes[][] },
  catalog: VideoLookup,
  o: Required<Pick<StageOptions, 'partitions' | 'checkpointEvery' | 'repeat'>>,
): Promise<ProcessorStageResult> {
  const n = frames.records;
  const load = [os.loadavg()[0]!];
  const runs: OneRun[] = [];
  for (let i = 0; i < o.repeat; i++) {
    runs.push(await runOnce(name, p, frames.flushes, catalog, o));
    load.push(os.loadavg()[0]!);
  }
  const med = (pick: (r: OneRun) => Record<Part, number>): Record<Part, number> =>
    Object.fromEntries(PARTS.map((k) => [k, median(runs.map((r) => pick(r)[k]))])) as Record<Part, number>;
  const wall = med((r) => r.meter.wall);
  const cpu = med((r) => r.meter.cpu);
  const roundCosts = (c: StageCosts): StageCosts =>
    Object.fromEntries(Object.entries(c).map(([k, x]) => [k, round(x)])) as StageCosts;
  const perWall = roundCosts(perEvent(wall, n));
  const last = runs[runs.length - 1]!;
  const allRows = Object.values(last.rows).reduce((a, b) => a + b, 0);
  const cpUs = (k: Part): number => round((wall[k] * 1000) / n);
  return {
    per_event_us: perWall,
    per_event_cpu_us: roundCosts(perEvent(cpu, n)),
    events_per_s_pure: Math.round(1e6 / perWall.total),
    total_us_per_run: runs.map((r) => round(perEvent(r.meter.wall, n).total)),
    flushes: last.flushes,
    checkpoints: last.checkpoints,
    inserts: last.inserts + last.checkpoints,
    rows: last.rows,
    rows_per_event: round(allRows / n),
    encoded_mb: round(last.bytes / 2 ** 20, 1),
    checkpoint_us_per_event: {
      snapshot: cpUs('cp_snapshot'),
      json: cpUs('cp_json'),
      gzip_base64: cpUs('cp_gzip'),
      row_encode_insert: cpUs('cp_insert'),
    },
    last_checkpoint_mb: { json: round(last.lastCheckpoint.json, 2), stored: round(last.lastCheckpoint.stored, 2) },
    outcomes: last.outcomes,
    wall_s_per_run: runs.map((r) => round(r.wallMs / 1000, 2)),
    loadavg_1m: load.map((x) => round(x, 2)),
  };
}

/** Stage costs per event of each processor over generated traffic (see the header). */
export async function measureStages(opts: StageOptions = {}): Promise<StageTable> {
  const o = {
    events: opts.events ?? 200_000,
    seed: opts.seed ?? 3,
    partitions: opts.partitions ?? 12,
    flushEvery: opts.flushEvery ?? 28_000,
    checkpointEvery: opts.checkpointEvery ?? 5,
    repeat: opts.repeat ?? 3,
    processors: opts.processors ?? STAGE_PROCESSORS,
    log: opts.log ?? ((line: string) => console.error(`[bench:stages] ${line}`)),
  };
  const p = opts.pipeline ?? (await pipeline('stages', o.partitions));
  try {
    const traffic =
      opts.traffic ?? generateTraffic({ events: o.events, seed: o.seed, now: Date.now(), faults: { malformed: 0 } });
    const known = new Map(
      catalogRows(traffic).map((r) => [r.video_id, { creatorId: r.creator_id, durationMs: r.duration_ms }]),
    );
    const catalog: VideoLookup = { get: (id) => known.get(id) };
    const serde = new AvroSerde<PlayEvent>(p.registry, valueSubject(p.topics.playEvents), playEventSchema());
    const frames = await frame(traffic, serde, o.partitions, o.flushEvery);
    o.log(
      `${frames.records} records over ${o.partitions} partitions; flush every ${o.flushEvery}, checkpoint every ${o.checkpointEvery} flushes; ${o.repeat} passes each`,
    );
    const table: StageTable = {
      records: frames.records,
      partitions: o.partitions,
      flush_every: o.flushEvery,
      checkpoint_every: o.checkpointEvery,
      repeat: o.repeat,
      processors: {},
    };
    for (const name of o.processors) {
      const r = await measureOne(name, p, frames, catalog, o);
      table.processors[name] = r;
      o.log(
        `${name}: ${r.per_event_us.total} µs/event (${r.events_per_s_pure} events/s; passes ${r.total_us_per_run.join(', ')} µs/event; load ${r.loadavg_1m.join(', ')})`,
      );
    }
    return table;
  } finally {
    if (!opts.pipeline) await p.cleanup();
  }
}

/** One text table per processor: stage, wall µs per event, share of the total, CPU µs per event. */
export function formatStageTable(t: StageTable): string {
  const out: string[] = [];
  for (const [name, r] of Object.entries(t.processors)) {
    out.push(`${name}  (${r.events_per_s_pure} events/s pure, ${r.rows_per_event} rows/event, ${r.inserts} inserts)`);
    out.push(`  ${'stage'.padEnd(11)} ${'µs/event'.padStart(9)} ${'share'.padStart(7)} ${'cpu µs'.padStart(8)}`);
    for (const s of [...STAGES, 'total'] as const) {
      const us = r.per_event_us[s];
      const share = `${((100 * us) / r.per_event_us.total).toFixed(1)}%`;
      out.push(
        `  ${s.padEnd(11)} ${us.toFixed(2).padStart(9)} ${share.padStart(7)} ${r.per_event_cpu_us[s].toFixed(2).padStart(8)}`,
      );
    }
    out.push('');
  }
  return out.join('\n');
}

// ---- the end-to-end CPU profile -------------------------------------------------------------

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface SelfTime {
  function: string;
  url: string;
  self_ms: number;
  share: number;
  share_busy: number;
}

const shortUrl = (url: string): string => {
  if (!url) return '';
  const path = url.startsWith('file://') ? new URL(url).pathname : url;
  if (!path.startsWith('/')) return path;
  const nm = path.lastIndexOf('/node_modules/');
  return nm >= 0 ? path.slice(nm + 1) : relative(projectRoot, path);
};

/** What a url belongs to: a package, a project folder, node itself, or V8's pseudo-frames. */
const areaOf = (fn: string, url: string): string => {
  if (!url) return fn.startsWith('(') ? fn : '(native)';
  if (url.startsWith('node:')) return 'node:*';
  const m = /^node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  return m ? m[1]! : (url.split('/')[0] ?? url);
};

export interface SelfTimes {
  total_ms: number;
  idle_ms: number;
  gc_ms: number;
  /** Top functions by self time; share = of total_ms, share_busy = of total_ms - idle_ms. */
  top: SelfTime[];
  /** The same by package / project folder / node internals / V8 pseudo-frames. */
  areas: SelfTime[];
}

export interface ProfileSummary extends SelfTimes {
  /**
   * The processing window: from the first to the last sample inside the runner's onBatch
   * (profile-relative ms), and the self times within it alone.
   */
  processing: SelfTimes & { start_ms: number; end_ms: number };
}

interface Sample {
  at: number;
  dt: number;
  fn: string;
  url: string;
  inBatch: boolean;
}

function summarise(samples: readonly Sample[], top: number): SelfTimes {
  const byFn = new Map<string, SelfTime>();
  const byArea = new Map<string, SelfTime>();
  let total = 0;
  let idle = 0;
  let gc = 0;
  for (const s of samples) {
    total += s.dt;
    if (s.fn === '(idle)') idle += s.dt;
    if (s.fn === '(garbage collector)') gc += s.dt;
    const area = areaOf(s.fn, s.url);
    for (const [map, key, f, u] of [
      [byFn, `${s.fn}\u0000${s.url}`, s.fn, s.url],
      [byArea, area, area, ''],
    ] as const) {
      const e = map.get(key) ?? { function: f, url: u, self_ms: 0, share: 0, share_busy: 0 };
      e.self_ms += s.dt;
      map.set(key, e);
    }
  }
  const finish = (xs: Iterable<SelfTime>, n: number): SelfTime[] =>
    [...xs]
      .sort((a, b) => b.self_ms - a.self_ms)
      .slice(0, n)
      .map((e) => ({
        ...e,
        self_ms: round(e.self_ms, 1),
        share: round(e.self_ms / total, 4),
        share_busy: e.function === '(idle)' ? 0 : round(e.self_ms / (total - idle), 4),
      }));
  return {
    total_ms: round(total, 1),
    idle_ms: round(idle, 1),
    gc_ms: round(gc, 1),
    top: finish(byFn.values(), top),
    areas: finish(byArea.values(), 30),
  };
}

/** Self time by function + url (and by area) from a V8 .cpuprofile: the whole run and its processing window. */
export function selfTimes(file: string, top = 25): ProfileSummary {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const batchMemo = new Map<number, boolean>();
  const inBatch = (id: number): boolean => {
    const known = batchMemo.get(id);
    if (known !== undefined) return known;
    const cf = byId.get(id)?.callFrame;
    const up = parent.get(id);
    const r =
      cf !== undefined &&
      ((cf.functionName === 'onBatch' && cf.url.endsWith('runtime/runner.ts')) || (up !== undefined && inBatch(up)));
    batchMemo.set(id, r);
    return r;
  };
  const samples: Sample[] = [];
  let at = 0;
  // V8: timeDeltas[i] is the time from sample i-1 to sample i; sample i stands for that interval.
  for (let i = 0; i < prof.samples.length; i++) {
    const id = prof.samples[i]!;
    const node = byId.get(id);
    const dt = Math.max(0, prof.timeDeltas[i] ?? 0) / 1000;
    at += dt;
    if (!node) continue;
    samples.push({
      at,
      dt,
      fn: node.callFrame.functionName || '(anonymous)',
      url: shortUrl(node.callFrame.url),
      inBatch: inBatch(id),
    });
  }
  const batch = samples.filter((s) => s.inBatch);
  const start = batch[0]?.at ?? 0;
  const end = batch.at(-1)?.at ?? 0;
  return {
    ...summarise(samples, top),
    processing: {
      start_ms: round(start, 1),
      end_ms: round(end, 1),
      ...summarise(
        samples.filter((s) => s.at >= start && s.at <= end),
        top,
      ),
    },
  };
}

/** A port nothing listens on right now. */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** The runner's own counts from its /metrics: how it batched, flushed and checkpointed. */
export interface RunnerCadence {
  batches: number;
  records_per_batch: number;
  drains: number;
  /** INSERTs per table (sink_seconds count) and their summed latency. */
  inserts: Record<string, { count: number; seconds: number }>;
  checkpoints: number;
}

async function scrapeCadence(port: number): Promise<RunnerCadence> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const value = (name: string, label?: string): number => {
    let sum = 0;
    for (const line of text.split('\n')) {
      if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
      if (label && !line.includes(label)) continue;
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return sum;
  };
  const inserts: RunnerCadence['inserts'] = {};
  for (const m of text.matchAll(/^viewpulse_processor_sink_seconds_count\{[^}]*table="([^"]+)"[^}]*\} (\S+)$/gm)) {
    const table = m[1]!;
    inserts[table] = {
      count: Number(m[2]),
      seconds: round(value('viewpulse_processor_sink_seconds_sum', `table="${table}"`), 3),
    };
  }
  const batches = value('viewpulse_processor_batch_size_count');
  return {
    batches,
    records_per_batch: batches ? Math.round(value('viewpulse_processor_batch_size_sum') / batches) : 0,
    drains: value('viewpulse_processor_drain_rows_count'),
    inserts,
    checkpoints: value('viewpulse_processor_checkpoints_total'),
  };
}

export interface ProfileRun {
  processor: string;
  records: number;
  partitions: number;
  seconds: number;
  events_per_s: number;
  peak_rss_mb: number;
  /** As the runner counted them, scraped once everything was committed (before SIGTERM). */
  cadence: RunnerCadence;
  profile: string;
  summary: ProfileSummary;
}

/**
 * `viewpulse run processors --only NAME` under `node --cpu-prof`, over a fresh topic with the
 * traffic, until its group committed everything; then SIGTERM and the profile's self times.
 */
export async function profileRun(o: {
  processor: StageProcessorName;
  events?: number;
  seed?: number;
  partitions?: number;
  dir: string;
  log?: (line: string) => void;
}): Promise<ProfileRun> {
  const log = o.log ?? ((line: string) => console.error(`[bench:stages] ${line}`));
  const partitions = o.partitions ?? 12;
  const p = await pipeline('stagesprof', partitions);
  try {
    const traffic = generateTraffic({
      events: o.events ?? 200_000,
      seed: o.seed ?? 3,
      now: Date.now(),
      faults: { malformed: 0 },
    });
    const { sink } = await pumpIntoKafka(p, traffic, { chunk: 2000 });
    await seedCatalog(p.clickhouse, p.database, catalogRows(traffic));
    const records = sink.stats().written;
    log(`profiling ${o.processor} end to end over ${records} records in ${p.topics.playEvents}`);
    rmSync(o.dir, { recursive: true, force: true });
    mkdirSync(o.dir, { recursive: true });
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [
        '--cpu-prof',
        `--cpu-prof-dir=${o.dir}`,
        join(projectRoot, 'bin', 'viewpulse.js'),
        'run',
        'processors',
        '--only',
        o.processor,
        '--metrics-port',
        String(port),
      ],
      {
        env: {
          ...process.env,
          VIEWPULSE_TOPIC_PREFIX: p.prefix,
          VIEWPULSE_CLICKHOUSE_DATABASE: p.database,
          VIEWPULSE_LOG_LEVEL: 'warn',
        },
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
    let r: { seconds: number; peakRssMb: number };
    let cadence: RunnerCadence | undefined;
    try {
      r = await timed(child, async () => {
        await waitForCommitted(p.kafka, groupIdOf(p.prefix, o.processor), p.topics.playEvents, 900_000);
        cadence = await scrapeCadence(port);
      });
    } finally {
      await stopChild(child);
    }
    const files = readdirSync(o.dir)
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => join(o.dir, f))
      .sort((a, b) => statSync(b).size - statSync(a).size);
    if (!files[0]) throw new Error(`no .cpuprofile in ${o.dir}`);
    const s = selfTimes(files[0]);
    return {
      processor: o.processor,
      records,
      partitions,
      seconds: round(r.seconds, 2),
      events_per_s: Math.round(records / r.seconds),
      peak_rss_mb: r.peakRssMb,
      cadence: cadence!,
      profile: files[0],
      summary: s,
    };
  } finally {
    await p.cleanup();
  }
}

// ---- command line ---------------------------------------------------------------------------

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      events: { type: 'string', default: '200000' },
      'flush-every': { type: 'string', default: '28000' },
      'checkpoint-every': { type: 'string', default: '5' },
      repeat: { type: 'string', default: '3' },
      processors: { type: 'string', default: STAGE_PROCESSORS.join(',') },
      profile: { type: 'string', default: 'view-counts' },
      'profile-dir': { type: 'string', default: '/tmp/viewpulse-stages-prof' },
      out: { type: 'string', default: join(projectRoot, 'bench', 'results', 'stages.json') },
      /** Only summarise an existing .cpuprofile (top self time), print it as JSON and exit. */
      cpuprofile: { type: 'string' },
    },
  });
  if (args.cpuprofile) {
    console.log(JSON.stringify(selfTimes(args.cpuprofile), null, 2));
    return;
  }
  const names = (
    args.processors === 'none' ? [] : args.processors.split(',').map((s) => s.trim())
  ) as StageProcessorName[];
  for (const n of names) if (!STAGE_PROCESSORS.includes(n)) throw new Error(`unknown processor ${n}`);
  const events = Number(args.events);
  const stages = names.length
    ? await measureStages({
        events,
        flushEvery: Number(args['flush-every']),
        checkpointEvery: Number(args['checkpoint-every']),
        repeat: Number(args.repeat),
        processors: names,
      })
    : undefined;
  if (stages) console.log(formatStageTable(stages));
  let prof: ProfileRun | undefined;
  if (args.profile !== 'none') {
    if (!STAGE_PROCESSORS.includes(args.profile as StageProcessorName))
      throw new Error(`unknown processor ${args.profile}`);
    prof = await profileRun({ processor: args.profile as StageProcessorName, events, dir: args['profile-dir'] });
    console.log(`end to end ${prof.processor}: ${prof.events_per_s} events/s under --cpu-prof (${prof.seconds} s)`);
    for (const e of prof.summary.top)
      console.log(
        `  ${e.self_ms.toFixed(1).padStart(9)} ms ${(100 * e.share).toFixed(1).padStart(5)}%  ${e.function}  ${e.url}`,
      );
  }
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: projectRoot, encoding: 'utf8' }).trim();
  } catch {
    // not a git checkout
  }
  const pick = <K extends keyof ProcessorStageResult>(k: K): Record<string, ProcessorStageResult[K]> =>
    Object.fromEntries(Object.entries(stages?.processors ?? {}).map(([n, r]) => [n, r[k]]));
  const body = {
    commit,
    command: `tsx bench/stages.ts ${process.argv.slice(2).join(' ')}`.trim(),
    measured_at: new Date().toISOString(),
    machine: machine(),
    ...(stages
      ? {
          setup: {
            traffic: `generateTraffic seed 3, default faults, malformed 0: ${stages.records} records (events and duplicate copies)`,
            partitions: `${stages.partitions}, by FNV-1a(viewer_id) mod ${stages.partitions}`,
            cadence: `drain + encode + insert every ${stages.flush_every} records (runner: every 1 s), checkpoint every ${stages.checkpoint_every} flushes (runner: every 5 s)`,
            catalog: 'every video known (catalogRows of the traffic)',
            order:
              'within a flush, records partition by partition in offset order (the runner handles one partition batch at a time)',
            timing: `wall clock per stage, median of ${stages.repeat} passes per processor (fresh state each); cpu = process.cpuUsage() over the same spans`,
          },
        }
      : {}),
    per_event_us: pick('per_event_us'),
    per_event_cpu_us: pick('per_event_cpu_us'),
    events_per_s_pure: pick('events_per_s_pure'),
    detail: stages?.processors ?? {},
    ...(prof
      ? {
          end_to_end: {
            processor: prof.processor,
            records: prof.records,
            partitions: prof.partitions,
            seconds: prof.seconds,
            events_per_s_under_cpu_prof: prof.events_per_s,
            peak_rss_mb: prof.peak_rss_mb,
            runner_cadence: prof.cadence,
            profile: {
              file: prof.profile,
              total_ms: prof.summary.total_ms,
              idle_ms: prof.summary.idle_ms,
              gc_ms: prof.summary.gc_ms,
              processing_window_ms: [prof.summary.processing.start_ms, prof.summary.processing.end_ms],
            },
          },
          cpu_profile_top: prof.summary.top,
          cpu_profile_by_area: prof.summary.areas,
          cpu_profile_processing_window: prof.summary.processing,
        }
      : {}),
  };
  const out = resolve(args.out);
  mkdirSync(resolve(out, '..'), { recursive: true });
  writeFileSync(out, `${JSON.stringify(body, null, 2)}\n`);
  console.error(`[bench:stages] wrote ${out}`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
