// Topic administration: creates the project's topics when missing (idempotent, as described in
// schemas/topics.ts), and reads how far a topic and a consumer group have come.
import type { Admin, Kafka } from 'kafkajs';
import { topics, topicSpecs, type TopicKey } from '../../schemas/topics.js';

export async function ensureTopics(kafka: Kafka, prefix = '', playEventPartitions = 6): Promise<string[]> {
  const names = topics(prefix);
  const specs = topicSpecs(playEventPartitions);
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = (Object.keys(names) as TopicKey[]).filter((k) => !existing.has(names[k]));
    if (missing.length > 0) {
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((k) => ({
          topic: names[k],
          numPartitions: specs[k].partitions,
          replicationFactor: 1,
          configEntries: Object.entries(specs[k].configs ?? {}).map(([name, value]) => ({ name, value })),
        })),
      });
    }
    return missing.map((k) => names[k]);
  } finally {
    await admin.disconnect();
  }
}

/** The next offset of every partition of a topic. */
export async function endOffsets(kafka: Kafka, topic: string): Promise<Map<number, number>> {
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  return new Map(offsets.map((o) => [o.partition, Number(o.high)]));
}

/** Waits until a consumer group has committed every partition up to its end. */
export async function waitForCommitted(
  kafka: Kafka,
  groupId: string,
  topic: string,
  timeoutMs = 120_000,
): Promise<void> {
  const ends = await endOffsets(kafka, topic);
  const admin = kafka.admin();
  await admin.connect();
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
      const done = [...ends].every(
        ([p, end]) => end === 0 || Number(committed?.partitions.find((x) => x.partition === p)?.offset ?? -1) >= end,
      );
      if (done) return;
      if (Date.now() > deadline)
        throw new Error(`group ${groupId} did not catch up on ${topic} within ${timeoutMs / 1000}s`);
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    await admin.disconnect();
  }
}

/** Records `groupId` has committed over every partition of `topic`, through a connected admin. */
async function committedOn(admin: Admin, groupId: string, topic: string): Promise<number> {
  const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
  return (t?.partitions ?? []).reduce((n, x) => n + Math.max(0, Number(x.offset)), 0);
}

/** Records a consumer group has committed over every partition of `topic` (with its state, in the changelog store). */
export async function committedRecords(kafka: Kafka, groupId: string, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await committedOn(admin, groupId, topic);
  } finally {
    await admin.disconnect();
  }
}

/** Waits until a group has committed `total` records of `topic` (one admin connection for the wait). */
export async function waitForCommittedRecords(
  kafka: Kafka,
  groupId: string,
  topic: string,
  total: number,
  timeoutMs = 400_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const admin = kafka.admin();
  await admin.connect();
  try {
    while ((await committedOn(admin, groupId, topic)) < total) {
      if (Date.now() > deadline) throw new Error(`group ${groupId} did not commit ${total} records of ${topic}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    await admin.disconnect();
  }
}
