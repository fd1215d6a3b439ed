// Live traffic at a fixed rate, for the benches that measure processors under a steady load:
// another seed's viewers and sessions over the generator's catalog (seed 3, so its videos are
// known once that catalog is seeded), stamped with the wall clock as they are sent.
import { generateTraffic } from '../generator/index.js';
import { KafkaSink } from '../generator/sinks.js';
import type { Pipeline } from '../harness/pipeline.js';

/** Sends `rate` events per second into the pipeline's play-events until `stop()`; resolves with the rate achieved. */
export async function liveLoad(p: Pipeline, rate: number, stop: () => boolean): Promise<number> {
  const live = generateTraffic({
    events: 50_000_000,
    seed: 77,
    catalogSeed: 3,
    now: Date.now(),
    faults: { malformed: 0 },
  });
  const sink = new KafkaSink(p.kafka, p.registry, p.topics.playEvents, { chunk: 200 });
  await sink.connect();
  const t0 = Date.now();
  let sent = 0;
  for (const d of live.deliveriesSync()) {
    if (stop()) break;
    if (d.kind !== 'event') continue;
    const now = Date.now();
    await sink.write({ ...d, acceptedEventTime: now, deliverAt: now });
    sent++;
    const ahead = sent / rate - (Date.now() - t0) / 1000;
    if (ahead > 0.01) await new Promise((r) => setTimeout(r, ahead * 1000));
  }
  const seconds = (Date.now() - t0) / 1000;
  await sink.close();
  return sent / seconds;
}
