// Creates the project's topics when missing (idempotent), as described in schemas/topics.ts.
import type { Kafka } from 'kafkajs';
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
