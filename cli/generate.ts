// `viewpulse generate`: realistic play traffic, deterministic for a seed, sent to the
// collector (or straight to Kafka, or nowhere), plus the exact ground truth it implies.
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { loadConfig, type Config } from '../lib/config.js';
import { createKafka } from '../lib/kafka/client.js';
import { RegistryClient } from '../lib/kafka/registry.js';
import { topics } from '../schemas/topics.js';
import { CatalogPublisher } from '../generator/catalog-publish.js';
import { DEFAULT_FAULT_RATES } from '../generator/faults.js';
import { generateTraffic, TAIL_MS, type GenerateOptions, type Traffic, type TruthReport } from '../generator/index.js';
import { pump } from '../generator/run.js';
import { CollectorSink, KafkaSink, NullSink, type Sink, type SinkStats } from '../generator/sinks.js';
import { writeTruthFile } from '../generator/truth-file.js';
import { DEFAULT_CLIENT_MIX } from '../generator/viewers.js';

const TARGETS = ['collector', 'kafka', 'none'] as const;
type Target = (typeof TARGETS)[number];

interface GenerateCliOptions {
  events: string;
  rate: string;
  target: string;
  seed: string;
  start?: string;
  span?: string;
  viewers?: string;
  videos?: string;
  creators?: string;
  clusters?: string;
  zipf?: string;
  onTaste?: string;
  outOfOrder: string;
  late: string;
  duplicates: string;
  malformed: string;
  skewedClients: string;
  slightlySkewedClients: string;
  buggyClients: string;
  truth?: string;
  catalogOut?: string;
  catalog: boolean;
  collectorUrl?: string;
  concurrency: string;
  batch: string;
  progress: boolean;
  json?: boolean;
}

export class UsageError extends Error {}

export function parseInteger(name: string, raw: string, min: number, max: number): number {
  const s = raw.trim().replace(/_/g, '');
  if (!/^-?\d+$/.test(s)) throw new UsageError(`${name}: expected an integer, got "${raw}"`);
  const n = Number(s);
  if (n < min || n > max) throw new UsageError(`${name}: expected ${min}..${max}, got ${n}`);
  return n;
}

export function parseNumber(name: string, raw: string, min: number, max: number): number {
  const s = raw.trim();
  const n = Number(s);
  if (s === '' || !Number.isFinite(n)) throw new UsageError(`${name}: expected a number, got "${raw}"`);
  if (n < min || n > max) throw new UsageError(`${name}: expected ${min}..${max}, got ${n}`);
  return n;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "90m", "6h", "2d", "45s", "500ms" or plain milliseconds. */
export function parseDuration(name: string, raw: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(raw.trim());
  if (!m) throw new UsageError(`${name}: expected a duration such as 90m, 6h or 2d, got "${raw}"`);
  return Math.round(Number(m[1]) * UNITS[m[2] ?? 'ms']!);
}

/** ISO 8601 or epoch milliseconds. */
export function parseTime(name: string, raw: string): number {
  const s = raw.trim();
  if (/^\d+$/.test(s)) return Number(s);
  const t = Date.parse(s);
  if (Number.isNaN(t)) throw new UsageError(`${name}: expected an ISO 8601 time or epoch ms, got "${raw}"`);
  return t;
}

export function generateOptionsFrom(opts: GenerateCliOptions): GenerateOptions {
  const optInt = (name: string, v: string | undefined, min: number, max: number): number | undefined =>
    v === undefined ? undefined : parseInteger(name, v, min, max);
  const rate = (name: string, v: string): number => parseNumber(name, v, 0, 1);
  return {
    events: parseInteger('--events', opts.events, 1, 1_000_000_000),
    seed: parseInteger('--seed', opts.seed, 0, 0xffffffff),
    start: opts.start === undefined ? undefined : parseTime('--start', opts.start),
    spanMs: opts.span === undefined ? undefined : parseDuration('--span', opts.span),
    viewers: optInt('--viewers', opts.viewers, 1, 100_000_000),
    videos: optInt('--videos', opts.videos, 1, 1_000_000),
    creators: optInt('--creators', opts.creators, 1, 100_000),
    clusters: optInt('--clusters', opts.clusters, 1, 1000),
    zipf: opts.zipf === undefined ? undefined : parseNumber('--zipf', opts.zipf, 0, 5),
    onTaste: opts.onTaste === undefined ? undefined : rate('--on-taste', opts.onTaste),
    faults: {
      outOfOrder: rate('--out-of-order', opts.outOfOrder),
      late: rate('--late', opts.late),
      duplicate: rate('--duplicates', opts.duplicates),
      malformed: rate('--malformed', opts.malformed),
    },
    clients: {
      skewedClients: rate('--skewed-clients', opts.skewedClients),
      slightlySkewedClients: rate('--slightly-skewed-clients', opts.slightlySkewedClients),
      buggyClients: rate('--buggy-clients', opts.buggyClients),
    },
  };
}

function horizonMs(): number {
  const raw = process.env.VIEWPULSE_EVENT_HORIZON_HOURS?.trim();
  const hours = raw && /^\d+$/.test(raw) ? Number(raw) : 168;
  return hours * 3_600_000;
}

/** Real targets check the time range up front: the collector clamps future events and rejects old ones. */
function checkTimeRange(traffic: Traffic, now: number): void {
  const { start, spanMs } = traffic.options;
  if (start + spanMs + TAIL_MS > now) {
    const latest = new Date(now - spanMs - TAIL_MS).toISOString();
    throw new UsageError(
      `--start: events could reach past now (visits start until ${new Date(start + spanMs).toISOString()}, ` +
        `and run up to ${TAIL_MS / 3_600_000} h longer); the collector would clamp them and the truth would not hold. ` +
        `Use --start ${latest} or earlier, or a shorter --span`,
    );
  }
  const horizon = horizonMs();
  if (start < now - horizon + 3_600_000) {
    throw new UsageError(
      `--start: ${new Date(start).toISOString()} is too close to the collector's horizon ` +
        `(${horizon / 3_600_000} h, VIEWPULSE_EVENT_HORIZON_HOURS); old events would be rejected`,
    );
  }
}

async function writeCatalogJsonl(path: string, traffic: Traffic): Promise<void> {
  const out = createWriteStream(path, { encoding: 'utf8' });
  for (const v of traffic.catalog.videos) {
    if (!out.write(`${JSON.stringify(v.video)}\n`)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

/** Publishes the traffic's catalog to the videos topic; returns the topic. */
export async function publishCatalog(config: Config, traffic: Traffic): Promise<string> {
  const topic = topics(config.kafka.topicPrefix).videos;
  const publisher = new CatalogPublisher(createKafka(config.kafka), new RegistryClient(config.registry.url), topic);
  await publisher.connect();
  try {
    await publisher.put(traffic.catalog.videos.map((v) => v.video));
  } finally {
    await publisher.disconnect();
  }
  return topic;
}

const fmt = (n: number): string => n.toLocaleString('en-US');

/** Reasons the truth does not describe what the target now holds, if any. */
export function truthProblems(target: Target, s: SinkStats): string[] {
  const problems: string[] = [];
  if (s.failed) problems.push(`${fmt(s.failed)} records could not be delivered`);
  if (s.rejectedValid)
    problems.push(`${fmt(s.rejectedValid)} valid events were rejected (${JSON.stringify(s.reasons)})`);
  if (target === 'collector' && s.malformedAccepted) {
    problems.push(`${fmt(s.malformedAccepted)} malformed records were accepted by the collector`);
  }
  if (s.aheadOfClock)
    problems.push(`${fmt(s.aheadOfClock)} events were ahead of the wall clock (clamped by the collector)`);
  return problems;
}

function summary(
  target: Target,
  where: string,
  truth: TruthReport,
  s: SinkStats,
  elapsedMs: number,
  truthFile: string | undefined,
): string {
  const c = truth.counts;
  const t = truth.totals;
  const iso = (ms: number): string => (Number.isFinite(ms) ? new Date(ms).toISOString() : '-');
  const lines = [
    `generated ${fmt(c.deliveries)} records in ${(elapsedMs / 1000).toFixed(1)} s ` +
      `(${fmt(Math.round(c.deliveries / Math.max(0.001, elapsedMs / 1000)))}/s) → ${where}`,
    `  events ${fmt(c.events)} · duplicates ${fmt(c.duplicates)} · malformed ${fmt(c.malformed)} · late ${fmt(c.late)} · ` +
      `out of order ${fmt(c.out_of_order)} · from skewed clients ${fmt(c.skewed_client_events)}`,
    `  sessions ${fmt(c.sessions)} · visits ${fmt(c.visits)} · viewers ${fmt(c.viewers)} · ` +
      `videos ${fmt(truth.catalog.videos)} · creators ${fmt(truth.catalog.creators)} · clusters ${truth.clusters.names.length}`,
    `  truth: plays ${fmt(t.plays)} · views ${fmt(t.views)} (${fmt(t.views_capped)} capped by the 30-min rule) · ` +
      `watch time ${(t.watch_ms / 3_600_000).toFixed(1)} h`,
    `  event time ${iso(truth.time.first_event)} → ${iso(truth.time.last_event)} (seed ${truth.options.seed}, ` +
      `start ${iso(truth.options.start)})`,
  ];
  if (target === 'collector') {
    lines.push(
      `  collector: accepted ${fmt(s.accepted)} · duplicates ${fmt(s.duplicates)} · malformed rejected ` +
        `${fmt(s.rejectedMalformed)} · valid rejected ${fmt(s.rejectedValid)} · failed ${fmt(s.failed)} · ` +
        `requests ${fmt(s.requests)} (${fmt(s.retries)} retries)`,
    );
  } else if (target === 'kafka') {
    lines.push(`  kafka: acknowledged ${fmt(s.accepted)} events + ${fmt(c.malformed)} undecodable records`);
  }
  if (truthFile) lines.push(`  truth written to ${truthFile}`);
  return lines.join('\n');
}

export function registerGenerate(program: Command): void {
  const d = DEFAULT_FAULT_RATES;
  const m = DEFAULT_CLIENT_MIX;
  program
    .command('generate')
    .description('generate realistic play traffic (deterministic for a seed) with the exact ground truth it implies')
    .option('-n, --events <count>', 'records to send in total: events, duplicate copies and malformed records', '10000')
    .option('-r, --rate <per-second>', 'records per second; 0 = as fast as the target takes them', '0')
    .option(
      '-t, --target <target>',
      `where to send: ${TARGETS.join(' | ')} (none: compute the truth only)`,
      'collector',
    )
    .option('-s, --seed <n>', 'random seed (0..4294967295): same seed and start, same traffic and truth', '1')
    .option(
      '--start <time>',
      'simulated start (ISO 8601 or epoch ms); default: early enough that all events end before now',
    )
    .option(
      '--span <duration>',
      'simulated period over which visits start, e.g. 90m, 6h, 2d; default: 10 ms per record, 1h..3d',
    )
    .option('--viewers <n>', 'viewer pool size (default: records / 100, at least 100)')
    .option('--videos <n>', 'videos in the catalog (default 400)')
    .option('--creators <n>', 'creators in the catalog (default 40)')
    .option('--clusters <n>', 'hidden taste clusters (default 8)')
    .option('--zipf <s>', 'Zipf exponent of video popularity (default 1)')
    .option('--on-taste <share>', "share of visits on the viewer's own taste cluster (default 0.88)")
    .option('--out-of-order <rate>', 'per event: delivered after the next event of its session', String(d.outOfOrder))
    .option('--late <rate>', 'per event: delivered 2..15 minutes late', String(d.late))
    .option('--duplicates <rate>', 'per event: sent again (same event_id)', String(d.duplicate))
    .option('--malformed <rate>', 'per event: an extra invalid record', String(d.malformed))
    .option('--skewed-clients <share>', 'clients whose clock is off by 1..30 whole minutes', String(m.skewedClients))
    .option(
      '--slightly-skewed-clients <share>',
      'clients off by under a second (not corrected)',
      String(m.slightlySkewedClients),
    )
    .option('--buggy-clients <share>', 'clients that over-report watched_ms', String(m.buggyClients))
    .option('--truth <file>', 'write the ground truth (JSON) to this file')
    .option('--catalog-out <file>', 'write the generated catalog as JSON lines (for `catalog import`)')
    .option('--no-catalog', 'do not publish the generated catalog to the videos topic')
    .option('--collector-url <url>', 'events endpoint (default http://127.0.0.1:$VIEWPULSE_COLLECTOR_PORT/v1/events)')
    .option('--concurrency <n>', 'collector requests / Kafka producer calls in flight', '4')
    .option('--batch <n>', 'events per collector request (1..500)', '100')
    .option('--no-progress', 'no progress bar')
    .option('--json', 'print the summary as JSON')
    .addHelpText(
      'after',
      `
What it simulates: a catalog (creators, videos with log-normal durations, Zipf popularity,
hidden taste clusters) published to the videos topic; viewers who mostly watch their own
cluster, in visits of several sessions chained by "suggested" (referrer = previous video);
sessions with start, heartbeats every 10 s of playback, pause/resume, seeks both ways,
stalls, complete or abandon along a retention curve; device, OS, country, traffic-source and
QoE mixes; clock-skewed and buggy clients; and out-of-order, late, duplicate and malformed
deliveries at the rates above (0 allowed).

--truth writes what the accepted traffic must produce under docs/semantics.md: plays, views
and watch time per video per minute, unique viewers per video (and creator) per day,
retention per video, the clusters, and the generated/duplicate/malformed/late counts.
Exit status 1 when the target did not take the traffic as sent (the truth would not hold).

Examples:
  npx viewpulse generate --events 100000 --seed 7 --truth truth.json
  npx viewpulse generate --target kafka --events 1000000 --rate 20000
  npx viewpulse generate --target none --events 1000000 --truth truth.json   # dry run`,
    )
    .action(async (opts: GenerateCliOptions) => {
      try {
        await runGenerateCommand(opts);
      } catch (err) {
        if (err instanceof UsageError || err instanceof RangeError) {
          console.error(`viewpulse generate: ${err.message}`);
          process.exitCode = 2;
        } else {
          console.error(`viewpulse generate: ${err instanceof Error ? err.message : String(err)}`);
          process.exitCode = 1;
        }
      }
    });
}

async function runGenerateCommand(opts: GenerateCliOptions): Promise<void> {
  if (!(TARGETS as readonly string[]).includes(opts.target)) {
    throw new UsageError(`--target: expected one of ${TARGETS.join(', ')}, got "${opts.target}"`);
  }
  const target = opts.target as Target;
  const rate = parseNumber('--rate', opts.rate, 0, 10_000_000);
  const concurrency = parseInteger('--concurrency', opts.concurrency, 1, 256);
  const batch = parseInteger('--batch', opts.batch, 1, 500);
  // The truth follows the rules the processors are configured with (VIEWPULSE_RULE_*).
  const traffic = generateTraffic({ ...generateOptionsFrom(opts), rules: loadConfig().rules });
  if (target !== 'none') checkTimeRange(traffic, Date.now());
  if (opts.catalogOut) await writeCatalogJsonl(opts.catalogOut, traffic);

  let sink: Sink;
  let where = 'nowhere (dry run)';
  if (target === 'none') sink = new NullSink();
  else {
    const config = loadConfig();
    if (opts.catalog) {
      const topic = await publishCatalog(config, traffic);
      console.error(`published ${traffic.catalog.videos.length} videos to ${topic}`);
    }
    if (target === 'collector') {
      const url = opts.collectorUrl ?? `http://127.0.0.1:${config.collector.port}/v1/events`;
      sink = new CollectorSink({ url, writeKey: config.collector.writeKeys[0]!, concurrency, maxBatch: batch });
      where = `collector ${url}`;
    } else {
      const topic = topics(config.kafka.topicPrefix).playEvents;
      const kafkaSink = new KafkaSink(createKafka(config.kafka), new RegistryClient(config.registry.url), topic, {
        maxInFlight: concurrency,
      });
      await kafkaSink.connect();
      sink = kafkaSink;
      where = `kafka topic ${topic}`;
    }
  }

  const total = traffic.options.events;
  const bar =
    opts.progress && process.stderr.isTTY
      ? new cliProgress.SingleBar(
          {
            stream: process.stderr,
            format: 'generate [{bar}] {percentage}% | {value}/{total} records | {speed}/s | ETA {eta_formatted}',
            hideCursor: true,
            etaBuffer: 50,
          },
          cliProgress.Presets.shades_classic,
        )
      : undefined;
  bar?.start(total, 0, { speed: 0 });
  const abort = new AbortController();
  const onSigint = (): void => abort.abort();
  process.once('SIGINT', onSigint);
  let result;
  try {
    result = await pump(traffic, sink, {
      rate,
      signal: abort.signal,
      onProgress: (n, ms) => bar?.update(n, { speed: Math.round(n / Math.max(0.001, ms / 1000)) }),
    });
  } finally {
    bar?.stop();
    process.removeListener('SIGINT', onSigint);
  }
  if (!result.complete) {
    console.error(`viewpulse generate: interrupted after ${fmt(result.delivered)} records; no truth written`);
    process.exitCode = 130;
    return;
  }
  const truth = traffic.truth();
  if (opts.truth) await writeTruthFile(opts.truth, truth, traffic.viewerClusters());
  const stats = sink.stats();
  const problems = truthProblems(target, stats);
  if (opts.json) {
    console.log(
      JSON.stringify(
        {
          target,
          where,
          elapsed_ms: result.elapsedMs,
          counts: truth.counts,
          totals: truth.totals,
          sink: stats,
          problems,
        },
        null,
        2,
      ),
    );
  } else {
    console.log(summary(target, where, truth, stats, result.elapsedMs, opts.truth));
  }
  if (stats.slowRoundTrips) {
    console.error(
      `viewpulse generate: warning: ${fmt(stats.slowRoundTrips)} events went in requests whose round trip ` +
        'was long enough to possibly shift the collector’s clock-skew correction by a second',
    );
  }
  if (problems.length) {
    console.error(`viewpulse generate: the truth does not hold: ${problems.join('; ')}`);
    process.exitCode = 1;
  }
}
