// npm run bench:ingest — how fast events get into Kafka on this machine, two ways:
//   1. the producer library: AvroProducer.send straight to Kafka (200k events in batches);
//   2. the HTTP collector: POST /v1/events with 100 events per request over 50 connections
//      (autocannon), the collector in its own process with the real producer behind it.
// Both write to a fresh topic (play-events, 6 partitions) under a unique prefix, deleted at the
// end; the records in Kafka are counted against what was acknowledged. Writes
// bench/results/ingest.json and prints the figures.
//
//   npm run bench:ingest [-- --producer-events 200000 --duration 15 --connections 50 --batch 100]
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Kafka } from 'kafkajs';
import { runCollector } from '../api/collector/server.js';
import { loadConfig } from '../lib/config.js';
import { createKafka } from '../lib/kafka/client.js';
import { AvroProducer } from '../lib/kafka/producer.js';
import { RegistryClient } from '../lib/kafka/registry.js';
import { playEventSchema } from '../schemas/avro.js';
import { topics } from '../schemas/topics.js';
import { DEVICES, EVENT_TYPES, TRAFFIC_SOURCES, type PlayEvent } from '../schemas/types.js';

// autocannon ships no types; this is the part of its API used here.
interface AutocannonStats {
  average: number;
  p50: number;
  p90: number;
  p97_5: number;
  p99: number;
  max: number;
}
interface AutocannonResult {
  duration: number;
  latency: AutocannonStats;
  requests: AutocannonStats & { total: number };
  '2xx': number;
  non2xx: number;
  errors: number;
  timeouts: number;
}
interface AutocannonRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
  setupRequest?: (req: AutocannonRequest) => AutocannonRequest;
  onResponse?: (status: number, body: string) => void;
}
type Autocannon = (opts: {
  url: string;
  connections: number;
  duration: number;
  requests: AutocannonRequest[];
}) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

const WARM_UP_SECONDS = 3;
const WARM_UP_CONNECTIONS = 10;
const URL_MARK = 'bench-collector-url:';
const RESULTS = new URL('./results/ingest.json', import.meta.url);

function event(now: number, i: number): PlayEvent {
  return {
    event_id: randomUUID(),
    event_type: EVENT_TYPES[i % EVENT_TYPES.length]!,
    event_time: now - (i % 5_000),
    received_at: now,
    session_id: `session-${i % 20_000}`,
    viewer_id: `viewer-${i % 10_000}`,
    video_id: `video-${i % 500}`,
    position_ms: (i * 1_000) % 3_600_000,
    watched_ms: 5_000 + (i % 5_000),
    device: DEVICES[i % DEVICES.length]!,
    os: 'Android 14',
    country: ['US', 'DE', 'BR', 'IN', 'JP'][i % 5]!,
    traffic_source: TRAFFIC_SOURCES[i % TRAFFIC_SOURCES.length]!,
    referrer_video_id: i % 4 === 0 ? `video-${(i + 1) % 500}` : null,
    seek_from_ms: null,
    startup_ms: i % 10 === 0 ? 700 : null,
    rebuffer_ms: null,
    error_code: null,
    sdk_version: 'bench/1.0.0',
  };
}

async function topicRecords(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  return offsets.reduce((n, o) => n + Number(o.high) - Number(o.low), 0);
}

/** 1. AvroProducer.send of `total` events in batches of `batch`, at most `inFlight` sends waiting. */
async function benchProducer(kafka: Kafka, registry: RegistryClient, topic: string, total: number) {
  const producer = new AvroProducer<PlayEvent>(kafka, registry, {
    topic,
    schema: playEventSchema(),
    key: (e) => e.viewer_id,
  });
  await producer.connect();
  const now = Date.now();
  const batch = 500;
  const inFlight = 40;
  const batches: PlayEvent[][] = [];
  for (let i = 0; i < total; i += batch) {
    batches.push(Array.from({ length: Math.min(batch, total - i) }, (_, j) => event(now, i + j)));
  }
  await producer.send(batches.pop()!); // warm up: schema id, metadata, connections
  const sent = total - batch;
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < batches.length) await producer.send(batches[next++]!);
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await producer.disconnect();
  return { events: sent, seconds, eventsPerS: sent / seconds, batch, inFlight };
}

/** The collector in a child process (so the load generator does not share its event loop). */
async function startCollectorProcess(prefix: string): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--serve-collector'], {
    env: {
      ...process.env,
      VIEWPULSE_TOPIC_PREFIX: prefix,
      VIEWPULSE_COLLECTOR_RATE_LIMIT: '1000000',
      VIEWPULSE_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`collector exited with ${code}`)));
    lines.on('line', (line) => {
      if (line.startsWith(URL_MARK)) resolve(line.slice(URL_MARK.length).trim());
    });
  });
  return { url, child };
}

/** 2. The collector under autocannon: `connections` connections, `perRequest` events per request. */
async function benchCollector(url: string, writeKey: string, connections: number, perRequest: number, seconds: number) {
  // One request body as a template; every request gets fresh event_ids (else they are duplicates).
  const sample = Array.from({ length: perRequest }, (_, i) => {
    const { received_at: _r, ...e } = event(Date.now(), i);
    return { ...e, referrer_video_id: e.referrer_video_id ?? undefined, startup_ms: e.startup_ms ?? undefined };
  });
  const parts = JSON.stringify({ sent_at: 0, events: sample }).split(/"[0-9a-f-]{36}"/);
  const body = (): string => {
    let s = parts[0]!.replace('"sent_at":0', `"sent_at":${Date.now()}`);
    for (let i = 1; i < parts.length; i++) s += `"${randomUUID()}"${parts[i]}`;
    return s;
  };
  let accepted = 0;
  let otherStatus = 0;
  const run = (duration: number, conns: number): Promise<AutocannonResult> =>
    autocannon({
      url,
      connections: conns,
      duration,
      requests: [
        {
          method: 'POST',
          path: '/v1/events',
          headers: { 'content-type': 'application/json', 'x-write-key': writeKey },
          setupRequest: (req) => ({ ...req, body: body() }),
          onResponse: (status, text) => {
            if (status === 200) accepted += (JSON.parse(text) as { accepted: number }).accepted;
            else otherStatus++;
          },
        },
      ],
    });
  await run(WARM_UP_SECONDS, WARM_UP_CONNECTIONS); // warm-up (JIT, connections, producer batching)
  const warmAccepted = accepted;
  accepted = 0;
  otherStatus = 0;
  const r = await run(seconds, connections);
  return {
    warmAccepted,
    accepted,
    otherStatus,
    duration: r.duration,
    requests2xx: r['2xx'],
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    latency: r.latency,
  };
}

async function serveCollector(): Promise<void> {
  const collector = await runCollector(loadConfig(), { port: 0 });
  console.log(`${URL_MARK} ${collector.url}`);
  const stop = (): void => void collector.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'serve-collector': { type: 'boolean', default: false },
      'producer-events': { type: 'string', default: '200000' },
      duration: { type: 'string', default: '15' },
      connections: { type: 'string', default: '50' },
      batch: { type: 'string', default: '100' },
    },
  });
  if (values['serve-collector']) return serveCollector();
  const producerEvents = Number(values['producer-events']);
  const duration = Number(values.duration);
  const connections = Number(values.connections);
  const perRequest = Number(values.batch);

  const config = loadConfig();
  const prefix = `bench-${randomUUID().slice(0, 8)}.`;
  const topic = topics(prefix).playEvents;
  const kafka = createKafka(config.kafka);
  const registry = new RegistryClient(config.registry.url);
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 6, replicationFactor: 1 }] });
  await admin.disconnect();

  let child: ChildProcess | undefined;
  try {
    console.error(`[bench:ingest] producer: ${producerEvents} events → ${topic}`);
    const p = await benchProducer(kafka, registry, topic, producerEvents);
    const afterProducer = await topicRecords(kafka, topic);
    console.error(`[bench:ingest] producer: ${Math.round(p.eventsPerS)} events/s`);

    const started = await startCollectorProcess(prefix);
    child = started.child;
    console.error(
      `[bench:ingest] collector at ${started.url}: ${connections} connections, ${perRequest} events/request, ${duration} s`,
    );
    const cr = await benchCollector(started.url, config.collector.writeKeys[0]!, connections, perRequest, duration);
    const inKafka = (await topicRecords(kafka, topic)) - afterProducer;
    const collectorEventsPerS = cr.accepted / cr.duration;
    const acknowledged = cr.accepted + cr.warmAccepted;

    const cpus = os.cpus();
    const result = {
      command: 'npm run bench:ingest',
      measured_at: new Date().toISOString(),
      machine: {
        cpus: cpus.length,
        cpu_model: cpus[0]?.model ?? 'unknown',
        memory_gib: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
        node_version: process.version,
        platform: `${os.platform()} ${os.release()}`,
      },
      setup: {
        kafka: `${config.kafka.brokers.join(',')}, topic with 6 partitions, acks=all, gzip, idempotent producer`,
        note: 'Kafka, Schema Registry, the collector process and the load generator all share this machine',
        producer: { events: p.events, batch: p.batch, sends_in_flight: p.inFlight },
        collector: { connections, events_per_request: perRequest, duration_s: duration, warm_up_s: WARM_UP_SECONDS },
      },
      figures: {
        producer_events_per_s: Math.round(p.eventsPerS),
        collector_events_per_s: Math.round(collectorEventsPerS),
        collector_requests_per_s: Math.round(cr.requests2xx / cr.duration),
        collector_p50_ms: cr.latency.p50,
        collector_p90_ms: cr.latency.p90,
        collector_p99_ms: cr.latency.p99,
        collector_max_ms: cr.latency.max,
        ratio_collector_to_producer: Math.round((collectorEventsPerS / p.eventsPerS) * 1000) / 1000,
        collector_events_accepted: cr.accepted,
        collector_non_2xx: cr.non2xx + cr.errors + cr.timeouts,
        // Every acknowledged event is in Kafka; a few more may be, from requests still in flight
        // when the load generator stopped (it drops their answers, the collector still wrote them).
        kafka_records_not_acknowledged: inKafka - acknowledged,
        kafka_holds_every_acknowledged_event: inKafka >= acknowledged,
      },
    };
    mkdirSync(new URL('.', RESULTS), { recursive: true });
    writeFileSync(RESULTS, `${JSON.stringify(result, null, 2)}\n`);
    console.log(JSON.stringify(result.figures, null, 2));
    console.error(`[bench:ingest] wrote ${fileURLToPath(RESULTS)}`);
    const cutOff = (connections + WARM_UP_CONNECTIONS) * perRequest;
    if (inKafka < acknowledged || inKafka - acknowledged > cutOff) {
      console.error(`[bench:ingest] Kafka holds ${inKafka} records, the collector acknowledged ${acknowledged}`);
      process.exitCode = 1;
    }
  } finally {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    const a = kafka.admin();
    await a.connect();
    await a.deleteTopics({ topics: [topic] });
    await a.disconnect();
  }
}

await main();
