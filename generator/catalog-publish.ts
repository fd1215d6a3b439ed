// Publishing the catalog: Avro Video records on the compacted `videos` topic, keyed by
// video_id; a tombstone (null value) deletes a video. Used by `viewpulse catalog` and by
// `viewpulse generate` for its synthetic catalog.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Kafka } from 'kafkajs';
import { ViewpulseError } from '../lib/errors.js';
import { AvroProducer } from '../lib/kafka/producer.js';
import type { RegistryClient } from '../lib/kafka/registry.js';
import { videoSchema } from '../schemas/avro.js';
import type { Video } from '../schemas/types.js';

export const DEFAULT_CATEGORY = 'uncategorized';
export const MAX_DURATION_MS = 30 * 86_400_000;
const FIELDS = ['video_id', 'creator_id', 'title', 'duration_ms', 'published_at', 'category'] as const;
const ID = /^[^\s\p{Cc}]{1,200}$/u;

export type Validation = { ok: true; video: Video } | { ok: false; errors: string[] };

/** An epoch-ms integer, or an ISO 8601 date-time string; an error message otherwise. */
export function parsePublishedAt(v: unknown): number | { error: string } {
  if (typeof v === 'number') {
    return Number.isSafeInteger(v) && v >= 0 ? v : { error: 'published_at: expected epoch milliseconds (integer ≥ 0)' };
  }
  if (typeof v === 'string') {
    const s = v.trim();
    if (/^\d+$/.test(s)) return parsePublishedAt(Number(s));
    const t = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?(Z|[+-]\d{2}:?\d{2})?$/.test(s)
      ? Date.parse(s)
      : NaN;
    if (Number.isNaN(t) || t < 0)
      return { error: `published_at: expected an ISO 8601 date-time or epoch ms, got "${v}"` };
    return t;
  }
  return { error: 'published_at: expected an ISO 8601 date-time string or epoch milliseconds' };
}

/**
 * Checks one catalog entry (a Video as JSON, snake_case). published_at may be epoch ms or
 * ISO 8601 and defaults to `now`; category defaults to "uncategorized". Unknown fields are
 * errors, so a misspelt field does not silently fall back to a default.
 */
export function validateVideo(input: unknown, now: number = Date.now()): Validation {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return { ok: false, errors: ['expected a JSON object'] };
  }
  const o = input as Record<string, unknown>;
  const errors: string[] = [];
  for (const key of Object.keys(o)) {
    if (!(FIELDS as readonly string[]).includes(key))
      errors.push(`unknown field "${key}" (fields: ${FIELDS.join(', ')})`);
  }
  const id = (name: 'video_id' | 'creator_id'): string => {
    const v = o[name];
    if (typeof v !== 'string' || !ID.test(v)) {
      errors.push(`${name}: expected 1..200 characters without spaces or control characters`);
      return '';
    }
    return v;
  };
  const video_id = id('video_id');
  const creator_id = id('creator_id');
  let title = '';
  if (typeof o.title !== 'string' || o.title.trim() === '' || o.title.length > 500) {
    errors.push('title: expected a non-empty string of at most 500 characters');
  } else title = o.title;
  let duration_ms = 0;
  if (typeof o.duration_ms !== 'number' || !Number.isSafeInteger(o.duration_ms) || o.duration_ms < 1) {
    errors.push('duration_ms: expected a positive integer (milliseconds)');
  } else if (o.duration_ms > MAX_DURATION_MS) {
    errors.push(`duration_ms: at most ${MAX_DURATION_MS} (30 days)`);
  } else duration_ms = o.duration_ms;
  let published_at = now;
  if (o.published_at !== undefined) {
    const p = parsePublishedAt(o.published_at);
    if (typeof p === 'number') published_at = p;
    else errors.push(p.error);
  }
  let category = DEFAULT_CATEGORY;
  if (o.category !== undefined) {
    if (typeof o.category !== 'string' || o.category.trim() === '' || o.category.length > 100) {
      errors.push('category: expected a non-empty string of at most 100 characters');
    } else category = o.category;
  }
  if (errors.length) return { ok: false, errors };
  return { ok: true, video: { video_id, creator_id, title, duration_ms, published_at, category } };
}

export interface LineProblem {
  line: number;
  message: string;
}

export interface CatalogLine {
  line: number;
  result: Validation;
}

/** Reads a JSON-lines catalog file: one Video object per line; blank lines are skipped. */
export async function* readCatalogFile(path: string, now: number = Date.now()): AsyncGenerator<CatalogLine> {
  const lines = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  let n = 0;
  for await (const text of lines) {
    n++;
    if (text.trim() === '') continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      yield { line: n, result: { ok: false, errors: [`not valid JSON: ${(err as Error).message}`] } };
      continue;
    }
    yield { line: n, result: validateVideo(parsed, now) };
  }
}

export interface FileCheck {
  videos: number;
  /** video_ids that appear more than once (the last line wins in the compacted topic). */
  repeated: number;
  problems: LineProblem[];
}

/** Validates a whole file without publishing anything. */
export async function checkCatalogFile(path: string, now: number = Date.now()): Promise<FileCheck> {
  const ids = new Set<string>();
  let videos = 0;
  let repeated = 0;
  const problems: LineProblem[] = [];
  for await (const { line, result } of readCatalogFile(path, now)) {
    if (!result.ok) {
      for (const message of result.errors) problems.push({ line, message });
      continue;
    }
    videos++;
    if (ids.has(result.video.video_id)) repeated++;
    else ids.add(result.video.video_id);
  }
  return { videos, repeated, problems };
}

export class CatalogPublisher {
  private readonly producer: AvroProducer<Video>;

  constructor(
    private readonly kafka: Kafka,
    registry: RegistryClient,
    readonly topic: string,
  ) {
    this.producer = new AvroProducer<Video>(kafka, registry, {
      topic,
      schema: videoSchema(),
      key: (v) => v.video_id,
    });
  }

  /** Connects, after checking the topic exists (kafkajs would otherwise retry for a long time). */
  async connect(): Promise<void> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const existing = await admin.listTopics();
      if (!existing.includes(this.topic)) {
        throw new ViewpulseError(
          'VP_ERR_KAFKA',
          `topic ${this.topic} does not exist (create it with: npx viewpulse migrate)`,
          {
            topic: this.topic,
          },
        );
      }
    } finally {
      await admin.disconnect();
    }
    await this.producer.connect();
  }

  /** Publishes (creates or replaces) videos; resolves once Kafka acknowledged them all. */
  async put(videos: readonly Video[], chunk = 1000): Promise<void> {
    for (let i = 0; i < videos.length; i += chunk) await this.producer.send(videos.slice(i, i + chunk));
  }

  /** Deletes videos: one tombstone (null value) per video_id. */
  async delete(videoIds: readonly string[]): Promise<void> {
    for (const id of videoIds) await this.producer.tombstone(id);
  }

  async disconnect(): Promise<void> {
    await this.producer.disconnect();
  }
}

/** Validates the whole file first (nothing is published if any line is bad), then publishes it. */
export async function importCatalogFile(
  path: string,
  publisher: CatalogPublisher,
  options: { now?: number; chunk?: number; onProgress?: (published: number) => void } = {},
): Promise<FileCheck & { published: number }> {
  const now = options.now ?? Date.now();
  const check = await checkCatalogFile(path, now);
  if (check.problems.length > 0) return { ...check, published: 0 };
  const chunk = options.chunk ?? 1000;
  let batch: Video[] = [];
  let published = 0;
  for await (const { result } of readCatalogFile(path, now)) {
    if (!result.ok) continue;
    batch.push(result.video);
    if (batch.length >= chunk) {
      await publisher.put(batch);
      published += batch.length;
      batch = [];
      options.onProgress?.(published);
    }
  }
  if (batch.length) {
    await publisher.put(batch);
    published += batch.length;
    options.onProgress?.(published);
  }
  return { ...check, published };
}
