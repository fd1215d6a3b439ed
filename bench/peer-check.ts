// Checks the Kafka Streams peer (bench/peer.ts) on its own: generates traffic with the default
// faults (duplicate deliveries, undecodable records, late and out-of-order events) into a fresh
// play-events topic, runs the peer over it, and compares its plays per (video, minute) with the
// generator's ground truth — and, with --processor, with what our view-counts processor wrote
// to ClickHouse from the same topic. Prints the peer's records/s and whether the counts agree;
// exit code 1 when they do not.
//
//   npx tsx bench/peer-check.ts [--events 200000] [--partitions 12] [--threads 2] [--processor]
import { parseArgs } from 'node:util';
import { generateTraffic } from '../generator/index.js';
import { catalogRows, pumpIntoKafka, seedCatalog } from '../harness/dataset.js';
import { pipeline, readMinuteCounts, runToEnd } from '../harness/pipeline.js';
import { comparePlays, playKey, runKafkaStreamsPeer } from './peer.js';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '200000' },
    partitions: { type: 'string', default: '12' },
    threads: { type: 'string', default: '2' },
    seed: { type: 'string', default: '3' },
    processor: { type: 'boolean', default: false },
  },
});
const EVENTS = Number(args.events);
const PARTITIONS = Number(args.partitions);

const log = (line: string): void => console.error(`[peer-check] ${line}`);

async function main(): Promise<boolean> {
  const p = await pipeline('peercheck', PARTITIONS);
  try {
    log(`generating ${EVENTS} records into ${p.topics.playEvents} (${PARTITIONS} partitions)`);
    const traffic = generateTraffic({ events: EVENTS, seed: Number(args.seed), now: Date.now() });
    const { sink } = await pumpIntoKafka(p, traffic, { chunk: 2000 });
    const total = sink.stats().written;
    const truth = traffic.truth();
    const truthPlays = new Map<string, number>();
    for (const r of truth.minutes) if (r.plays) truthPlays.set(playKey(r.video_id, r.minute), r.plays);

    const peer = await runKafkaStreamsPeer({
      brokers: p.config.kafka.brokers.join(','),
      topic: p.topics.playEvents,
      expectedRecords: total,
      partitions: PARTITIONS,
      threads: Number(args.threads),
      log,
    });
    const vsTruth = comparePlays(truthPlays, peer.plays);
    const report: Record<string, unknown> = {
      records: total,
      partitions: PARTITIONS,
      peer_records_per_s: peer.records_per_s,
      peer_seconds: peer.seconds,
      peer_input_seconds: peer.details.input_seconds,
      peer_wall_seconds: peer.wall_seconds,
      peer_threads: peer.details.threads,
      kafka_streams_version: peer.details.kafka_streams_version,
      peer_skipped: peer.skipped,
      generated_malformed: truth.counts.malformed,
      peer_play_start_duplicates: peer.details.duplicates,
      generated_duplicates_all_types: truth.counts.duplicates,
      peer_plays: peer.details.plays,
      truth_plays: truth.totals.plays,
      vs_truth: vsTruth,
    };
    let equal = vsTruth.equal && peer.skipped === truth.counts.malformed;

    if (args.processor) {
      await seedCatalog(p.clickhouse, p.database, catalogRows(traffic));
      log('running our view-counts processor over the same topic');
      const t0 = Date.now();
      // its logs would go to stdout, where the report goes
      await runToEnd({ ...p, testConfig: { ...p.testConfig, logLevel: 'error' } }, ['view-counts'], 900_000);
      const ours = new Map<string, number>();
      for (const [video, minutes] of await readMinuteCounts(p.clickhouse, p.database)) {
        for (const [minute, cell] of minutes) if (cell.plays) ours.set(playKey(video, minute), cell.plays);
      }
      const vsOurs = comparePlays(ours, peer.plays);
      report.view_counts_seconds = (Date.now() - t0) / 1000;
      report.vs_view_counts = vsOurs;
      equal &&= vsOurs.equal;
    }

    console.log(JSON.stringify(report, null, 2));
    log(
      `Kafka Streams peer: ${peer.records_per_s} records/s (${peer.seconds} s first record → counts complete, ` +
        `${peer.wall_seconds} s wall with JVM start); skipped ${peer.skipped} of ${truth.counts.malformed} malformed`,
    );
    log(
      `plays per (video, minute) vs generator truth: ${vsTruth.equal ? 'equal' : 'DIFFERENT'} (${vsTruth.keys} keys)`,
    );
    if (report.vs_view_counts) {
      const c = report.vs_view_counts as ReturnType<typeof comparePlays>;
      log(`vs our view-counts in ClickHouse: ${c.equal ? 'equal' : 'DIFFERENT'} (${c.keys} keys)`);
    }
    return equal;
  } finally {
    await p.cleanup();
  }
}

process.exitCode = (await main()) ? 0 : 1;
