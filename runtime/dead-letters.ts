// A record that cannot be decoded or breaks a rule becomes two things, written in the same
// flush before the offsets are committed: a message for the dead-letter topic (its original
// bytes, the reason in headers; at least once) and a dead_letters row (keyed by source record
// and processor, stamped with the Kafka record's own timestamp; effectively once).
import type { KafkaMessage } from 'kafkajs';
import type { TableSpec } from '../processors/contract.js';
import type { DeadLetter } from '../lib/kafka/dlq.js';
import { TABLES } from '../schemas/tables.js';

/** Rows of dead_letters, written with every processor's own tables. */
export const DEAD_LETTER_ROWS: TableSpec = { name: TABLES.deadLetters, times: ['record_time'] };

export interface DeadLetterRow {
  stage: string;
  source_topic: string;
  kafka_partition: number;
  kafka_offset: number;
  record_time: number;
  code: string;
  reason: string;
  video_id: string;
}

export function deadLetterOf(
  stage: string,
  source: { topic: string; partition: number; message: KafkaMessage },
  why: { code: string; reason: string },
  videoId: string | undefined,
): { letter: DeadLetter; row: DeadLetterRow } {
  const { topic, partition, message } = source;
  return {
    letter: {
      key: message.key,
      value: message.value,
      code: why.code,
      reason: why.reason,
      stage,
      source: { topic, partition, offset: message.offset },
    },
    row: {
      stage,
      source_topic: topic,
      kafka_partition: partition,
      kafka_offset: Number(message.offset),
      record_time: Number(message.timestamp),
      code: why.code,
      reason: why.reason.slice(0, 2000),
      video_id: videoId ?? '',
    },
  };
}
