// Today's state store: the partition's whole state (its keyed changes applied) as one gzip'd
// JSON row of processor_checkpoints per checkpoint; the newest row is loaded.
import { describe, expect, it } from 'vitest';
import { decodeSnapshot, encodeChanges, encodeSnapshot, SnapshotRowStore } from '../../../runtime/checkpoint-store.js';
import type { ClickHouseClient } from '../../../lib/clickhouse/client.js';
import type { TableWrite } from '../../../lib/clickhouse/writer.js';
import { createLogger } from '../../../lib/logger.js';

function store(stored: { kafka_offset: string; state: string }[] = []) {
  const queries: string[] = [];
  const writes: TableWrite[] = [];
  const clickhouse = {
    query: async ({ query }: { query: string }) => {
      queries.push(query);
      return { json: async () => stored };
    },
  } as unknown as ClickHouseClient;
  const s = new SnapshotRowStore({
    clickhouse,
    database: 'vp_unit',
    processor: 'view-counts',
    topic: 'play-events',
    writer: { write: async (w) => void writes.push(w) },
    log: createLogger('silent'),
  });
  const states = () => writes.map((w) => (w.rows as { state: string }[]).map((r) => decodeSnapshot(r.state)));
  return { s, queries, writes, states };
}

describe('SnapshotRowStore', () => {
  it('writes each partition as one row holding its whole state, the changes applied in order', async () => {
    const { s, writes, states } = store();
    expect(await s.load(3)).toBeUndefined();
    await s.save([
      {
        partition: 3,
        offset: 41,
        changes: encodeChanges([
          ['a', 1],
          ['b', { n: 2 }],
        ]),
      },
    ]);
    await s.save([
      {
        partition: 3,
        offset: 57,
        changes: encodeChanges([
          ['a', null],
          ['c', 3],
          ['b', { n: 4 }],
        ]),
      },
    ]);
    expect(writes.map((w) => w.table)).toEqual(['processor_checkpoints', 'processor_checkpoints']);
    expect(writes[1]!.rows).toEqual([
      {
        processor: 'view-counts',
        topic: 'play-events',
        kafka_partition: 3,
        kafka_offset: 57,
        state: expect.any(String),
      },
    ]);
    expect(states()).toEqual([
      [
        [
          ['a', 1],
          ['b', { n: 2 }],
        ],
      ],
      [
        [
          ['c', 3],
          ['b', { n: 4 }],
        ],
      ],
    ]);
  });

  it("loads the partition's newest row, and later changes apply on top of it", async () => {
    const { s, queries, states } = store([{ kafka_offset: '99', state: encodeSnapshot([['x', 1]]) }]);
    const loaded = await s.load(2);
    expect(loaded).toEqual({ offset: 99, snapshot: new Map([['x', 1]]) });
    expect(queries[0]).toMatch(/FROM `vp_unit`\.`processor_checkpoints`/);
    expect(queries[0]).toMatch(/processor = 'view-counts' AND topic = 'play-events' AND kafka_partition = 2/);
    expect(queries[0]).toMatch(/ORDER BY kafka_offset DESC LIMIT 1/);
    await s.save([{ partition: 2, offset: 120, changes: encodeChanges([['y', 2]]) }]);
    expect(states()).toEqual([
      [
        [
          ['x', 1],
          ['y', 2],
        ],
      ],
    ]);
  });

  it('a checkpoint from before keyed state is not restored: the partition replays from its start', async () => {
    const { s, states } = store([{ kafka_offset: '10', state: encodeSnapshot({ windows: [] } as never) }]);
    expect(await s.load(0)).toBeUndefined();
    await s.save([{ partition: 0, offset: 4, changes: encodeChanges([['k', 1]]) }]);
    expect(states()).toEqual([[[['k', 1]]]]);
  });
});
