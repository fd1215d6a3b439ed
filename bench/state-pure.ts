// tsx bench/state-pure.ts [--viewers 100000] [--processors a,b] — the pure logic of each
// play-events processor over many distinct viewers (bench/synthetic.ts: two sessions each,
// arriving evenly over 24 h of event time), in process on one partition, no I/O: events/s
// and the size of its full state. What the state bench of `bench:processors` measures end to
// end, without Kafka and ClickHouse in the way. To compare two checkouts, run it in each,
// alternating (bench/results/state-pure.json).
import { parseArgs } from 'node:util';
import { PROCESSORS } from '../runtime/registry.js';
import { syntheticStream, SYN_VIDEOS, synVideo } from './synthetic.js';
import type { PlayEvent } from '../schemas/types.js';

const { values: args } = parseArgs({
  options: {
    viewers: { type: 'string', default: '100000' },
    processors: { type: 'string', default: 'view-counts,engagement,recommendations' },
  },
});
const viewers = Number(args.viewers);
const catalog = new Map(
  Array.from({ length: SYN_VIDEOS }, (_, i) => [
    synVideo(i),
    { creatorId: `syn-c${i % 100}`, durationMs: 600_000, title: '', publishedAt: 0 },
  ]),
);
const lookup = { get: (id: string) => catalog.get(id) };
const span = 86_400_000;
// a fixed day, so that runs (and two checkouts side by side) see the same windows
const start = Date.UTC(2026, 10, 1);
const events: PlayEvent[] = [...syntheticStream(viewers, start, span)];

for (const name of args.processors.split(',') as ('view-counts' | 'engagement' | 'raw-events' | 'recommendations')[]) {
  const p = PROCESSORS[name].definition().create(0, undefined, lookup as never);
  const t0 = performance.now();
  let offset = 0;
  for (const e of events) {
    p.process({ topic: 'play-events', partition: 0, offset: offset++, key: e.viewer_id, value: e });
    if (offset % 5_000 === 0) p.drain();
    // as the runtime's checkpoints do (and bench:processors' pure figure): without it every
    // key ever changed stays in the change sets
    if (offset % 25_000 === 0) p.stateChanges();
  }
  p.drain();
  p.stateChanges();
  const ms = performance.now() - t0;
  const snap = p.snapshot();
  const bytes = snap.reduce((s, [k, v]) => s + k.length + JSON.stringify(v ?? null).length, 0);
  console.log(
    JSON.stringify({
      processor: name,
      viewers,
      events: events.length,
      events_per_s: Math.round(events.length / (ms / 1000)),
      state_keys: snap.length,
      state_mb: Math.round(bytes / 1e5) / 10,
    }),
  );
}
