// tsx bench/changelog-bytes.ts [--viewers 20000] [--minutes 10] — what each play-events
// processor's checkpoints write, per kind of state key: the pure logic on one partition, fed
// live-like traffic (bench/synthetic.ts: the viewers' sessions over a few minutes of event
// time), drained every 3,000 records and checkpointed (stateChanges) every 15,000, as the
// runtime would at a few thousand events/s. Prints, per processor and key prefix, the changed
// keys written, their mean JSON bytes, and the bytes per event. No services needed; to compare
// two checkouts, run it in each.
import { parseArgs } from 'node:util';
import { PROCESSORS } from '../runtime/registry.js';
import { syntheticStream, SYN_VIDEOS, synVideo } from './synthetic.js';

const { values: args } = parseArgs({
  options: {
    viewers: { type: 'string', default: '20000' },
    minutes: { type: 'string', default: '10' },
  },
});
const catalog = new Map(
  Array.from({ length: SYN_VIDEOS }, (_, i) => [
    synVideo(i),
    { creatorId: `syn-c${i % 100}`, durationMs: 600_000, title: '', publishedAt: 0 },
  ]),
);
const lookup = { get: (id: string) => catalog.get(id) };
// a fixed start, so that two checkouts see the same windows
const events = [...syntheticStream(Number(args.viewers), Date.UTC(2026, 10, 1), Number(args.minutes) * 60_000)];

for (const name of ['view-counts', 'engagement', 'recommendations'] as const) {
  const p = PROCESSORS[name].definition().create(0, undefined, lookup as never);
  const byPrefix = new Map<string, { keys: number; bytes: number }>();
  const checkpoint = (): void => {
    for (const [key, value] of p.stateChanges()) {
      const prefix = key.slice(0, key.indexOf(':'));
      const x = byPrefix.get(prefix) ?? { keys: 0, bytes: 0 };
      x.keys++;
      x.bytes += key.length + JSON.stringify(value ?? null).length;
      byPrefix.set(prefix, x);
    }
  };
  let offset = 0;
  for (const e of events) {
    p.process({ topic: 'play-events', partition: 0, offset: offset++, key: e.viewer_id, value: e });
    if (offset % 3_000 === 0) p.drain();
    if (offset % 15_000 === 0) checkpoint();
  }
  p.drain();
  checkpoint();
  const total = [...byPrefix.values()].reduce((s, x) => s + x.bytes, 0);
  console.log(
    JSON.stringify({
      processor: name,
      events: events.length,
      bytes_per_event: Math.round(total / events.length),
      by_key: Object.fromEntries(
        [...byPrefix].map(([k, x]) => [k, { keys: x.keys, mean_bytes: Math.round(x.bytes / x.keys) }]),
      ),
    }),
  );
}
