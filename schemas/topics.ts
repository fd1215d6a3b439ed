// Every Kafka topic name lives here, prefixable (VIEWPULSE_TOPIC_PREFIX) so tests and
// several environments can share one cluster.

export const TOPIC_BASE = {
  playEvents: 'play-events',
  videos: 'videos',
  playEventsDlq: 'play-events.dlq',
  videosDlq: 'videos.dlq',
} as const;

export type TopicKey = keyof typeof TOPIC_BASE;

export function topics(prefix = ''): Record<TopicKey, string> {
  return {
    playEvents: `${prefix}${TOPIC_BASE.playEvents}`,
    videos: `${prefix}${TOPIC_BASE.videos}`,
    playEventsDlq: `${prefix}${TOPIC_BASE.playEventsDlq}`,
    videosDlq: `${prefix}${TOPIC_BASE.videosDlq}`,
  };
}

export interface TopicSpec {
  partitions: number;
  /** Extra topic configs, e.g. compaction for the catalog. */
  configs?: Record<string, string>;
}

/** How `viewpulse migrate` creates each topic. Partitions are the unit of parallelism. */
export function topicSpecs(playEventPartitions = 6): Record<TopicKey, TopicSpec> {
  return {
    // The log is the source of truth: `viewpulse replay` rebuilds every table from it, so it is
    // kept for ever (-1) unless an operator sets a retention (README, "Replaying").
    playEvents: { partitions: playEventPartitions, configs: { 'retention.ms': '-1' } },
    videos: { partitions: 3, configs: { 'cleanup.policy': 'compact', 'min.compaction.lag.ms': '0' } },
    playEventsDlq: { partitions: 3, configs: { 'retention.ms': String(30 * 24 * 3600 * 1000) } },
    videosDlq: { partitions: 1, configs: { 'retention.ms': String(30 * 24 * 3600 * 1000) } },
  };
}

/**
 * A processor's state changelog: compacted, one partition per input partition, written only in
 * Kafka transactions together with the processor's consumer offsets (runtime/changelog-store.ts).
 */
export const changelogTopic = (groupId: string): string => `${groupId}-changelog`;

export const CHANGELOG_CONFIGS: Record<string, string> = {
  'cleanup.policy': 'compact',
  // compact soon after a segment rolls, and roll segments often (every 10 minutes or 16 MB), so
  // a restore reads little more than the live keys plus one segment — without the size bound a
  // busy partition wrote 70 MB in 4 minutes, none of it compacted, for 10 MB of live state;
  // tombstones (removed keys) are kept an hour for slow readers
  'min.compaction.lag.ms': '0',
  'segment.ms': String(10 * 60_000),
  'segment.bytes': String(16 * 1024 * 1024),
  'min.cleanable.dirty.ratio': '0.2',
  'delete.retention.ms': String(3_600_000),
  // one value is one key's state: a minute of event ids can exceed the 1 MB default
  'max.message.bytes': String(16 * 1024 * 1024),
};

/** Subject names follow Confluent's TopicNameStrategy. */
export const valueSubject = (topic: string): string => `${topic}-value`;

/** The end-to-end smoke topic used by `viewpulse demo --smoke` and the slice test. */
export const smokeTopic = (prefix = ''): string => `${prefix}viewpulse-smoke`;
