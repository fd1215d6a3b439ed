// tsx bench/live-rows.ts [--rate 4000] [--seconds 30] [--processors engagement,view-counts]
//
// Rows written per record at a live rate: each processor alone, fed live generator traffic at
// a fixed rate into a fresh 12-partition topic, then its drain metrics (rows handed to the
// writer, drains, kafkajs batches) read from its /metrics. At live rates kafkajs hands over
// many small batches per second; a processor drained after each of them rewrote an open
// window's row once per batch, drained at each flush once per flush interval. To compare two
// checkouts, run it in each, alternating (bench/results/live-rows.json).
import { parseArgs } from 'node:util';
import { generateTraffic } from '../generator/index.js';
import { catalogRows, seedCatalog } from '../harness/dataset.js';
import { pipeline } from '../harness/pipeline.js';
import { spawnProcessors, stopChild } from './children.js';
import { liveLoad } from './live-load.js';
import { writeResults } from './results-file.js';

const { values: args } = parseArgs({
  options: {
    rate: { type: 'string', default: '4000' },
    seconds: { type: 'string', default: '30' },
    processors: { type: 'string', default: 'view-counts,engagement' },
  },
});
const rate = Number(args.rate);
const seconds = Number(args.seconds);
const log = (line: string): void => console.error(`[bench:live-rows] ${line}`);

async function measure(name: string, port: number): Promise<Record<string, number>> {
  const p = await pipeline('blive', 12);
  try {
    const now = Date.now();
    // the live traffic's catalog (catalogSeed 3) is known before the first record
    await seedCatalog(p.clickhouse, p.database, catalogRows(generateTraffic({ events: 1_000, seed: 3, now })));
    const child = spawnProcessors([name], p, ['--metrics-port', String(port)]);
    await new Promise((r) => setTimeout(r, 8_000)); // joined the group
    let stop = false;
    const timer = setTimeout(() => (stop = true), seconds * 1000);
    const offered = await liveLoad(p, rate, () => stop);
    clearTimeout(timer);
    await new Promise((r) => setTimeout(r, 5_000)); // the last flush
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const sum = (metric: string): number =>
      text
        .split('\n')
        .filter((l) => l.startsWith(metric))
        .reduce((s, l) => s + Number(l.split(' ').at(-1)), 0);
    await stopChild(child);
    const records = sum('viewpulse_processor_records_total');
    const rows = sum('viewpulse_processor_drain_rows_sum');
    return {
      offered_events_per_s: Math.round(offered),
      records,
      rows,
      rows_per_record: Math.round((rows / Math.max(1, records)) * 1000) / 1000,
      drains: sum('viewpulse_processor_drain_rows_count'),
      batches: sum('viewpulse_processor_batch_size_count'),
    };
  } finally {
    await p.cleanup();
  }
}

const figures: Record<string, unknown> = {};
let port = 39_577;
for (const name of args.processors.split(',')) {
  figures[name] = await measure(name, port++);
  log(`${name}: ${JSON.stringify(figures[name])}`);
}
const file = writeResults(
  'live-rows',
  `npx tsx bench/live-rows.ts --rate ${rate} --seconds ${seconds} --processors ${args.processors}`,
  {
    load: `live generator traffic (seed 77) at ${rate} events/s for ${seconds} s into 12 partitions, one processor at a time, as its own process`,
    figures:
      'from the processor’s /metrics: records processed, rows drained (handed to the writer), drains, kafkajs batches',
  },
  figures,
);
log(`wrote ${file}`);
