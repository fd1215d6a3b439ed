// Every Kafka topic name lives here, prefixable (VIEWPULSE_TOPIC_PREFIX) so tests and
// several environments can share one cluster.

export const TOPIC_BASE = {
  playEvents: 'play-events',
  videos: 'videos',
  playEventsDlq: 'play-events.dlq',
} as const;

export type TopicKey = keyof typeof TOPIC_BASE;

export function topics(prefix = ''): Record<TopicKey, string> {
  return {
    playEvents: `${prefix}${TOPIC_BASE.playEvents}`,
    videos: `${prefix}${TOPIC_BASE.videos}`,
    playEventsDlq: `${prefix}${TOPIC_BASE.playEventsDlq}`,
  };
}

/** Subject names follow Confluent's TopicNameStrategy. */
export const valueSubject = (topic: string): string => `${topic}-value`;

/** The end-to-end smoke topic used by `viewpulse demo --smoke` and the slice test. */
export const smokeTopic = (prefix = ''): string => `${prefix}viewpulse-smoke`;
