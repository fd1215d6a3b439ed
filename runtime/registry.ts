// Every stream processor, by name: what it is, which topic feeds it and with which Avro
// schema. The CLI (`viewpulse run processors [--only ...]`) iterates this registry.
import { playEventSchema, videoSchema } from '../schemas/avro.js';
import type { TopicKey } from '../schemas/topics.js';
import type { PlayEvent, Video } from '../schemas/types.js';
import { catalog } from '../processors/catalog/processor.js';
import { engagement } from '../processors/engagement/processor.js';
import { rawEvents } from '../processors/raw-events/processor.js';
import { recommendations } from '../processors/recommendations/processor.js';
import type { ProcessorDefinition } from '../processors/contract.js';
import { DEFAULT_RULE_PARAMETERS, type RuleParameters } from '../processors/parameters.js';
import { viewCounts } from '../processors/view-counts/processor.js';

export interface ProcessorSpec<V> {
  /** A fresh definition under `rules` (validated; default: DEFAULT_RULE_PARAMETERS). */
  definition: (rules?: RuleParameters) => ProcessorDefinition<V>;
  /** The input topic, as a key of schemas/topics.ts topics(). */
  inputTopic: Exclude<TopicKey, 'playEventsDlq' | 'videosDlq'>;
  /** Where records this processor cannot decode or accept go. */
  dlqTopic: 'playEventsDlq' | 'videosDlq';
  /** The Avro reader schema of the input topic's values. */
  schema: () => object;
  /** The video a record refers to, so the runtime can load it into the catalog cache first. */
  videoIdOf?: (value: NonNullable<V>) => string | undefined;
}

const videoOfEvent = (e: PlayEvent): string | undefined => (typeof e.video_id === 'string' ? e.video_id : undefined);

export const PROCESSORS: {
  'view-counts': ProcessorSpec<PlayEvent>;
  engagement: ProcessorSpec<PlayEvent>;
  'raw-events': ProcessorSpec<PlayEvent>;
  recommendations: ProcessorSpec<PlayEvent>;
  catalog: ProcessorSpec<Video | null>;
} = {
  'view-counts': {
    definition: (rules = DEFAULT_RULE_PARAMETERS) => viewCounts(rules),
    inputTopic: 'playEvents',
    dlqTopic: 'playEventsDlq',
    schema: playEventSchema,
    videoIdOf: videoOfEvent,
  },
  engagement: {
    definition: (rules = DEFAULT_RULE_PARAMETERS) => engagement(rules),
    inputTopic: 'playEvents',
    dlqTopic: 'playEventsDlq',
    schema: playEventSchema,
    videoIdOf: videoOfEvent,
  },
  'raw-events': {
    definition: (rules = DEFAULT_RULE_PARAMETERS) => rawEvents(rules),
    inputTopic: 'playEvents',
    dlqTopic: 'playEventsDlq',
    schema: playEventSchema,
    videoIdOf: videoOfEvent,
  },
  recommendations: {
    definition: (rules = DEFAULT_RULE_PARAMETERS) => recommendations(rules),
    inputTopic: 'playEvents',
    dlqTopic: 'playEventsDlq',
    schema: playEventSchema,
    videoIdOf: videoOfEvent,
  },
  // The catalog loader writes the catalog; it never reads it.
  catalog: {
    definition: (rules = DEFAULT_RULE_PARAMETERS) => catalog(rules),
    inputTopic: 'videos',
    dlqTopic: 'videosDlq',
    schema: videoSchema,
  },
};

export type ProcessorName = keyof typeof PROCESSORS;

/** The processors `--only a,b` names (all of them without it); an unknown name throws. */
export function parseOnly(only: string | undefined): ProcessorName[] {
  const all = Object.keys(PROCESSORS) as ProcessorName[];
  if (!only) return all;
  const picked = only
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = picked.filter((p) => !all.includes(p as ProcessorName));
  if (unknown.length) throw new Error(`unknown processor(s): ${unknown.join(', ')} (known: ${all.join(', ')})`);
  return picked as ProcessorName[];
}

/** The consumer group of a processor: each processor is its own group (prefixable, as topics are). */
export const groupIdOf = (prefix: string, processor: string): string => `${prefix}viewpulse-${processor}`;
