// Dead letters: a record that cannot be decoded or accepted goes, with its original bytes,
// to the dead-letter topic; the reason and where it came from travel in headers.
import type { Producer } from 'kafkajs';

export const DLQ_HEADERS = {
  code: 'vp-error-code',
  reason: 'vp-error-reason',
  sourceTopic: 'vp-source-topic',
  sourcePartition: 'vp-source-partition',
  sourceOffset: 'vp-source-offset',
  stage: 'vp-stage',
  failedAt: 'vp-failed-at',
} as const;

export interface DeadLetter {
  key: Buffer | string | null;
  value: Buffer | string | null;
  code: string;
  reason: string;
  /** Which component decided: collector, raw-events, view-counts ... */
  stage: string;
  source?: { topic: string; partition: number; offset: string };
}

export function deadLetterMessage(d: DeadLetter): {
  key: Buffer | string | null;
  value: Buffer | string | null;
  headers: Record<string, string>;
} {
  const headers: Record<string, string> = {
    [DLQ_HEADERS.code]: d.code,
    [DLQ_HEADERS.reason]: d.reason.slice(0, 2000),
    [DLQ_HEADERS.stage]: d.stage,
    [DLQ_HEADERS.failedAt]: new Date().toISOString(),
  };
  if (d.source) {
    headers[DLQ_HEADERS.sourceTopic] = d.source.topic;
    headers[DLQ_HEADERS.sourcePartition] = String(d.source.partition);
    headers[DLQ_HEADERS.sourceOffset] = d.source.offset;
  }
  return { key: d.key, value: d.value, headers };
}

/** Writes dead letters with acks=all; resolves once Kafka has them. */
export async function sendDeadLetters(
  producer: Producer,
  topic: string,
  letters: readonly DeadLetter[],
): Promise<void> {
  if (letters.length === 0) return;
  await producer.send({ topic, acks: -1, messages: letters.map(deadLetterMessage) });
}
