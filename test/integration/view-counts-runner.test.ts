// The view-counts processor on the real runtime: Avro records in real Kafka → ProcessorRunner
// → real ClickHouse. The minute counts must equal the rules applied to all input, exactly —
// also after the processor was stopped abruptly mid-stream and restarted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AvroProducer } from '../../lib/kafka/producer.js';
import { ProcessorRunner } from '../../runtime/runner.js';
import { viewCounts } from '../../processors/view-counts/processor.js';
import { playEventSchema } from '../../schemas/avro.js';
import type { PlayEvent } from '../../schemas/types.js';
import { traffic } from '../unit/processors/fixtures.js';
import { referenceCounts } from '../unit/processors/reference.js';
import { seedCatalog } from '../../harness/dataset.js';
import {
  pipeline,
  playEventsRunner,
  readMinuteCounts,
  waitForCommitted,
  type Pipeline,
} from '../../harness/pipeline.js';

let p: Pipeline;
const groupId = (): string => `${p.prefix}viewpulse-view-counts`;

function runner(): ProcessorRunner<PlayEvent> {
  return playEventsRunner(p, viewCounts(), {
    groupId: groupId(),
    options: { flushIntervalMs: 200, checkpointIntervalMs: 500 },
  });
}

describe('view-counts on Kafka and ClickHouse', () => {
  const t = traffic(21, { viewers: 60, videos: 8, sessions: 400 });
  const events = t.deliveries.map((d) => d.event);

  beforeAll(async () => {
    p = await pipeline('vc');
    await seedCatalog(
      p.clickhouse,
      p.database,
      [...t.durations].map(([video_id, duration_ms]) => ({
        video_id,
        duration_ms,
        creator_id: t.creators.get(video_id)!,
      })),
    );
  });
  afterAll(() => p.cleanup());

  it('counts exactly, through an abrupt stop and a restart from the checkpoint', async () => {
    const producer = new AvroProducer<PlayEvent>(p.kafka, p.registry, {
      topic: p.topics.playEvents,
      schema: playEventSchema(),
      key: (e) => e.viewer_id,
    });
    await producer.connect();
    const half = Math.floor(events.length / 2);
    await producer.send(events.slice(0, half).map((e) => ({ ...e, received_at: e.event_time })));

    // First instance: consume the first half, then vanish without a final flush or commit
    // beyond what its checkpoints already covered.
    const first = runner();
    await first.start();
    await waitForCommitted(p.kafka, groupId(), p.topics.playEvents);
    await producer.send(events.slice(half).map((e) => ({ ...e, received_at: e.event_time })));
    await new Promise((r) => setTimeout(r, 300));
    await first.abandon();

    const second = runner();
    await second.start();
    await waitForCommitted(p.kafka, groupId(), p.topics.playEvents);
    await second.stop();
    await producer.disconnect();

    const expected = referenceCounts(events, t.durations);
    for (const byMinute of expected.values())
      for (const [m, c] of byMinute) if (!c.plays && !c.views && !c.watchMs) byMinute.delete(m);
    expect(await readMinuteCounts(p.clickhouse, p.database)).toEqual(expected);
  });
});
