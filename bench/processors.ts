// npm run bench:processors — how fast the stream processors turn Kafka records into ClickHouse
// rows on this machine, side by side in one run (issue 9's figures):
//
//  1. generates N events (default 1,000,000) into a fresh play-events topic of 12 partitions;
//  2. pure: each processor's logic alone, in process, on the decoded events (no I/O);
//  3. a bare kafkajs consumer over the topic: the ceiling;
//  4. each processor alone as its own process (`viewpulse run processors --only X`), from
//     offset 0 until its group committed the end: events/s and peak resident memory;
//  5. all four in one process; then view-counts with --workers 1 and --workers 2, and all four
//     with --workers 2;
//  6. the Kafka Streams peer (bench/peer.ts) counting plays per video-minute on the same topic,
//     its counts compared with our view_counts (a differential check);
//  7. freshness: probe events while a background load runs at half the all-together rate;
//  8. state: the recommendations processor (per-viewer state) over 100,000 and 1,000,000 distinct
//     viewers: peak RSS, state bytes written per second at the same live event rate, and the
//     restore time after kill -9;
//  9. the per-stage cost table (bench/stages.ts), beside the one measured before this work.
// Writes bench/results/processors.json.
//
//   npm run bench:processors [-- --events 1000000 --probes 50 --skip-state | --state-only | --pure-only [--only a,b]
//                             | --freshness-only --events 20000 --rate 4000
//                             | --alone-only [--only a,b] [--together]]
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import avsc from 'avsc';
import { generateTraffic, type Traffic } from '../generator/index.js';
import { KafkaSink } from '../generator/sinks.js';
import { queryRows } from '../lib/clickhouse/client.js';
import { sql, v } from '../lib/clickhouse/sql.js';
import { AvroProducer } from '../lib/kafka/producer.js';
import { playEventSchema } from '../schemas/avro.js';
import { TABLES } from '../schemas/tables.js';
import { changelogTopic } from '../schemas/topics.js';
import type { PlayEvent } from '../schemas/types.js';
import type { ProcessorDefinition, VideoLookup } from '../processors/contract.js';
import { catalogRows, pumpIntoKafka, seedCatalog } from '../harness/dataset.js';
import { pipeline, readMinuteCounts, waitForCommitted, type Pipeline } from '../harness/pipeline.js';
import { groupIdOf, PROCESSORS } from '../runtime/registry.js';
import { projectRoot } from '../infra/paths.js';
import { percentile, writeResults } from './results-file.js';
import { rssMb, spawnProcessors, stopChild, timed } from './children.js';
import { comparePlays, playKey, runKafkaStreamsPeer } from './peer.js';
import { produceAll, SYN_VIDEOS, synVideo, syntheticStream } from './synthetic.js';
import { liveLoad } from './live-load.js';

const { values: args } = parseArgs({
  options: {
    // default 1,000,000; 20,000 of history with --freshness-only
    events: { type: 'string' },
    partitions: { type: 'string', default: '12' },
    probes: { type: 'string', default: '50' },
    'skip-state': { type: 'boolean', default: false },
    // only the state phase, its figures merged into the existing results file
    'state-only': { type: 'boolean', default: false },
    'state-viewers': { type: 'string', default: '1000000' },
    // only the pure logic, in process, no services: printed, the results file left alone
    'pure-only': { type: 'boolean', default: false },
    // with --pure-only, --alone-only or --freshness-only: these processors only (comma-separated), e.g. to profile one
    only: { type: 'string' },
    // only each processor alone, end to end through Kafka and ClickHouse (and all of them
    // together with --together): printed, the results file left alone
    'alone-only': { type: 'boolean', default: false },
    together: { type: 'boolean', default: false },
    // only the freshness phase on --events of history, at --rate events/s of live load: printed
    'freshness-only': { type: 'boolean', default: false },
    rate: { type: 'string', default: '4000' },
    // with --alone-only or --freshness-only: run processors --workers N (the full run measures 1, then 2)
    workers: { type: 'string', default: '1' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  console.log(`npm run bench:processors [-- options]: the stream processors' figures (issue 9), side by side in one run;
the full run (no phase option) writes bench/results/processors.json, a phase option only prints its figures.

  --events N          records generated into the play-events topic (default 1000000; 20000 with --freshness-only)
  --partitions N      partitions of the topic (default 12)
  --probes N          freshness probes (default 50)
  --skip-state        the full run without the state phase
  --state-only        only the state phase (100k and --state-viewers viewers), merged into the results file
  --state-viewers N   viewers of the larger state run (default 1000000)
  --pure-only         only each processor's pure logic, in process, no services
  --alone-only        only each processor alone end to end (with --together: then all of them in one process)
  --freshness-only    only the freshness phase, at --rate events/s of live load (default 4000)
  --only a,b          with a phase option: these processors only
  --workers N         with --alone-only or --freshness-only: run processors --workers N (default 1)
  -h, --help          this text

Environment: BENCH_CPU_PROF_DIR=dir writes a CPU profile of every processors child there; the
processors' own settings (e.g. VIEWPULSE_PROCESSOR_CHECKPOINT_MS) reach the children.`);
  process.exit(0);
}
const WORKER_ARGS = args.workers === '1' ? [] : ['--workers', args.workers];
const EVENTS = Number(args.events ?? (args['freshness-only'] ? 20_000 : 1_000_000));
const PARTITIONS = Number(args.partitions);
const PROBES = Number(args.probes);
const NAMES = ['raw-events', 'view-counts', 'engagement', 'recommendations'] as const;

const log = (line: string): void =>
  console.error(`[bench:processors] ${new Date().toISOString().slice(11, 19)} ${line}`);
const round = (x: number, digits = 0): number => Math.round(x * 10 ** digits) / 10 ** digits;

/** Forgets a processor's progress: its consumer group and its changelog, so a run starts at offset 0. */
async function reset(p: Pipeline, names: readonly string[]): Promise<void> {
  const admin = p.kafka.admin();
  await admin.connect();
  const groups = names.map((n) => groupIdOf(p.prefix, n));
  await admin.deleteGroups(groups).catch(() => undefined);
  const existing = new Set(await admin.listTopics());
  const changelogs = groups.map(changelogTopic).filter((t) => existing.has(t));
  if (changelogs.length) await admin.deleteTopics({ topics: changelogs }).catch(() => undefined);
  await admin.disconnect();
  await p.clickhouse.command({ query: sql`TRUNCATE TABLE ${v.table(p.database, TABLES.checkpoints)}`.text });
  // topic deletion is asynchronous: let the broker finish before a run recreates them
  await new Promise((r) => setTimeout(r, 1_500));
}

/** Runs processors in a child process until their groups committed the whole topic. */
function timedRun(
  p: Pipeline,
  only: readonly string[],
  extra: string[] = [],
): Promise<{ seconds: number; peakRssMb: number }> {
  return timed(spawnProcessors(only, p, extra), async () => {
    for (const name of only) await waitForCommitted(p.kafka, groupIdOf(p.prefix, name), p.topics.playEvents, 1_800_000);
  });
}

/**
 * Every play event of the traffic as the runtime hands it to a processor — Avro-encoded as
 * Kafka holds it and decoded again (objects of one shape, as avsc builds them; the generator's
 * spread copies would each have a shape of their own and slow every property read) — split by
 * a hash of the viewer (not kafkajs' murmur2: any split keeps each viewer's events together
 * and in order).
 */
function eventsByPartition(traffic: Traffic, partitions: number): PlayEvent[][] {
  const out: PlayEvent[][] = Array.from({ length: partitions }, () => []);
  const avro = avsc.Type.forSchema(playEventSchema() as avsc.Schema);
  for (const d of traffic.deliveriesSync()) {
    if (d.kind !== 'event') continue;
    const e = avro.fromBuffer(avro.toBuffer(KafkaSink.record(d))) as PlayEvent;
    let h = 0;
    for (let i = 0; i < e.viewer_id.length; i++) h = (h * 31 + e.viewer_id.charCodeAt(i)) | 0;
    out[Math.abs(h) % partitions]!.push(e);
  }
  return out;
}

/** The pure logic alone: process every event, drain every 5,000, hand out state changes every 25,000. */
function pureEventsPerS(def: ProcessorDefinition<PlayEvent>, parts: PlayEvent[][], catalog: VideoLookup): number {
  const started = process.hrtime.bigint();
  let n = 0;
  parts.forEach((events, partition) => {
    const proc = def.create(partition, undefined, catalog);
    events.forEach((value, offset) => {
      proc.process({ topic: 'play-events', partition, offset, key: value.viewer_id, value });
      if (offset % 5_000 === 4_999) proc.drain();
      if (offset % 25_000 === 24_999) proc.stateChanges();
    });
    proc.drain();
    proc.stateChanges();
    n += events.length;
  });
  return n / (Number(process.hrtime.bigint() - started) / 1e9);
}

async function bareConsumer(p: Pipeline, total: number): Promise<number> {
  const consumer = p.kafka.consumer({ groupId: `${p.prefix}bare-${randomUUID()}` });
  await consumer.connect();
  await consumer.subscribe({ topic: p.topics.playEvents, fromBeginning: true });
  let seen = 0;
  let started = 0;
  const seconds = await new Promise<number>((resolve, reject) => {
    consumer
      .run({
        eachBatch: async ({ batch }) => {
          if (!started) started = Date.now();
          seen += batch.messages.length;
          if (seen >= total) resolve((Date.now() - started) / 1000);
        },
      })
      .catch(reject);
  });
  await consumer.disconnect();
  return total / seconds;
}

const probeEvent = (id: string, now: number): PlayEvent => ({
  event_id: randomUUID(),
  event_type: 'play_start',
  event_time: now,
  received_at: now,
  session_id: id,
  viewer_id: id,
  video_id: id,
  position_ms: 0,
  watched_ms: 0,
  device: 'desktop',
  os: 'linux',
  country: 'DE',
  traffic_source: 'direct',
  referrer_video_id: null,
  seek_from_ms: null,
  startup_ms: 300,
  rebuffer_ms: null,
  error_code: null,
  sdk_version: 'bench',
});

/**
 * Freshness: with all processors running (caught up), a background load of live events at
 * `rate` per second, and probe play_starts produced one at a time, each timed until its row is
 * queryable in play_events, view_counts and sessions.
 */
async function freshness(
  p: Pipeline,
  probes: number,
  rate: number,
  names: readonly string[] = NAMES,
  extra: readonly string[] = [],
): Promise<Record<string, number[]>> {
  const running = spawnProcessors(names, p, extra);
  const producer = new AvroProducer<PlayEvent>(p.kafka, p.registry, {
    topic: p.topics.playEvents,
    schema: playEventSchema(),
    key: (e) => e.viewer_id,
    lingerMs: 0,
  });
  await producer.connect();
  // The probes' videos must be in the catalog, or the partitions wait for it.
  const ids = Array.from({ length: probes + 1 }, () => `probe-${randomUUID()}`);
  await seedCatalog(
    p.clickhouse,
    p.database,
    ids.map((id) => ({ video_id: id, creator_id: 'probe', duration_ms: 600_000 })),
  );
  // background load: live sessions of the generator's catalog, `rate` events per second
  let stop = false;
  const load = liveLoad(p, rate, () => stop);
  const out: Record<string, number[]> = Object.fromEntries(
    ['raw-events', 'view-counts', 'engagement'].filter((n) => names.includes(n)).map((n) => [n, []]),
  );
  for (let i = -1; i < probes; i++) {
    const id = ids[i + 1]!;
    const sent = Date.now();
    await producer.send([probeEvent(id, sent)]);
    const pending = new Set<string>(Object.keys(out));
    const seenAfter: string[] = [];
    const deadline = sent + (i < 0 ? 120_000 : 20_000);
    while (pending.size && Date.now() < deadline) {
      const [row] = await queryRows<{ raw: string; counts: string; sessions: string }>(
        p.clickhouse,
        sql`SELECT
              (SELECT count() FROM ${v.table(p.database, TABLES.playEvents)} WHERE video_id = ${v.string(id)}) AS raw,
              (SELECT count() FROM ${v.table(p.database, TABLES.counts)} WHERE dim = 'video' AND id = ${v.string(id)}) AS counts,
              (SELECT count() FROM ${v.table(p.database, TABLES.sessions)} WHERE video_id = ${v.string(id)}) AS sessions`,
      );
      const t = Date.now() - sent;
      const seen = {
        'raw-events': Number(row!.raw),
        'view-counts': Number(row!.counts),
        engagement: Number(row!.sessions),
      };
      for (const name of [...pending]) {
        if (seen[name as keyof typeof seen] > 0) {
          pending.delete(name);
          seenAfter.push(`${name} ${t}`);
          if (i >= 0) out[name]!.push(t);
        }
      }
      if (!pending.size) log(`probe ${i + 1}/${probes}: seen after ms: ${seenAfter.join(', ')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    if (pending.size)
      log(`probe ${i + 1}/${probes}: not seen in ${[...pending].join(', ')} after ${Date.now() - sent} ms`);
  }
  stop = true;
  const offered = await load;
  log(`freshness: background load ran at ${Math.round(offered)} events/s`);
  await producer.disconnect();
  await stopChild(running);
  return out;
}

/** The value of a counter in a child's /metrics (summed over label sets). */
async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name)) sum += Number(line.split(' ').at(-1));
  return sum;
}

async function waitReady(port: number, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    try {
      const health = (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as {
        processors?: { partitions?: unknown[] }[];
      };
      if ((health.processors?.[0]?.partitions?.length ?? 0) >= PARTITIONS) return (Date.now() - t0) / 1000;
    } catch {
      // not listening yet
    }
    if (Date.now() - t0 > timeoutMs) throw new Error('processor did not restore its partitions in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * The state phase's group session timeout: a killed member's partitions move once it passed,
 * so it bounds restore_s from below. 10 s, Kafka's own default before 3.0 (the runtime's is 30 s).
 */
const STATE_SESSION_TIMEOUT_MS = 10_000;
const STATE_ENV = { VIEWPULSE_PROCESSOR_SESSION_TIMEOUT_MS: String(STATE_SESSION_TIMEOUT_MS) };

/**
 * State at scale: V distinct viewers (two sessions each, over the last 24 h) preloaded through
 * the recommendations processor; then live events at a fixed rate for 30 s while the state
 * bytes written are counted; then kill -9 and the time until a new instance has restored every
 * partition.
 */
async function stateAt(viewers: number, liveRate: number): Promise<Record<string, number>> {
  const p = await pipeline(`bstate${viewers >= 1_000_000 ? 'm' : 'k'}`, PARTITIONS);
  try {
    await seedCatalog(
      p.clickhouse,
      p.database,
      Array.from({ length: SYN_VIDEOS }, (_, i) => ({
        video_id: synVideo(i),
        creator_id: `syn-c${i % 100}`,
        duration_ms: 600_000,
      })),
    );
    const producer = new AvroProducer<PlayEvent>(p.kafka, p.registry, {
      topic: p.topics.playEvents,
      schema: playEventSchema(),
      key: (e) => e.viewer_id,
    });
    await producer.connect();
    const spanMs = 86_400_000;
    const start = Math.floor((Date.now() - spanMs - 120_000) / 60_000) * 60_000;
    const records = await produceAll(producer, syntheticStream(viewers, start, spanMs));
    log(`state ${viewers} viewers: ${records} records preloaded`);
    const port = 39_500 + (viewers >= 1_000_000 ? 1 : 0);
    const child = spawnProcessors(['recommendations'], p, ['--metrics-port', String(port)], STATE_ENV);
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMb(child.pid!))), 200);
    const t0 = Date.now();
    await waitForCommitted(p.kafka, groupIdOf(p.prefix, 'recommendations'), p.topics.playEvents, 1_800_000);
    const preloadS = (Date.now() - t0) / 1000;
    // live: new viewers, event time = now, `liveRate` events per second for 30 s
    const before = await metric(port, 'viewpulse_processor_state_bytes_total');
    const liveStart = Date.now();
    let sent = 0;
    const live = syntheticStream(1_000_000, Date.now(), 30_000);
    while (Date.now() - liveStart < 30_000) {
      const due = Math.floor(((Date.now() - liveStart) / 1000) * liveRate) - sent;
      const chunk: PlayEvent[] = [];
      for (let i = 0; i < due; i++) {
        const n = live.next();
        if (n.done) break;
        chunk.push({
          ...n.value,
          viewer_id: `live-${n.value.viewer_id}`,
          session_id: `live-${n.value.session_id}`,
          event_id: `live-${n.value.event_id}`,
        });
      }
      if (chunk.length) await producer.send(chunk);
      sent += chunk.length;
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 6_000)); // the last checkpoint of the live phase
    const bytes = (await metric(port, 'viewpulse_processor_state_bytes_total')) - before;
    const liveS = (Date.now() - liveStart) / 1000;
    clearInterval(sampler);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const restarted = spawnProcessors(['recommendations'], p, ['--metrics-port', String(port)], STATE_ENV);
    // A partition shows in the health report once it processed a batch: a few new records
    // (over every partition, by their keys) make each one restore and report.
    const pokeFrom = Date.now();
    const poke = syntheticStream(2_000, pokeFrom, 1_000);
    const pokes: PlayEvent[] = [];
    for (const e of poke)
      pokes.push({
        ...e,
        viewer_id: `poke-${e.viewer_id}`,
        session_id: `poke-${e.session_id}`,
        event_id: `poke-${e.event_id}`,
      });
    await producer.send(pokes);
    const restoreS = await waitReady(port, 600_000);
    const restoreStateS = await metric(port, 'viewpulse_processor_restore_seconds');
    await stopChild(restarted);
    await producer.disconnect();
    return {
      viewers,
      records,
      preload_events_per_s: Math.round(records / preloadS),
      peak_rss_mb: peak,
      live_events_per_s: Math.round(sent / 30),
      checkpoint_bytes_per_s: Math.round(bytes / liveS),
      restore_s: round(restoreS, 1),
      restore_state_s: round(restoreStateS, 1),
      session_timeout_ms: STATE_SESSION_TIMEOUT_MS,
    };
  } finally {
    await p.cleanup();
  }
}

async function stages(): Promise<{ before?: unknown; after?: unknown }> {
  const beforeFile = join(projectRoot, 'bench', 'results', 'stage-cost-before.json');
  const before = existsSync(beforeFile) ? (JSON.parse(readFileSync(beforeFile, 'utf8')) as unknown) : undefined;
  const stagesFile = join(projectRoot, 'bench', 'stages.ts');
  if (!existsSync(stagesFile)) return { before };
  const mod = (await import(stagesFile)) as { measureStages?: (o: object) => Promise<unknown> };
  const after = mod.measureStages ? await mod.measureStages({ events: 200_000 }) : undefined;
  return { before, after };
}

const setup = {
  topic: `play-events with ${PARTITIONS} partitions, ${EVENTS} generated events (seed 3, no malformed records)`,
  pure: 'each processor created per partition in process, fed the decoded events; drain every 5,000, state changes every 25,000; second of two passes',
  processors:
    'each as its own process via `viewpulse run processors --only NAME`, from offset 0 until committed to the end',
  state_store: 'Kafka changelog (default): changed keys and offsets in one transaction per partition, every 5 s',
  flush: 'rows every 1 s or 20k rows; checkpoint and commit every 5 s',
  freshness:
    'probe play_start events produced one at a time while all processors run under a background load of half the all-together rate; time until the row is queryable; a probe not seen within 20 s counts in timed_out, not in the percentiles',
  state:
    'recommendations over N distinct viewers (two sessions each in 24 h), then 30 s of live events at 2,000/s: state bytes written per second; restore_s = kill -9, then a new instance until it owns every partition (this includes waiting out the killed member: its session timeout, VIEWPULSE_PROCESSOR_SESSION_TIMEOUT_MS=10000 here, session_timeout_ms); restore_state_s = the restore itself, the state of the partitions read from the changelog and rebuilt side by side (viewpulse_processor_restore_seconds)',
  note: 'Kafka, the registry, ClickHouse, the processors and the load all share this 2-core machine',
};

async function main(): Promise<void> {
  if (args['pure-only']) {
    console.log(JSON.stringify({ pure_events_per_s: purePhase() }, null, 2));
    return;
  }
  if (args['freshness-only']) {
    console.log(JSON.stringify(await freshnessOnly(), null, 2));
    return;
  }
  if (args['alone-only']) {
    console.log(JSON.stringify(await aloneOnly(), null, 2));
    return;
  }
  const resultsFile = join(projectRoot, 'bench', 'results', 'processors.json');
  const previous = existsSync(resultsFile)
    ? (JSON.parse(readFileSync(resultsFile, 'utf8')) as { measured_at?: string; figures?: Record<string, unknown> })
    : {};
  const figures: Record<string, unknown> = args['state-only'] ? (previous.figures ?? {}) : {};
  if (args['skip-state']) {
    // the state figures of the last run that measured them stay, saying when that was
    for (const k of ['state_100k_viewers', 'state_1m_viewers', 'checkpoint_bytes_1m_over_100k'])
      if (previous.figures?.[k] !== undefined) figures[k] = previous.figures[k];
    figures.state_measured_at = previous.figures?.state_measured_at ?? previous.measured_at;
  } else figures.state_measured_at = new Date().toISOString();
  if (!args['state-only']) await mainPhases(figures);
  await statePhases(figures);
  await finish(figures);
}

/** The pure logic of each processor, in process, on the same generated events (seed 3). */
function purePhase(): Record<string, number> {
  const traffic = generateTraffic({ events: EVENTS, seed: 3, now: Date.now(), faults: { malformed: 0 } });
  const parts = eventsByPartition(traffic, PARTITIONS);
  const videos = new Map(
    catalogRows(traffic).map((r) => [r.video_id, { creatorId: r.creator_id, durationMs: r.duration_ms }]),
  );
  const catalog: VideoLookup = { get: (id) => videos.get(id) };
  const pure: Record<string, number> = {};
  const names = args.only ? (args.only.split(',') as (typeof NAMES)[number][]) : NAMES;
  for (const name of names) {
    const def = PROCESSORS[name].definition() as ProcessorDefinition<PlayEvent>;
    pureEventsPerS(def, parts, catalog); // warm up the JIT on the same data
    pure[name] = Math.round(pureEventsPerS(def, parts, catalog));
    log(`pure ${name}: ${pure[name]} events/s`);
  }
  return pure;
}

/** End to end alone: each processor (--only) from offset 0 until committed to the end; all of them with --together. */
async function aloneOnly(): Promise<Record<string, unknown>> {
  const p = await pipeline('bench', PARTITIONS);
  try {
    const traffic = generateTraffic({ events: EVENTS, seed: 3, now: Date.now(), faults: { malformed: 0 } });
    await seedCatalog(p.clickhouse, p.database, catalogRows(traffic));
    const { sink } = await pumpIntoKafka(p, traffic, { chunk: 5_000 });
    const total = sink.stats().written;
    const names = args.only ? args.only.split(',') : [...NAMES];
    const out: Record<string, unknown> = { events: total };
    for (const name of names) {
      await reset(p, [name]);
      const r = await timedRun(p, [name], WORKER_ARGS);
      out[name] = { events_per_s: Math.round(total / r.seconds), peak_rss_mb: r.peakRssMb };
      log(`${name} alone: ${Math.round(total / r.seconds)} events/s, peak RSS ${r.peakRssMb} MB`);
    }
    if (args.together) {
      await reset(p, names);
      const r = await timedRun(p, names, WORKER_ARGS);
      out.together = { events_per_s: Math.round(total / r.seconds), peak_rss_mb: r.peakRssMb };
      log(`${names.join(', ')} together: ${Math.round(total / r.seconds)} events/s, peak RSS ${r.peakRssMb} MB`);
    }
    return out;
  } finally {
    await p.cleanup();
  }
}

/** Freshness alone: --events of history caught up first, then probes under --rate of live load. */
async function freshnessOnly(): Promise<Record<string, unknown>> {
  const p = await pipeline('bench', PARTITIONS);
  try {
    const traffic = generateTraffic({ events: EVENTS, seed: 3, now: Date.now(), faults: { malformed: 0 } });
    await seedCatalog(p.clickhouse, p.database, catalogRows(traffic));
    await pumpIntoKafka(p, traffic, { chunk: 5_000 });
    const rate = Number(args.rate);
    log(`freshness: ${PROBES} probes under ${rate} events/s of background load`);
    const names = args.only ? args.only.split(',') : NAMES;
    return {
      freshness_load_events_per_s: rate,
      freshness_ms: freshnessStats(await freshness(p, PROBES, rate, names, WORKER_ARGS), PROBES),
    };
  } finally {
    await p.cleanup();
  }
}

/** Percentiles of the probes seen; `timed_out`: those not seen within 20 s (not in the percentiles). */
function freshnessStats(fresh: Record<string, number[]>, probes: number): Record<string, unknown> {
  const stats = (xs: number[]): { p50: number; p95: number; p99: number } => {
    const s = [...xs].sort((a, b) => a - b);
    return { p50: percentile(s, 50), p95: percentile(s, 95), p99: percentile(s, 99) };
  };
  return Object.fromEntries(
    Object.entries(fresh).map(([k, xs]) => [k, { ...stats(xs), samples: xs.length, timed_out: probes - xs.length }]),
  );
}

async function mainPhases(figures: Record<string, unknown>): Promise<void> {
  const p = await pipeline('bench', PARTITIONS);
  try {
    log(`generating ${EVENTS} events into ${p.topics.playEvents} (${PARTITIONS} partitions)`);
    const traffic = generateTraffic({ events: EVENTS, seed: 3, now: Date.now(), faults: { malformed: 0 } });
    await seedCatalog(p.clickhouse, p.database, catalogRows(traffic));
    const { sink } = await pumpIntoKafka(p, traffic, { chunk: 5_000 });
    const total = sink.stats().written;
    figures.events = total;

    figures.pure_events_per_s = purePhase();

    const bare = await bareConsumer(p, total);
    figures.bare_kafkajs_consumer_records_per_s = Math.round(bare);
    log(`bare kafkajs consumer: ${Math.round(bare)} records/s`);

    const alone: Record<string, { events_per_s: number; peak_rss_mb: number }> = {};
    for (const name of NAMES) {
      await reset(p, [name]);
      const r = await timedRun(p, [name]);
      alone[name] = { events_per_s: Math.round(total / r.seconds), peak_rss_mb: r.peakRssMb };
      log(`${name} alone: ${alone[name].events_per_s} events/s, peak RSS ${r.peakRssMb} MB`);
    }
    figures.processors_alone = alone;

    await reset(p, NAMES);
    const together = await timedRun(p, NAMES);
    const togetherRate = total / together.seconds;
    figures.all_together_events_per_s = Math.round(togetherRate);
    figures.all_together_peak_rss_mb = together.peakRssMb;
    log(`all four in one process: ${Math.round(togetherRate)} events/s (each), peak RSS ${together.peakRssMb} MB`);
    figures.ratio_to_bare_consumer = Object.fromEntries([
      ...NAMES.map((n) => [n, round(alone[n]!.events_per_s / bare, 3)]),
      ['all_together', round(togetherRate / bare, 3)],
    ]);

    // both cores: view-counts with one worker, then two
    const workers: Record<string, number> = {};
    for (const n of [1, 2]) {
      await reset(p, ['view-counts']);
      const r = await timedRun(p, ['view-counts'], ['--workers', String(n)]);
      workers[String(n)] = Math.round(total / r.seconds);
      log(`view-counts with ${n} worker(s): ${workers[String(n)]} events/s`);
    }
    figures.workers_events_per_s = { 'view-counts': workers };
    figures.workers_2_over_1 = round(workers['2']! / workers['1']!, 2);
    // ...and the whole pipeline on both cores: all four with --workers 2
    await reset(p, NAMES);
    const together2 = await timedRun(p, NAMES, ['--workers', '2']);
    figures.all_together_workers_2_events_per_s = Math.round(total / together2.seconds);
    figures.all_together_workers_2_peak_rss_mb = together2.peakRssMb;
    figures.all_together_workers_2_over_1 = round(total / together2.seconds / togetherRate, 2);
    log(
      `all four with --workers 2: ${figures.all_together_workers_2_events_per_s} events/s, peak RSS ${together2.peakRssMb} MB`,
    );

    // the peer, on the same topic; its counts against our view_counts
    const peer = await runKafkaStreamsPeer({
      brokers: p.config.kafka.brokers.join(','),
      topic: p.topics.playEvents,
      expectedRecords: total,
      partitions: PARTITIONS,
      log,
    });
    const ours = new Map<string, number>();
    for (const [video, byMinute] of await readMinuteCounts(p.clickhouse, p.database)) {
      for (const [minute, c] of byMinute) if (c.plays) ours.set(playKey(video, minute), c.plays);
    }
    const cmp = comparePlays(ours, peer.plays);
    figures.peer_kafka_streams_events_per_s = Math.round(peer.records_per_s);
    figures.view_counts_over_peer = round(alone['view-counts']!.events_per_s / peer.records_per_s, 2);
    figures.peer_counts_equal_ours = cmp.equal;
    figures.peer_compared_keys = cmp.keys;
    log(
      `Kafka Streams peer: ${Math.round(peer.records_per_s)} records/s; plays per video-minute equal ours: ${cmp.equal}`,
    );

    const rate = Math.max(100, Math.round(togetherRate / 2));
    log(`freshness: ${PROBES} probes under ${rate} events/s of background load`);
    figures.freshness_load_events_per_s = rate;
    figures.freshness_ms = freshnessStats(await freshness(p, PROBES, rate), PROBES);
  } finally {
    await p.cleanup();
  }
}

async function statePhases(figures: Record<string, unknown>): Promise<void> {
  if (!args['skip-state']) {
    const liveRate = 2_000;
    figures.state_100k_viewers = await stateAt(100_000, liveRate);
    log(`state 100k viewers: ${JSON.stringify(figures.state_100k_viewers)}`);
    figures.state_1m_viewers = await stateAt(Number(args['state-viewers']), liveRate);
    log(`state 1M viewers: ${JSON.stringify(figures.state_1m_viewers)}`);
    const a = figures.state_1m_viewers as { checkpoint_bytes_per_s: number };
    const b = figures.state_100k_viewers as { checkpoint_bytes_per_s: number };
    figures.checkpoint_bytes_1m_over_100k = round(a.checkpoint_bytes_per_s / Math.max(1, b.checkpoint_bytes_per_s), 2);
  }
}

async function finish(figures: Record<string, unknown>): Promise<void> {
  if (args['state-only']) {
    // the stage tables and the rest are already in the file
    writeResults('processors', 'npm run bench:processors (then -- --state-only)', setup, figures);
    log('merged the state figures into bench/results/processors.json');
    return;
  }
  const st = await stages().catch((err: Error) => {
    log(`stage table failed: ${err.message}`);
    return { before: undefined, after: { error: err.message } };
  });
  figures.stage_cost_before = st.before;
  figures.stage_cost_after = st.after;

  const file = writeResults('processors', 'npm run bench:processors', setup, figures);
  console.log(JSON.stringify(figures, null, 2));
  log(`wrote ${file}`);
}

await main();
