// The changelog state store on the real Kafka: state and the group's offset are committed in
// one transaction, restored together, removed keys stay removed, and a second owner of a
// partition fences the first so a zombie cannot write stale state, not even by retrying.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChangelogStore } from '../../runtime/changelog-store.js';
import { encodeChanges } from '../../runtime/checkpoint-store.js';
import { pipeline, type Pipeline } from '../../harness/pipeline.js';
import { createLogger } from '../../lib/logger.js';
import { ConfigResourceTypes } from 'kafkajs';
import { CHANGELOG_CONFIGS, changelogTopic } from '../../schemas/topics.js';

let p: Pipeline;
const logger = createLogger('warn');
const store = (groupId: string): ChangelogStore =>
  new ChangelogStore({ kafka: p.kafka, groupId, topic: p.topics.playEvents, logger });

describe('the changelog state store', () => {
  beforeAll(async () => {
    p = await pipeline('changelog', 3);
  });
  afterAll(async () => {
    await p?.cleanup();
  });

  it('restores the newest value per key with the offset committed in the same transaction', async () => {
    const group = `${p.prefix}store-a`;
    const a = store(group);
    await a.start();
    expect(await a.restore(1)).toMatchObject({ offset: -1, state: new Map(), records: 0 });
    await a.savePartition(
      1,
      9,
      encodeChanges([
        ['k1', { n: 1 }],
        ['k2', { n: 2 }],
        ['k3', [1, 2, 3]],
      ]),
    );
    await a.savePartition(
      1,
      19,
      encodeChanges([
        ['k1', { n: 10 }],
        ['k2', null],
      ]),
    );
    await a.restore(2);
    await a.savePartition(2, 4, encodeChanges([['other', 'partition']]));
    await a.stop();

    const b = store(group);
    await b.start();
    const restored = await b.restore(1);
    expect(restored.offset).toBe(19);
    expect([...restored.state]).toEqual([
      ['k3', [1, 2, 3]],
      ['k1', { n: 10 }],
    ]);
    expect((await b.restore(2)).state).toEqual(new Map([['other', 'partition']]));
    expect((await b.restore(0)).offset).toBe(-1);
    await b.stop();
    // the restores' throwaway consumer groups are gone
    const admin = p.kafka.admin();
    await admin.connect();
    const groups = (await admin.listGroups()).groups.map((g) => g.groupId);
    await admin.disconnect();
    expect(groups.filter((g) => g.startsWith(`${group}-restore-`))).toEqual([]);
  });

  it('creates its compacted topic with the configs of schemas/topics.ts, and gives an older one the configs it lacks, keeping its other overrides', async () => {
    const configsOf = async (topic: string): Promise<Record<string, string>> => {
      const admin = p.kafka.admin();
      await admin.connect();
      const { resources } = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }],
      });
      await admin.disconnect();
      return Object.fromEntries(resources[0]!.configEntries.map((e) => [e.configName, e.configValue]));
    };
    const fresh = `${p.prefix}store-cfg-new`;
    await store(fresh).start();
    expect(await configsOf(changelogTopic(fresh))).toMatchObject(CHANGELOG_CONFIGS);
    // as an earlier version created it: no size bound on its segments
    const older = `${p.prefix}store-cfg-old`;
    const admin = p.kafka.admin();
    await admin.connect();
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        {
          topic: changelogTopic(older),
          numPartitions: 3,
          configEntries: [
            { name: 'cleanup.policy', value: 'compact' },
            { name: 'segment.ms', value: '600000' },
            // an operator's override: kept
            { name: 'max.compaction.lag.ms', value: '86400000' },
          ],
        },
      ],
    });
    await admin.disconnect();
    expect((await configsOf(changelogTopic(older)))['segment.bytes']).toBe(String(1024 ** 3));
    await store(older).start();
    expect(await configsOf(changelogTopic(older))).toMatchObject({
      ...CHANGELOG_CONFIGS,
      'max.compaction.lag.ms': '86400000',
    });
  });

  it('knows nothing of offsets another store committed: a partition it never saved starts empty', async () => {
    const group = `${p.prefix}store-c`;
    const admin = p.kafka.admin();
    await admin.connect();
    await admin.setOffsets({
      groupId: group,
      topic: p.topics.playEvents,
      partitions: [{ partition: 0, offset: '42' }],
    });
    await admin.disconnect();
    const s = store(group);
    await s.start();
    expect(await s.load(0)).toBeUndefined();
    await s.stop();
  });

  it('fences a previous owner: its later save fails and leaves no trace', async () => {
    const group = `${p.prefix}store-b`;
    const zombie = store(group);
    await zombie.start();
    await zombie.restore(0);
    await zombie.savePartition(0, 4, encodeChanges([['x', 1]]));

    const owner = store(group);
    await owner.start();
    expect((await owner.restore(0)).offset).toBe(4);

    await expect(zombie.savePartition(0, 99, encodeChanges([['x', 'stale']]))).rejects.toThrow();
    // Nor may it try again: a fresh producer would fence the owner and lay its stale changes
    // over the owner's state. Only a restore (which reads the owner's state) opens one.
    await expect(zombie.savePartition(0, 99, encodeChanges([['x', 'stale']]))).rejects.toThrow(/restore it first/);
    await owner.savePartition(0, 7, encodeChanges([['y', 2]]));

    const check = store(group);
    await check.start();
    const restored = await check.restore(0);
    expect(restored.offset).toBe(7);
    expect(restored.state).toEqual(
      new Map<string, unknown>([
        ['x', 1],
        ['y', 2],
      ]),
    );
    await Promise.all([zombie.stop(), owner.stop(), check.stop()]);
  });
});
