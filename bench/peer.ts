// The processors benchmark's peer in the same run: a small Kafka Streams application
// (bench/peer-kafka-streams/, PeerApp.java) counting plays per video per minute from the same
// play-events topic, so bench:processors can set its records/s beside ours and compare its
// counts with view-counts' (a differential check).
//
// The first call builds it with Maven (kafka-streams pinned to the broker's version, read from
// infra/kafka/pom.xml) into .viewpulse/cache/peer-kafka-streams/<hash of the sources>/; later
// calls reuse that (offline: `mvn -o` is tried first whenever a build is needed). Each run has a
// fresh application.id (so it reads the topic from the beginning), a state directory under
// .viewpulse/tmp/ that it deletes, and deletes its internal topics and consumer group at the end.
//
// Deduplication by event_id is real (a KeyValueStore per input partition; duplicates share the
// viewer_id key, hence the partition), so the topic may hold duplicate deliveries.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot, stateDir, stateHome } from '../infra/paths.js';
import { run, which } from '../infra/process.js';

export interface KafkaStreamsPeerOptions {
  brokers: string;
  topic: string;
  /** Records on the topic (events, duplicates and undecodable ones alike): the peer stops after that many. */
  expectedRecords: number;
  /** The topic's partitions: caps the stream threads (informational otherwise). */
  partitions?: number;
  /**
   * num.stream.threads, capped by `partitions` (default 2: on this 2-core machine, shared with
   * the broker, 2 threads gave a median 24k records/s over 3 runs of 200k records, 1 thread 19k).
   */
  threads?: number;
  /** Stop after this long without progress (default 60 s); the result is then `incomplete`. */
  idleTimeoutMs?: number;
  log?: (s: string) => void;
}

export interface KafkaStreamsPeerResult {
  /** Input records per second, from the first record processed until every play is counted. */
  records_per_s: number;
  /** First input record processed → every play counted and emitted. */
  seconds: number;
  /** From spawning the JVM to its exit: startup, rebalance, internal topics and cleanup included. */
  wall_seconds: number;
  /** Plays per `${video_id}\u0000${minute_start_ms}` (zero counts left out). */
  plays: Map<string, number>;
  /** Records that are not one Confluent-framed PlayEvent (wrong magic, undecodable, trailing bytes). */
  skipped: number;
  /** The rest of what the peer printed: records, duplicates, input_seconds, jvm_seconds, versions. */
  details: PeerSummary;
}

/** The JSON line PeerApp prints (its counts go to a file). */
export interface PeerSummary {
  records: number;
  expected: number;
  skipped: number;
  duplicates: number;
  plays: number;
  keys: number;
  dropped: number;
  seconds: number;
  input_seconds: number;
  jvm_seconds: number;
  records_per_s: number;
  threads: number;
  partitions: number;
  kafka_streams_version: string;
  dedup: string;
  incomplete: boolean;
  plays_file: string;
}

const PROJECT = join(projectRoot, 'bench', 'peer-kafka-streams');
const SCHEMA = join(projectRoot, 'schemas', 'avro', 'PlayEvent.avsc');
const MAIN = 'dev.viewpulse.peer.PeerApp';

/** The broker's Kafka version: the one pin, in infra/kafka/pom.xml. */
export function kafkaVersion(): string {
  const pom = readFileSync(join(projectRoot, 'infra', 'kafka', 'pom.xml'), 'utf8');
  const v = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(pom)?.[1];
  if (!v) throw new Error('infra/kafka/pom.xml has no <kafka.version>');
  return v;
}

function filesUnder(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const p = join(dir, e.name);
    if (e.isDirectory()) filesUnder(p, out);
    else out.push(p);
  }
  return out;
}

/** Hash of everything the build depends on: Kafka version, pom, sources. */
function buildKey(version: string): string {
  const h = createHash('sha256').update(`kafka ${version}\n`);
  for (const f of [join(PROJECT, 'pom.xml'), ...filesUnder(join(PROJECT, 'src'))]) {
    h.update(`${f.slice(PROJECT.length)}\n`).update(readFileSync(f));
  }
  return h.digest('hex').slice(0, 16);
}

/** Builds the peer once per content and returns its classpath. */
export async function ensurePeerBuilt(log: (s: string) => void = () => undefined): Promise<string> {
  const version = kafkaVersion();
  const key = buildKey(version);
  const root = stateDir('cache', 'peer-kafka-streams');
  const dir = join(root, key);
  const classpath = `${join(dir, 'peer.jar')}:${join(dir, 'libs')}/*`;
  if (existsSync(join(dir, '.installed'))) return classpath;
  if (!(await which('mvn'))) throw new Error('mvn not found: install Maven (apt-get install -y maven)');
  log(`building the Kafka Streams peer (kafka-streams ${version}) into ${dir}`);
  // Built in a scratch folder and renamed, so an interrupted build never looks complete.
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  const args = [
    '-q',
    '-B',
    '-Dstyle.color=never',
    '-f',
    join(PROJECT, 'pom.xml'),
    `-Dkafka.version=${version}`,
    `-Dpeer.buildDir=${join(tmp, 'build')}`,
    'package',
    'dependency:copy-dependencies',
    '-DincludeScope=runtime',
    `-DoutputDirectory=${join(tmp, 'libs')}`,
  ];
  try {
    await run('mvn', ['-o', ...args]); // everything already in the local Maven repository
  } catch {
    log('offline build incomplete: resolving from Maven Central (first run only)');
    await run('mvn', args);
  }
  renameSync(join(tmp, 'build', 'peer.jar'), join(tmp, 'peer.jar'));
  rmSync(join(tmp, 'build'), { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  writeFileSync(join(dir, '.installed'), `${key}\n`);
  // Older builds (other sources or Kafka version) are of no use any more.
  for (const old of readdirSync(root)) if (old !== key) rmSync(join(root, old), { recursive: true, force: true });
  return classpath;
}

/** `${video_id}\u0000${minute_start_ms}`: the key of the plays maps. */
export const playKey = (videoId: string, minuteMs: number): string => `${videoId}\u0000${minuteMs}`;

/** Runs the Kafka Streams peer over the topic to its end and returns its figures and counts. */
export async function runKafkaStreamsPeer(opts: KafkaStreamsPeerOptions): Promise<KafkaStreamsPeerResult> {
  const log = opts.log ?? (() => undefined);
  const classpath = await ensurePeerBuilt(log);
  const tmpRoot = join(stateHome(), 'tmp', 'peer-kafka-streams');
  mkdirSync(tmpRoot, { recursive: true });
  const outFile = join(tmpRoot, `plays-${process.pid}-${Date.now()}.json`);
  const threads = Math.max(1, Math.min(opts.threads ?? 2, opts.partitions ?? Infinity));
  const args = [
    '-Xms256m',
    '-Xmx1g',
    '-XX:+UseG1GC',
    '-Djava.awt.headless=true',
    '-cp',
    classpath,
    MAIN,
    '--brokers',
    opts.brokers,
    '--topic',
    opts.topic,
    '--expected',
    String(opts.expectedRecords),
    '--schema',
    SCHEMA,
    '--state-root',
    tmpRoot,
    '--threads',
    String(threads),
    '--out',
    outFile,
    ...(opts.idleTimeoutMs !== undefined ? ['--idle-timeout-ms', String(opts.idleTimeoutMs)] : []),
  ];
  log(`Kafka Streams peer: ${opts.expectedRecords} records of ${opts.topic}, ${threads} stream thread(s)`);
  const started = Date.now();
  const child = spawn('java', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderrTail = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    stderrTail = (stderrTail + s).slice(-8000);
    for (const line of s.split('\n')) if (line.trim()) log(`peer: ${line}`);
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c) => resolve(c));
  });
  const wallSeconds = (Date.now() - started) / 1000;
  try {
    const line = stdout
      .split('\n')
      .reverse()
      .find((l) => l.startsWith('{'));
    if (code !== 0 || !line) {
      throw new Error(`Kafka Streams peer exited with ${code}: ${stderrTail.trim().slice(-2000) || '(no output)'}`);
    }
    const summary = JSON.parse(line) as PeerSummary;
    if (summary.incomplete) {
      throw new Error(
        `Kafka Streams peer stopped without progress: ${summary.records} of ${summary.expected} records, ` +
          `${summary.dropped} dropped by its windows`,
      );
    }
    const rows = JSON.parse(readFileSync(summary.plays_file, 'utf8')) as Array<[string, number, number]>;
    const plays = new Map<string, number>();
    for (const [video, minute, count] of rows) plays.set(playKey(video, minute), count);
    return {
      records_per_s: summary.records_per_s,
      seconds: summary.seconds,
      wall_seconds: Math.round(wallSeconds * 1000) / 1000,
      plays,
      skipped: summary.skipped,
      details: summary,
    };
  } finally {
    rmSync(outFile, { force: true });
  }
}

/**
 * The differential check: the same keys with the same counts (a key absent on one side counts
 * as 0 there, so explicit zeros never differ). `examples`: up to 10 differing keys, readable.
 */
export function comparePlays(
  ours: Map<string, number>,
  peer: Map<string, number>,
): { equal: boolean; keys: number; differing: number; examples: string[] } {
  const keys = new Set<string>();
  for (const [k, n] of ours) if (n !== 0) keys.add(k);
  for (const [k, n] of peer) if (n !== 0) keys.add(k);
  let differing = 0;
  const examples: string[] = [];
  for (const k of [...keys].sort()) {
    const a = ours.get(k) ?? 0;
    const b = peer.get(k) ?? 0;
    if (a === b) continue;
    differing++;
    if (examples.length < 10) {
      const [video, minute] = k.split('\u0000');
      examples.push(`${video} ${new Date(Number(minute)).toISOString()}: ours ${a}, peer ${b}`);
    }
  }
  return { equal: differing === 0, keys: keys.size, differing, examples };
}
