// Which Avro schema is published under which topic's value subject.
import { playEventSchema, videoSchema } from './avro.js';
import { topics, valueSubject, type TopicKey } from './topics.js';

export interface SubjectSpec {
  topic: TopicKey;
  file: string;
  schema: () => object;
}

export const SUBJECTS: readonly SubjectSpec[] = [
  { topic: 'playEvents', file: 'schemas/avro/PlayEvent.avsc', schema: playEventSchema },
  { topic: 'videos', file: 'schemas/avro/Video.avsc', schema: videoSchema },
];

export const subjectName = (spec: SubjectSpec, prefix = ''): string => valueSubject(topics(prefix)[spec.topic]);
