// The catalog processor: loads the platform's compacted `videos` topic (key = video_id,
// value = Video, null = tombstone) into the `videos` table, which the catalog cache
// (runtime/catalog-cache.ts) reads. Stateless and pure.
//
// Effectively once: each record becomes one full-value row versioned by its Kafka offset. A
// video always lands on one partition (its key), so a later record of it has a higher offset
// and wins in the ReplacingMergeTree, and a replay rewrites the same (key, version, values).
import type { StateEntries } from '../keyed-state.js';
import type { Video } from '../../schemas/types.js';
import { TABLES } from '../../schemas/tables.js';
import { dlq, ok, type Outcome } from '../outcome.js';
import { MAX_ID_LENGTH, MAX_TIME_MS } from '../rules.js';
import {
  pushRows,
  type InputRecord,
  type OutputRows,
  type PartitionProcessor,
  type ProcessorDefinition,
  type TableSpec,
} from '../contract.js';
import { CATALOG } from '../semantics.js';
import { DEFAULT_RULE_PARAMETERS, validateRuleParameters, type RuleParameters } from '../parameters.js';

export const NAME = CATALOG;
export const VIDEO_RULES_CODE = 'VP_ERR_VIDEO_RULES';

export const VIDEOS_TABLE: TableSpec = {
  name: TABLES.videos,
  key: ['video_id'],
  version: 'version',
  times: ['published_at'],
};

export interface VideoRow {
  video_id: string;
  creator_id: string;
  title: string;
  duration_ms: number;
  published_at: number;
  category: string;
  deleted: number;
  version: number;
}

/** Every rule a catalog record breaks, as "field: what is wrong"; empty when it keeps them all. */
export function videoProblems(key: string | null, value: Video | null): string[] {
  if (value === null) return key ? [] : ['key: a tombstone needs the video_id as its key'];
  const problems: string[] = [];
  for (const field of ['video_id', 'creator_id'] as const) {
    const id = value[field];
    if (typeof id !== 'string' || id.length === 0) problems.push(`${field}: must not be empty`);
    else if (id.length > MAX_ID_LENGTH) problems.push(`${field}: must be at most ${MAX_ID_LENGTH} characters`);
  }
  if (!Number.isSafeInteger(value.duration_ms) || value.duration_ms <= 0)
    problems.push('duration_ms: must be a positive whole number of ms');
  if (!Number.isSafeInteger(value.published_at) || value.published_at < 0 || value.published_at > MAX_TIME_MS)
    problems.push('published_at: must be a time between 1970-01-01 and 2100-01-01');
  if (typeof value.title !== 'string') problems.push('title: must be text');
  if (typeof value.category !== 'string') problems.push('category: must be text');
  // The compacted topic keeps the last record per key: a value filed under another video's
  // key would survive compaction in the wrong place.
  if (key !== null && typeof value.video_id === 'string' && key !== value.video_id)
    problems.push(`key: must equal video_id (got key ${JSON.stringify(key.slice(0, MAX_ID_LENGTH))})`);
  return problems;
}

export function videoRow(r: InputRecord<Video | null>): VideoRow {
  const v = r.value;
  if (v === null) {
    return {
      video_id: r.key!,
      creator_id: '',
      title: '',
      duration_ms: 0,
      published_at: 0,
      category: '',
      deleted: 1,
      version: r.offset,
    };
  }
  return {
    video_id: v.video_id,
    creator_id: v.creator_id,
    title: v.title,
    duration_ms: v.duration_ms,
    published_at: v.published_at,
    category: v.category,
    deleted: 0,
    version: r.offset,
  };
}

export class CatalogPartition implements PartitionProcessor<Video | null> {
  private rows: VideoRow[] = [];

  constructor(readonly partition: number) {}

  /** The catalog has no event time. */
  get watermark(): number {
    return Number.NEGATIVE_INFINITY;
  }

  process(record: InputRecord<Video | null>): Outcome {
    const problems = videoProblems(record.key, record.value);
    if (problems.length > 0) return dlq(VIDEO_RULES_CODE, problems.join('; '));
    this.rows.push(videoRow(record));
    return ok;
  }

  drain(): OutputRows {
    const out: OutputRows = new Map();
    pushRows(out, TABLES.videos, this.rows);
    this.rows = [];
    return out;
  }

  /** Nothing to remember: every row is a function of its record. */
  stateChanges(): StateEntries {
    return [];
  }

  snapshot(): StateEntries {
    return [];
  }
}

/** The catalog loader; no rule applies to it (it takes them like every processor). */
export const catalog = (rules: RuleParameters = DEFAULT_RULE_PARAMETERS): ProcessorDefinition<Video | null> => ({
  name: NAME,
  rules: validateRuleParameters(rules),
  tables: [VIDEOS_TABLE],
  create: (partition) => new CatalogPartition(partition),
});
