// The producer's per-send grouping of messages by partition, replaced by a linear one
// (lib/kafka/kafkajs-linear-grouping.cjs): the same result as kafkajs' own, and in effect in a
// process started through the CLI's entry.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);
const { groupMessagesPerPartition } = require('../../lib/kafka/kafkajs-linear-grouping.cjs') as {
  groupMessagesPerPartition: (o: unknown) => Record<string, unknown[]>;
};

interface Msg {
  key: string;
  partition?: number;
}

/** kafkajs 2.2.4's own, as it reads (src/producer/groupMessagesPerPartition.js). */
const original = ({
  topic,
  partitionMetadata,
  messages,
  partitioner,
}: {
  topic: string;
  partitionMetadata: unknown[];
  messages: Msg[];
  partitioner: (o: { topic: string; partitionMetadata: unknown[]; message: Msg }) => number;
}): Record<string, Msg[]> => {
  if (partitionMetadata.length === 0) return {};
  return messages.reduce<Record<string, Msg[]>>((result, message) => {
    const partition = partitioner({ topic, partitionMetadata, message });
    const current = result[partition] || [];
    return Object.assign(result, { [partition]: [...current, message] });
  }, {});
};

describe("kafkajs' grouping of a send's messages by partition, in linear time", () => {
  const partitionMetadata = Array.from({ length: 12 }, (_, i) => ({ partitionId: i }));
  const partitioner = ({ message }: { message: Msg }): number =>
    message.partition ?? [...message.key].reduce((h, c) => (h * 31 + c.charCodeAt(0)) % 12, 0);

  it('gives the same partitions, each with its messages in send order, as kafkajs', () => {
    const messages: Msg[] = Array.from({ length: 2_500 }, (_, i) => ({
      key: `k${(i * 7919) % 613}`,
      ...(i % 5 === 0 ? { partition: i % 3 } : {}),
    }));
    const args = { topic: 't', partitionMetadata, messages, partitioner };
    const ours = groupMessagesPerPartition(args) as Record<string, Msg[]>;
    expect(ours).toEqual(original(args));
    expect(Object.keys(ours)).toEqual(Object.keys(original(args)));
    for (const list of Object.values(ours))
      expect(list.every((m, i) => i === 0 || messages.indexOf(m) > messages.indexOf(list[i - 1] as Msg))).toBe(true);
  });

  it('gives nothing for a topic without partition metadata', () => {
    expect(
      groupMessagesPerPartition({ topic: 't', partitionMetadata: [], messages: [{ key: 'a' }], partitioner }),
    ).toEqual({});
  });

  it("is what kafkajs' producer uses once installed before kafkajs loads, as bin/viewpulse.js does", () => {
    const script = `
      const { createRequire } = require('node:module');
      const patch = require('./lib/kafka/kafkajs-linear-grouping.cjs');
      require('kafkajs');
      const cached = require.cache[require.resolve('kafkajs/src/producer/groupMessagesPerPartition.js')];
      console.log(JSON.stringify({ installed: patch.installed, ours: cached.exports === patch.groupMessagesPerPartition,
        sendLoaded: !!require.cache[require.resolve('kafkajs/src/producer/sendMessages.js')] }));`;
    const out = JSON.parse(
      execFileSync(process.execPath, ['-e', script], { cwd: new URL('../..', import.meta.url) }).toString(),
    );
    expect(out).toEqual({ installed: true, ours: true, sendLoaded: true });
  });

  it('says so, and changes nothing, when kafkajs was loaded first', () => {
    const script = `
      require('kafkajs');
      process.on('warning', (w) => console.log(JSON.stringify({ warning: w.message })));
      const patch = require('./lib/kafka/kafkajs-linear-grouping.cjs');
      setImmediate(() => console.log(JSON.stringify({ installed: patch.installed })));`;
    const lines = execFileSync(process.execPath, ['-e', script], { cwd: new URL('../..', import.meta.url) })
      .toString()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toContainEqual({ installed: false });
    expect(lines).toContainEqual({ warning: 'kafkajs was loaded before its linear grouping: sends stay quadratic' });
  });
});
